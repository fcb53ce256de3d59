CREATE TABLE c_multi_Books (
  ID INTEGER NOT NULL,
  title NVARCHAR(100),
  price REAL_DECIMAL(9, 2),
  secret NVARCHAR(50),
  stock INTEGER,
  PRIMARY KEY(ID)
);

CREATE VIEW c_multi_CatalogService_Books AS SELECT
  Books_0.ID,
  Books_0.title,
  Books_0.price,
  Books_0.stock
FROM c_multi_Books AS Books_0;

CREATE VIEW c_multi_AdminService_Books AS SELECT
  Books_0.ID,
  Books_0.title,
  Books_0.price,
  Books_0.secret,
  Books_0.stock
FROM c_multi_Books AS Books_0;

CREATE VIEW c_multi_ReportService_Stock AS SELECT
  Books_0.ID,
  Books_0.stock
FROM c_multi_Books AS Books_0;
