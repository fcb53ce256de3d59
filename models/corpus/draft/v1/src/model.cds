namespace c.draft;
using { c.draft as db } from './model';
using { cuid, managed } from '@sap/cds/common';
entity Travels : cuid, managed { title : String(100); budget : Decimal(10,2); }
service S { @odata.draft.enabled entity Travels as projection on db.Travels; }
