CREATE TABLE c_excl_Users (
  ID VARCHAR(36) NOT NULL,
  createdAt TIMESTAMP,
  createdBy VARCHAR(255),
  modifiedAt TIMESTAMP,
  modifiedBy VARCHAR(255),
  name VARCHAR(100),
  password VARCHAR(100),
  email VARCHAR(200),
  PRIMARY KEY(ID)
);

CREATE VIEW c_excl_S_PublicUsers AS SELECT
  Users_0.ID,
  Users_0.createdAt,
  Users_0.modifiedAt,
  Users_0.name,
  Users_0.email
FROM c_excl_Users AS Users_0;
