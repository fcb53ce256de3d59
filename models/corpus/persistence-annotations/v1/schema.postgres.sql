CREATE TABLE c_pers_Real (
  ID INTEGER NOT NULL,
  name VARCHAR(50),
  PRIMARY KEY(ID)
);

CREATE TABLE c_pers_AsTable (
  ID INTEGER NOT NULL,
  name VARCHAR(50),
  PRIMARY KEY(ID)
);

CREATE VIEW c_pers_S_Real AS SELECT
  Real_0.ID,
  Real_0.name
FROM c_pers_Real AS Real_0;

CREATE VIEW c_pers_S_Existing AS SELECT
  Existing_0.ID,
  Existing_0.name
FROM c_pers_Existing AS Existing_0;

CREATE VIEW c_pers_S_AsTable AS SELECT
  AsTable_0.ID,
  AsTable_0.name
FROM c_pers_AsTable AS AsTable_0;

CREATE VIEW c_pers_Plain AS SELECT
  Real_0.ID,
  Real_0.name
FROM c_pers_Real AS Real_0;
