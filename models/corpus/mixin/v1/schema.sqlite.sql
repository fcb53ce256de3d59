CREATE TABLE c_mix_Customers (
  ID INTEGER NOT NULL,
  name NVARCHAR(100),
  PRIMARY KEY(ID)
);

CREATE TABLE c_mix_Orders (
  ID INTEGER NOT NULL,
  customerID INTEGER,
  PRIMARY KEY(ID)
);

CREATE VIEW c_mix_S_OrdersWithCustomer AS SELECT
  Orders_0.ID,
  Orders_0.customerID
FROM c_mix_Orders AS Orders_0;
