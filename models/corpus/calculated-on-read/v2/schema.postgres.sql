CREATE TABLE c_calc1_Items (
  ID INTEGER NOT NULL,
  price DECIMAL(10, 2),
  qty INTEGER,
  discount DECIMAL(4, 2) DEFAULT 0,
  PRIMARY KEY(ID)
);

CREATE VIEW c_calc1_S_Items AS SELECT
  Items_0.ID,
  Items_0.price,
  Items_0.qty,
  Items_0.discount,
  Items_0.price * Items_0.qty AS total,
  Items_0.price * Items_0.qty - Items_0.discount AS net,
  'Item ' || Items_0.ID AS label
FROM c_calc1_Items AS Items_0;
