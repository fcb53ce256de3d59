namespace c.pers;
using { c.pers as db } from './model';
entity Real { key ID : Integer; name : String(50); }
@cds.persistence.skip entity Skipped { key ID : Integer; }
@cds.persistence.exists entity Existing { key ID : Integer; name : String(50); }
@cds.persistence.table entity AsTable as projection on Real;
entity Plain as projection on Real;
service S { entity Real as projection on db.Real; entity Existing as projection on db.Existing; entity AsTable as projection on db.AsTable; }
