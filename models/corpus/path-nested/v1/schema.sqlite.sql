CREATE TABLE c_p3_Reviews (
  ID INTEGER NOT NULL,
  book_ID INTEGER,
  text NVARCHAR(500),
  PRIMARY KEY(ID)
);

CREATE TABLE c_p3_Books (
  ID INTEGER NOT NULL,
  title NVARCHAR(100),
  author_ID INTEGER,
  PRIMARY KEY(ID)
);

CREATE TABLE c_p3_Authors (
  ID INTEGER NOT NULL,
  name NVARCHAR(100),
  country_code NVARCHAR(3),
  PRIMARY KEY(ID)
);

CREATE TABLE c_p3_Countries (
  code NVARCHAR(3) NOT NULL,
  name NVARCHAR(60),
  PRIMARY KEY(code)
);

CREATE VIEW c_p3_S_ReviewList AS SELECT
  Reviews_0.ID,
  Reviews_0.text,
  book_1.title AS bookTitle,
  author_2.name AS authorName,
  country_3.name AS countryName
FROM (((c_p3_Reviews AS Reviews_0 LEFT JOIN c_p3_Books AS book_1 ON Reviews_0.book_ID = book_1.ID) LEFT JOIN c_p3_Authors AS author_2 ON book_1.author_ID = author_2.ID) LEFT JOIN c_p3_Countries AS country_3 ON author_2.country_code = country_3.code);
