CREATE TABLE c_excl_Users (
  ID NVARCHAR(36) NOT NULL,
  createdAt TIMESTAMP_TEXT,
  createdBy NVARCHAR(255),
  modifiedAt TIMESTAMP_TEXT,
  modifiedBy NVARCHAR(255),
  name NVARCHAR(100),
  password NVARCHAR(100),
  email NVARCHAR(200),
  phone NVARCHAR(30),
  PRIMARY KEY(ID)
);

CREATE VIEW c_excl_S_PublicUsers AS SELECT
  Users_0.ID,
  Users_0.createdAt,
  Users_0.modifiedAt,
  Users_0.name,
  Users_0.email,
  Users_0.phone
FROM c_excl_Users AS Users_0;

CREATE VIEW c_excl_S_Emails AS SELECT
  Users_0.ID,
  Users_0.email AS address
FROM c_excl_Users AS Users_0;
