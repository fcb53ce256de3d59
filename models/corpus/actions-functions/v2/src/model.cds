namespace c.act;
using { c.act as db } from './model';
entity Books { key ID : Integer; title : String(100); stock : Integer; price : Decimal(10,2); }
service S {
  entity Books as projection on db.Books actions {
    action order(quantity : Integer) returns Books;
    function stockValue() returns Decimal(10,2);
  };
  action submitOrder(book : Integer, quantity : Integer) returns { stock : Integer };
  function countBooks() returns Integer;
  function booksBy(author : String) returns many Books;
}
