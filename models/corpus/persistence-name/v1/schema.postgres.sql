CREATE TABLE c_pname_Items (
  ID INTEGER NOT NULL,
  "order" INTEGER,
  "group" VARCHAR(10),
  PRIMARY KEY(ID)
);

CREATE VIEW c_pname_S_Items AS SELECT
  Items_0.ID,
  Items_0."order",
  Items_0."group"
FROM c_pname_Items AS Items_0;
