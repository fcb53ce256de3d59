CREATE TABLE c_calc1_Items (
  ID INTEGER NOT NULL,
  price REAL_DECIMAL(10, 2),
  qty INTEGER,
  PRIMARY KEY(ID)
);

CREATE VIEW c_calc1_S_Items AS SELECT
  Items_0.ID,
  Items_0.price,
  Items_0.qty,
  Items_0.price * Items_0.qty AS total,
  'Item ' || Items_0.ID AS label
FROM c_calc1_Items AS Items_0;
