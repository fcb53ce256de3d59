namespace c.enum;
using { c.enum as db } from './model';
type Status : String(10) enum { open; closed = 'CLOSED'; onHold = 'HOLD'; }
type Priority : Integer enum { low = 1; mid = 2; high = 3; }
entity Tickets { key ID : Integer; status : Status default #open; priority : Priority default 2; kind : String(1) enum { bug = 'B'; feature = 'F'; } default 'B'; }
service S { entity Tickets as projection on db.Tickets; }
