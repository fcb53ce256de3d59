namespace c.lbl;
using { c.lbl as db } from './model';
@title: 'Book'
entity Books { key ID : Integer @title: 'Identifier'; title : String(100) @title: 'Title' @description: 'The title of the book'; @Core.Computed stock : Integer @readonly; }
service S { entity Books as projection on db.Books; }
