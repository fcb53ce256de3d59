namespace c.jour;
using { c.jour as db } from './model';
@cds.persistence.journal entity Logs { key ID : Integer; message : String(200); }
service S { entity Logs as projection on db.Logs; }
