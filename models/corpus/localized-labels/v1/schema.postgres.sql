CREATE TABLE c_lbl_Books (
  ID INTEGER NOT NULL,
  title VARCHAR(100),
  stock INTEGER,
  PRIMARY KEY(ID)
);

CREATE VIEW c_lbl_S_Books AS SELECT
  Books_0.ID,
  Books_0.title,
  Books_0.stock
FROM c_lbl_Books AS Books_0;
