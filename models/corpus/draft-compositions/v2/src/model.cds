namespace c.draft2;
using { c.draft2 as db } from './model';
using { cuid, managed } from '@sap/cds/common';
entity Projects : cuid, managed { name : localized String(100); tasks : Composition of many Tasks on tasks.project = $self; }
entity Tasks : cuid { project : Association to Projects; title : String(100); done : Boolean default false; effort : Integer; }
service S { @odata.draft.enabled entity Projects as projection on db.Projects; }
