namespace c.arr;
using { c.arr as db } from './model';
type Phone { kind : String(10); number : String(30); }
entity Contacts { key ID : Integer; name : String(100); emails : many String; phones : many Phone; }
service S { entity Contacts as projection on db.Contacts; }
