namespace c.redir;
entity Authors { key ID : Integer; name : String(100); books : Association to many Books on books.author = $self; }
entity Books { key ID : Integer; title : String(100); author : Association to Authors; }
service S {
  entity Writers as projection on Authors { *, books : redirected to Novels };
  entity Novels as projection on Books { *, author : redirected to Writers };
}
