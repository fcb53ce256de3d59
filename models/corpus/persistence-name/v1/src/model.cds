namespace c.pname;
using { c.pname as db } from './model';
@cds.persistence.name: 'LEGACY_ITEMS'
entity Items { key ID : Integer; ![order] : Integer; ![group] : String(10); }
service S { entity Items as projection on db.Items; }
