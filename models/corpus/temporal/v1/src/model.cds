namespace c.temp;
using { c.temp as db } from './model';
using { temporal } from '@sap/cds/common';
entity WorkAssignments : temporal { key ID : UUID; role : String(50); }
service S { entity WorkAssignments as projection on db.WorkAssignments; }
