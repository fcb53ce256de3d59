namespace c.mng;
using { c.mng as db } from './model';
using { cuid, managed } from '@sap/cds/common';
entity Notes : cuid, managed { text : LargeString; }
service S { entity Notes as projection on db.Notes; }
