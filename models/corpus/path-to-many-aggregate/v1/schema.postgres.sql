CREATE TABLE c_p2_Orders (
  ID INTEGER NOT NULL,
  customer VARCHAR(50),
  PRIMARY KEY(ID)
);

CREATE TABLE c_p2_Items (
  ID INTEGER NOT NULL,
  order_ID INTEGER,
  amount DECIMAL(10, 2),
  PRIMARY KEY(ID)
);

CREATE VIEW c_p2_S_OrderStats AS SELECT
  Orders_0.ID,
  Orders_0.customer,
  count(items_1.ID) AS itemCount
FROM (c_p2_Orders AS Orders_0 LEFT JOIN c_p2_Items AS items_1 ON items_1.order_ID = Orders_0.ID)
GROUP BY Orders_0.ID, Orders_0.customer;
