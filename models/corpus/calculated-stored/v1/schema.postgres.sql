CREATE TABLE c_calc2_People (
  ID INTEGER NOT NULL,
  firstName VARCHAR(50),
  lastName VARCHAR(50),
  fullName VARCHAR(101) GENERATED ALWAYS AS (firstName || ' ' || lastName) STORED,
  PRIMARY KEY(ID)
);

CREATE VIEW c_calc2_S_People AS SELECT
  People_0.ID,
  People_0.firstName,
  People_0.lastName,
  People_0.fullName
FROM c_calc2_People AS People_0;
