namespace c.comp;
using { c.comp as db } from './model';
entity Orders {
  key ID : UUID;
  title : localized String(100);
  note : String(200);
  items : Composition of many {
    key pos : Integer;
    label : localized String(100);
    qty : Integer;
    parts : Composition of many { key no : Integer; name : localized String(50); weight : Decimal(8,3); };
  };
}
service S { entity Orders as projection on db.Orders; }
