CREATE TABLE c_uniq_Users (
  ID INTEGER NOT NULL,
  email NVARCHAR(200),
  name NVARCHAR(100),
  region_ID INTEGER,
  PRIMARY KEY(ID),
  CONSTRAINT c_uniq_Users_email UNIQUE (email),
  CONSTRAINT c_uniq_Users_nameInRegion UNIQUE (name, region_ID)
);

CREATE TABLE c_uniq_Regions (
  ID INTEGER NOT NULL,
  name NVARCHAR(50),
  PRIMARY KEY(ID)
);

CREATE VIEW c_uniq_S_Users AS SELECT
  Users_0.ID,
  Users_0.email,
  Users_0.name,
  Users_0.region_ID
FROM c_uniq_Users AS Users_0;
