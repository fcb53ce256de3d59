CREATE TABLE c_act_Books (
  ID INTEGER NOT NULL,
  title NVARCHAR(100),
  stock INTEGER,
  price REAL_DECIMAL(10, 2),
  PRIMARY KEY(ID)
);

CREATE VIEW c_act_S_Books AS SELECT
  Books_0.ID,
  Books_0.title,
  Books_0.stock,
  Books_0.price
FROM c_act_Books AS Books_0;
