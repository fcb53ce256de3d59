namespace c.mng;
using { c.mng as db } from './model';
using { cuid, managed } from '@sap/cds/common';
entity Notes : cuid, managed { text : LargeString; pinned : Boolean default false; }
entity Tags : cuid { name : String(30); note : Association to Notes; }
service S { entity Notes as projection on db.Notes; entity Tags as projection on db.Tags; }
