CREATE TABLE c_mng_Notes (
  ID VARCHAR(36) NOT NULL,
  createdAt TIMESTAMP,
  createdBy VARCHAR(255),
  modifiedAt TIMESTAMP,
  modifiedBy VARCHAR(255),
  text TEXT,
  pinned BOOLEAN DEFAULT FALSE,
  PRIMARY KEY(ID)
);

CREATE TABLE c_mng_Tags (
  ID VARCHAR(36) NOT NULL,
  name VARCHAR(30),
  note_ID VARCHAR(36),
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
