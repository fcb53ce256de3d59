namespace c.calc2;
using { c.calc2 as db } from './model';
entity People { key ID : Integer; firstName : String(50); lastName : String(50); fullName : String(101) = (firstName || ' ' || lastName) stored; }
service S { entity People as projection on db.People; }
