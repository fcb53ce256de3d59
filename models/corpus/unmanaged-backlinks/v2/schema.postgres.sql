CREATE TABLE c_unm_Authors (
  ID INTEGER NOT NULL,
  name VARCHAR(100),
  PRIMARY KEY(ID)
);

CREATE TABLE c_unm_Books (
  ID INTEGER NOT NULL,
  title VARCHAR(100),
  authorID INTEGER,
  isLatest BOOLEAN,
  PRIMARY KEY(ID)
);

CREATE VIEW c_unm_S_Authors AS SELECT
  Authors_0.ID,
  Authors_0.name
FROM c_unm_Authors AS Authors_0;

CREATE VIEW c_unm_S_Books AS SELECT
  Books_0.ID,
  Books_0.title,
  Books_0.authorID,
  Books_0.isLatest
FROM c_unm_Books AS Books_0;
