namespace c.calc1;
using { c.calc1 as db } from './model';
entity Items { key ID : Integer; price : Decimal(10,2); qty : Integer; total : Decimal(12,2) = price * qty; label : String(20) = 'Item ' || ID; }
service S { entity Items as projection on db.Items; }
