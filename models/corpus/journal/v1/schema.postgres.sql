CREATE TABLE c_jour_Logs (
  ID INTEGER NOT NULL,
  message VARCHAR(200),
  PRIMARY KEY(ID)
);

CREATE VIEW c_jour_S_Logs AS SELECT
  Logs_0.ID,
  Logs_0.message
FROM c_jour_Logs AS Logs_0;
