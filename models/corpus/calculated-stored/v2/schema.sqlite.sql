CREATE TABLE c_calc2_People (
  ID INTEGER NOT NULL,
  firstName NVARCHAR(50),
  lastName NVARCHAR(50),
  age INTEGER,
  fullName NVARCHAR(101) GENERATED ALWAYS AS (firstName || ' ' || lastName) STORED,
  PRIMARY KEY(ID)
);

CREATE VIEW c_calc2_S_People AS SELECT
  People_0.ID,
  People_0.firstName,
  People_0.lastName,
  People_0.fullName,
  People_0.age
FROM c_calc2_People AS People_0;
