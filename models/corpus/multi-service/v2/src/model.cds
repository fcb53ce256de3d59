namespace c.multi;
using { c.multi as db } from './model';
entity Books { key ID : Integer; title : String(100); price : Decimal(9,2); secret : String(50); stock : Integer; }
service CatalogService { @readonly entity Books as projection on db.Books excluding { secret }; }
service AdminService { entity Books as projection on db.Books; }
service ReportService { entity Stock as select from db.Books { ID, stock }; }
