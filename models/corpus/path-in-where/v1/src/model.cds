namespace c.p4;
entity Authors { key ID : Integer; name : String(100); active : Boolean; }
entity Books { key ID : Integer; title : String(100); author : Association to Authors; }
service S {
  entity ActiveBooks as select from Books { ID, title } where author.active = true;
  entity NamedBooks as select from Books { ID, title } where exists author[name = 'Poe'];
}
