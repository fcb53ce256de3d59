CREATE TABLE c_uniq_Users (
  ID INTEGER NOT NULL,
  email VARCHAR(200),
  name VARCHAR(100),
  login VARCHAR(50),
  region_ID INTEGER,
  PRIMARY KEY(ID),
  CONSTRAINT c_uniq_Users_email UNIQUE (email),
  CONSTRAINT c_uniq_Users_nameInRegion UNIQUE (name, region_ID),
  CONSTRAINT c_uniq_Users_login UNIQUE (login)
);

CREATE TABLE c_uniq_Regions (
  ID INTEGER NOT NULL,
  name VARCHAR(50),
  PRIMARY KEY(ID)
);

CREATE VIEW c_uniq_S_Users AS SELECT
  Users_0.ID,
  Users_0.email,
  Users_0.name,
  Users_0.login,
  Users_0.region_ID
FROM c_uniq_Users AS Users_0;
