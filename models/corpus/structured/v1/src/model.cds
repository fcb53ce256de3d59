namespace c.struct;
using { c.struct as db } from './model';
type Geo { lat : Double; lon : Double; }
type Address { street : String(60); city : String(40); geo : Geo; }
type Key2 { region : String(4); number : Integer; }
entity Sites { key id : Key2; name : String(100); address : Address; billing : { same : Boolean default true; address : Address; }; }
service S { entity Sites as projection on db.Sites; }
