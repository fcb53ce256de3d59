CREATE TABLE c_redir_Authors (
  ID INTEGER NOT NULL,
  name VARCHAR(100),
  PRIMARY KEY(ID)
);

CREATE TABLE c_redir_Books (
  ID INTEGER NOT NULL,
  title VARCHAR(100),
  author_ID INTEGER,
  PRIMARY KEY(ID)
);

CREATE VIEW c_redir_S_Writers AS SELECT
  Authors_0.ID,
  Authors_0.name
FROM c_redir_Authors AS Authors_0;

CREATE VIEW c_redir_S_Novels AS SELECT
  Books_0.ID,
  Books_0.title,
  Books_0.author_ID
FROM c_redir_Books AS Books_0;
