namespace c.widen;
using { c.widen as db } from './model';
entity Accounts { key ID : Integer; name : localized String(50); balance : Decimal(15,2); }
service S { entity Accounts as projection on db.Accounts; }
