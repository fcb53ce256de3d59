namespace c.calc1;
using { c.calc1 as db } from './model';
entity Items { key ID : Integer; price : Decimal(10,2); qty : Integer; discount : Decimal(4,2) default 0; total : Decimal(12,2) = price * qty; net : Decimal(12,2) = price * qty - discount; label : String(20) = 'Item ' || ID; }
service S { entity Items as projection on db.Items; }
