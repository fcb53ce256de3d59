CREATE TABLE c_p1_Books (
  ID INTEGER NOT NULL,
  title NVARCHAR(100),
  author_ID INTEGER,
  PRIMARY KEY(ID)
);

CREATE TABLE c_p1_Authors (
  ID INTEGER NOT NULL,
  name NVARCHAR(100),
  country NVARCHAR(3),
  PRIMARY KEY(ID)
);

CREATE VIEW c_p1_S_BookList AS SELECT
  Books_0.ID,
  Books_0.title,
  author_1.name AS authorName,
  author_1.country
FROM (c_p1_Books AS Books_0 LEFT JOIN c_p1_Authors AS author_1 ON Books_0.author_ID = author_1.ID);
