CREATE TABLE c_vov_A (
  ID INTEGER NOT NULL,
  name VARCHAR(50),
  kind VARCHAR(1),
  PRIMARY KEY(ID)
);

CREATE TABLE c_vov_B (
  ID INTEGER NOT NULL,
  name VARCHAR(50),
  PRIMARY KEY(ID)
);

CREATE VIEW c_vov_AllNames AS SELECT
  A_0.ID,
  A_0.name
FROM c_vov_A AS A_0
UNION ALL SELECT
  B_1.ID,
  B_1.name
FROM c_vov_B AS B_1;

CREATE VIEW c_vov_Pairs AS SELECT
  A_0.ID,
  A_0.name AS aName,
  B_1.name AS bName,
  A_0.kind
FROM (c_vov_A AS A_0 INNER JOIN c_vov_B AS B_1 ON A_0.ID = B_1.ID);

CREATE VIEW c_vov_S_AllNames AS SELECT
  AllNames_0.ID,
  AllNames_0.name
FROM c_vov_AllNames AS AllNames_0;

CREATE VIEW c_vov_S_Pairs AS SELECT
  Pairs_0.ID,
  Pairs_0.aName,
  Pairs_0.bName,
  Pairs_0.kind
FROM c_vov_Pairs AS Pairs_0;

CREATE VIEW c_vov_LongNames AS SELECT
  AllNames_0.ID,
  AllNames_0.name
FROM c_vov_AllNames AS AllNames_0
WHERE length(AllNames_0.name) > 10;

CREATE VIEW c_vov_S_LongNames AS SELECT
  LongNames_0.ID,
  LongNames_0.name
FROM c_vov_LongNames AS LongNames_0;
