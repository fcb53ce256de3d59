namespace c.unm;
using { c.unm as db } from './model';
entity Authors { key ID : Integer; name : String(100); books : Association to many Books on books.authorID = ID; latest : Association to one Books on latest.authorID = ID and latest.isLatest = true; }
entity Books { key ID : Integer; title : String(100); authorID : Integer; isLatest : Boolean; author : Association to Authors on author.ID = authorID; }
service S { entity Authors as projection on db.Authors; entity Books as projection on db.Books; }
