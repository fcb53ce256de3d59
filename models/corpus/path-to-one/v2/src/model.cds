namespace c.p1;
entity Authors { key ID : Integer; name : String(100); country : String(3); born : Date; }
entity Books { key ID : Integer; title : String(100); author : Association to Authors; stock : Integer; }
service S {
  entity BookList as projection on Books { ID, title, stock, author.name as authorName, author.country, author.born };
}
