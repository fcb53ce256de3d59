namespace c.vov;
using { c.vov as db } from './model';
entity A { key ID : Integer; name : String(50); kind : String(1); }
entity B { key ID : Integer; name : String(50); }
view AllNames as select from A { ID, name } union all select from B { ID, name };
view Pairs as select from A join B on A.ID = B.ID { key A.ID, A.name as aName, B.name as bName, A.kind };
view LongNames as select from AllNames { ID, name } where length(name) > 10;
service S { entity AllNames as projection on db.AllNames; entity Pairs as projection on db.Pairs; entity LongNames as projection on db.LongNames; }
