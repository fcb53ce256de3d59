namespace c.defs;
using { c.defs as db } from './model';
entity Defaults {
  key ID : UUID;
  b : Boolean default true;
  i16 : Int16 default 7;
  u8 : UInt8 default 255;
  i32 : Integer default -3;
  i64 : Int64 default 9007199254740993;
  d : Decimal default 1.25;
  dp : Decimal(9,2) default 12.5;
  f : Double default 2.5e3;
  s : String(20) default 'x';
  ls : LargeString default 'long';
  dt : Date default '2024-02-29';
  t : Time default '12:34:56';
  ts : Timestamp default '2024-01-01T00:00:00Z';
  dtt : DateTime default '2024-01-01T10:00:00Z';
  bin : Binary(16);
  lbin : LargeBinary;
  now : Timestamp default $now;
}
service S { entity Defaults as projection on db.Defaults; }
