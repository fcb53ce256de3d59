CREATE TABLE c_mix_Customers (
  ID INTEGER NOT NULL,
  name VARCHAR(100),
  PRIMARY KEY(ID)
);

CREATE TABLE c_mix_Orders (
  ID INTEGER NOT NULL,
  customerID INTEGER,
  total DECIMAL(10, 2),
  PRIMARY KEY(ID)
);

CREATE VIEW c_mix_S_OrdersWithCustomer AS SELECT
  Orders_0.ID,
  Orders_0.customerID,
  Orders_0.total
FROM c_mix_Orders AS Orders_0;
