CREATE TABLE c_p4_Books (
  ID INTEGER NOT NULL,
  title NVARCHAR(100),
  author_ID INTEGER,
  PRIMARY KEY(ID)
);

CREATE TABLE c_p4_Authors (
  ID INTEGER NOT NULL,
  name NVARCHAR(100),
  active BOOLEAN,
  PRIMARY KEY(ID)
);

CREATE VIEW c_p4_S_ActiveBooks AS SELECT
  Books_0.ID,
  Books_0.title
FROM (c_p4_Books AS Books_0 LEFT JOIN c_p4_Authors AS author_1 ON Books_0.author_ID = author_1.ID)
WHERE author_1.active = TRUE;

CREATE VIEW c_p4_S_NamedBooks AS SELECT
  Books_0.ID,
  Books_0.title
FROM c_p4_Books AS Books_0
WHERE EXISTS (SELECT
    1 AS dummy
  FROM c_p4_Authors AS _author_exists_1
  WHERE _author_exists_1.ID = Books_0.author_ID AND _author_exists_1.name = 'Poe');

CREATE VIEW c_p4_S_Prolific AS SELECT
  Authors_0.ID,
  Authors_0.name
FROM c_p4_Authors AS Authors_0
WHERE EXISTS (SELECT
    1 AS dummy
  FROM c_p4_Books AS _books_exists_1
  WHERE _books_exists_1.author_ID = Authors_0.ID);
