CREATE TABLE c_cast_Measures (
  ID INTEGER NOT NULL,
  value DECIMAL(10, 3),
  unit VARCHAR(5),
  note VARCHAR(200),
  PRIMARY KEY(ID)
);

CREATE VIEW c_cast_S_Formatted AS SELECT
  Measures_0.ID,
  CAST(Measures_0.value AS INTEGER) AS rounded,
  CAST(Measures_0.ID AS VARCHAR(10)) AS idText,
  CASE WHEN Measures_0.value > 100 THEN 'high' WHEN Measures_0.value > 10 THEN 'mid' ELSE 'low' END AS level,
  upper(Measures_0.unit) AS unitUpper,
  coalesce(Measures_0.note, '-') AS noteOrDash
FROM c_cast_Measures AS Measures_0;
