namespace c.p2;
entity Orders { key ID : Integer; customer : String(50); items : Composition of many Items on items.order = $self; }
entity Items { key ID : Integer; order : Association to Orders; amount : Decimal(10,2); }
service S {
  entity OrderStats as select from Orders { ID, customer, count(items.ID) as itemCount : Integer } group by ID, customer;
}
