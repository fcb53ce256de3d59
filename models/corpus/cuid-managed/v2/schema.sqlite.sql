CREATE TABLE c_mng_Notes (
  ID NVARCHAR(36) NOT NULL,
  createdAt TIMESTAMP_TEXT,
  createdBy NVARCHAR(255),
  modifiedAt TIMESTAMP_TEXT,
  modifiedBy NVARCHAR(255),
  text NCLOB,
  pinned BOOLEAN DEFAULT FALSE,
  PRIMARY KEY(ID)
);

CREATE TABLE c_mng_Tags (
  ID NVARCHAR(36) NOT NULL,
  name NVARCHAR(30),
  note_ID NVARCHAR(36),
  PRIMARY KEY(ID)
);

CREATE VIEW c_mng_S_Notes AS SELECT
  Notes_0.ID,
  Notes_0.createdAt,
  Notes_0.createdBy,
  Notes_0.modifiedAt,
  Notes_0.modifiedBy,
  Notes_0.text,
  Notes_0.pinned
FROM c_mng_Notes AS Notes_0;

CREATE VIEW c_mng_S_Tags AS SELECT
  Tags_0.ID,
  Tags_0.name,
  Tags_0.note_ID
FROM c_mng_Tags AS Tags_0;
