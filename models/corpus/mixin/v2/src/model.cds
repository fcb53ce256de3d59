namespace c.mix;
entity Orders { key ID : Integer; customerID : Integer; total : Decimal(10,2); }
entity Customers { key ID : Integer; name : String(100); }
service S {
  entity OrdersWithCustomer as select from Orders mixin { customer : Association to Customers on customer.ID = customerID; } into { ID, customerID, total, customer };
}
