CREATE TABLE c_cast_Measures (
  ID INTEGER NOT NULL,
  value REAL_DECIMAL(10, 3),
  unit NVARCHAR(5),
  note NVARCHAR(200),
  takenAt TIMESTAMP_TEXT,
  PRIMARY KEY(ID)
);

CREATE VIEW c_cast_S_Formatted AS SELECT
  Measures_0.ID,
  Measures_0.takenAt,
  CAST(Measures_0.value AS INTEGER) AS rounded,
  CAST(Measures_0.ID AS NVARCHAR(10)) AS idText,
  CASE WHEN Measures_0.value > 100 THEN 'high' WHEN Measures_0.value > 10 THEN 'mid' ELSE 'low' END AS level,
  upper(Measures_0.unit) AS unitUpper,
  coalesce(Measures_0.note, '-') AS noteOrDash
FROM c_cast_Measures AS Measures_0;
