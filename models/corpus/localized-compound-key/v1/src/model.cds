namespace c.loc2;
using { c.loc2 as db } from './model';
entity Products { key company : String(4); key code : String(20); name : localized String(100); descr : localized String(1000); }
service S { entity Products as projection on db.Products; }
