namespace c.akey;
using { c.akey as db } from './model';
entity Companies { key code : String(4); key year : Integer; name : String(100); }
entity Departments { key company : Association to Companies; key no : Integer; name : String(60); head : Association to Employees; }
entity Employees { key ID : Integer; dept : Association to Departments; name : String(100); }
service S { entity Departments as projection on db.Departments; entity Employees as projection on db.Employees; entity Companies as projection on db.Companies; }
