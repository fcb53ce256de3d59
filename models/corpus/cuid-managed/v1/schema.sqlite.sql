CREATE TABLE c_mng_Notes (
  ID NVARCHAR(36) NOT NULL,
  createdAt TIMESTAMP_TEXT,
  createdBy NVARCHAR(255),
  modifiedAt TIMESTAMP_TEXT,
  modifiedBy NVARCHAR(255),
  text NCLOB,
  PRIMARY KEY(ID)
);

CREATE VIEW c_mng_S_Notes AS SELECT
  Notes_0.ID,
  Notes_0.createdAt,
  Notes_0.createdBy,
  Notes_0.modifiedAt,
  Notes_0.modifiedBy,
  Notes_0.text
FROM c_mng_Notes AS Notes_0;
