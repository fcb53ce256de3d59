namespace c.p3;
entity Countries { key code : String(3); name : String(60); }
entity Authors { key ID : Integer; name : String(100); country : Association to Countries; }
entity Books { key ID : Integer; title : String(100); author : Association to Authors; }
entity Reviews { key ID : Integer; book : Association to Books; text : String(500); }
service S {
  entity ReviewList as projection on Reviews { ID, text, book.title as bookTitle, book.author.name as authorName, book.author.country.name as countryName };
}
