namespace c.loc3;
using { c.loc3 as db } from './model';
using { Currency, Country, Language, sap.common.CodeList } from '@sap/cds/common';
entity Prices { key ID : Integer; amount : Decimal(15,2); currency : Currency; country : Country; lang : Language; }
entity Statuses : CodeList { key code : String(1); }
service S { entity Prices as projection on db.Prices; entity Statuses as projection on db.Statuses; }
