namespace c.p1;
entity Authors { key ID : Integer; name : String(100); country : String(3); }
entity Books { key ID : Integer; title : String(100); author : Association to Authors; }
service S {
  entity BookList as projection on Books { ID, title, author.name as authorName, author.country };
}
