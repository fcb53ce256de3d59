CREATE TABLE c_draft2_Projects (
  ID NVARCHAR(36) NOT NULL,
  createdAt TIMESTAMP_TEXT,
  createdBy NVARCHAR(255),
  modifiedAt TIMESTAMP_TEXT,
  modifiedBy NVARCHAR(255),
  name NVARCHAR(100),
  PRIMARY KEY(ID)
);

CREATE TABLE c_draft2_Tasks (
  ID NVARCHAR(36) NOT NULL,
  project_ID NVARCHAR(36),
  title NVARCHAR(100),
  done BOOLEAN DEFAULT FALSE,
  effort INTEGER,
  PRIMARY KEY(ID)
);

CREATE TABLE c_draft2_Projects_texts (
  locale NVARCHAR(14) NOT NULL,
  ID NVARCHAR(36) NOT NULL,
  name NVARCHAR(100),
  PRIMARY KEY(locale, ID)
);

CREATE TABLE DRAFT_DraftAdministrativeData (
  DraftUUID NVARCHAR(36) NOT NULL,
  CreationDateTime TIMESTAMP_TEXT,
  CreatedByUser NVARCHAR(256),
  CreatedByUserDescription NVARCHAR(256),
  DraftIsCreatedByMe BOOLEAN,
  LastChangeDateTime TIMESTAMP_TEXT,
  LastChangedByUser NVARCHAR(256),
  LastChangedByUserDescription NVARCHAR(256),
  InProcessByUser NVARCHAR(256),
  InProcessByUserDescription NVARCHAR(256),
  DraftIsProcessedByMe BOOLEAN,
  DraftMessages NCLOB,
  PRIMARY KEY(DraftUUID)
);

CREATE TABLE c_draft2_S_Projects_drafts (
  ID NVARCHAR(36) NOT NULL,
  createdAt TIMESTAMP_TEXT NULL,
  createdBy NVARCHAR(255) NULL,
  modifiedAt TIMESTAMP_TEXT NULL,
  modifiedBy NVARCHAR(255) NULL,
  name NVARCHAR(100) NULL,
  IsActiveEntity BOOLEAN,
  HasActiveEntity BOOLEAN,
  HasDraftEntity BOOLEAN,
  DraftAdministrativeData_DraftUUID NVARCHAR(36) NOT NULL,
  PRIMARY KEY(ID)
);

CREATE TABLE c_draft2_S_Tasks_drafts (
  ID NVARCHAR(36) NOT NULL,
  project_ID NVARCHAR(36) NULL,
  title NVARCHAR(100) NULL,
  done BOOLEAN NULL DEFAULT FALSE,
  effort INTEGER NULL,
  IsActiveEntity BOOLEAN,
  HasActiveEntity BOOLEAN,
  HasDraftEntity BOOLEAN,
  DraftAdministrativeData_DraftUUID NVARCHAR(36) NOT NULL,
  PRIMARY KEY(ID)
);

CREATE VIEW c_draft2_S_Projects AS SELECT
  Projects_0.ID,
  Projects_0.createdAt,
  Projects_0.createdBy,
  Projects_0.modifiedAt,
  Projects_0.modifiedBy,
  Projects_0.name
FROM c_draft2_Projects AS Projects_0;

CREATE VIEW c_draft2_S_Tasks AS SELECT
  Tasks_0.ID,
  Tasks_0.project_ID,
  Tasks_0.title,
  Tasks_0.done,
  Tasks_0.effort
FROM c_draft2_Tasks AS Tasks_0;

CREATE VIEW c_draft2_S_Projects_texts AS SELECT
  texts_0.locale,
  texts_0.ID,
  texts_0.name
FROM c_draft2_Projects_texts AS texts_0;

CREATE VIEW localized_c_draft2_Projects AS SELECT
  L_0.ID,
  L_0.createdAt,
  L_0.createdBy,
  L_0.modifiedAt,
  L_0.modifiedBy,
  coalesce(localized_1.name, L_0.name) AS name
FROM (c_draft2_Projects AS L_0 LEFT JOIN c_draft2_Projects_texts AS localized_1 ON localized_1.ID = L_0.ID AND localized_1.locale = session_context( '$user.locale' ));

CREATE VIEW c_draft2_S_DraftAdministrativeData AS SELECT
  DraftAdministrativeData.DraftUUID,
  DraftAdministrativeData.CreationDateTime,
  DraftAdministrativeData.CreatedByUser,
  DraftAdministrativeData.CreatedByUserDescription,
  DraftAdministrativeData.DraftIsCreatedByMe,
  DraftAdministrativeData.LastChangeDateTime,
  DraftAdministrativeData.LastChangedByUser,
  DraftAdministrativeData.LastChangedByUserDescription,
  DraftAdministrativeData.InProcessByUser,
  DraftAdministrativeData.InProcessByUserDescription,
  DraftAdministrativeData.DraftIsProcessedByMe,
  DraftAdministrativeData.DraftMessages
FROM DRAFT_DraftAdministrativeData AS DraftAdministrativeData;

CREATE VIEW localized_c_draft2_S_Projects AS SELECT
  Projects_0.ID,
  Projects_0.createdAt,
  Projects_0.createdBy,
  Projects_0.modifiedAt,
  Projects_0.modifiedBy,
  Projects_0.name
FROM localized_c_draft2_Projects AS Projects_0;
