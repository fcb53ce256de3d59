namespace c.app;
using { c.app as db } from './model';
using { cuid, managed, Currency, sap.common.CodeList } from '@sap/cds/common';
entity Customers : cuid, managed { name : String(100); email : String(200); orders : Association to many Orders on orders.customer = $self; }
entity Products : cuid { title : localized String(100); price : Decimal(10,2); currency : Currency; }
entity OrderStatus : CodeList { key code : String(1); }
entity Orders : cuid, managed {
  customer : Association to Customers;
  status : Association to OrderStatus;
  items : Composition of many { key pos : Integer; product : Association to Products; quantity : Integer; };
}
service OrderService {
  @cds.redirection.target entity Orders as projection on db.Orders { *, customer.name as customerName };
  entity Customers as projection on db.Customers;
  @readonly entity Products as projection on db.Products;
  entity Revenue as select from db.Orders { key customer.ID as customerID, count(ID) as orders : Integer } group by customer.ID;
}
