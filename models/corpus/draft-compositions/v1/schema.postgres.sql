CREATE TABLE c_draft2_Projects (
  ID VARCHAR(36) NOT NULL,
  createdAt TIMESTAMP,
  createdBy VARCHAR(255),
  modifiedAt TIMESTAMP,
  modifiedBy VARCHAR(255),
  name VARCHAR(100),
  PRIMARY KEY(ID)
);

CREATE TABLE c_draft2_Tasks (
  ID VARCHAR(36) NOT NULL,
  project_ID VARCHAR(36),
  title VARCHAR(100),
  done BOOLEAN DEFAULT FALSE,
  PRIMARY KEY(ID)
);

CREATE TABLE c_draft2_Projects_texts (
  locale VARCHAR(14) NOT NULL,
  ID VARCHAR(36) NOT NULL,
  name VARCHAR(100),
  PRIMARY KEY(locale, ID)
);

CREATE TABLE DRAFT_DraftAdministrativeData (
  DraftUUID VARCHAR(36) NOT NULL,
  CreationDateTime TIMESTAMP,
  CreatedByUser VARCHAR(256),
  CreatedByUserDescription VARCHAR(256),
  DraftIsCreatedByMe BOOLEAN,
  LastChangeDateTime TIMESTAMP,
  LastChangedByUser VARCHAR(256),
  LastChangedByUserDescription VARCHAR(256),
  InProcessByUser VARCHAR(256),
  InProcessByUserDescription VARCHAR(256),
  DraftIsProcessedByMe BOOLEAN,
  DraftMessages TEXT,
  PRIMARY KEY(DraftUUID)
);

CREATE TABLE c_draft2_S_Projects_drafts (
  ID VARCHAR(36) NOT NULL,
  createdAt TIMESTAMP NULL,
  createdBy VARCHAR(255) NULL,
  modifiedAt TIMESTAMP NULL,
  modifiedBy VARCHAR(255) NULL,
  name VARCHAR(100) NULL,
  IsActiveEntity BOOLEAN,
  HasActiveEntity BOOLEAN,
  HasDraftEntity BOOLEAN,
  DraftAdministrativeData_DraftUUID VARCHAR(36) NOT NULL,
  PRIMARY KEY(ID)
);

CREATE TABLE c_draft2_S_Tasks_drafts (
  ID VARCHAR(36) NOT NULL,
  project_ID VARCHAR(36) NULL,
  title VARCHAR(100) NULL,
  done BOOLEAN NULL DEFAULT FALSE,
  IsActiveEntity BOOLEAN,
  HasActiveEntity BOOLEAN,
  HasDraftEntity BOOLEAN,
  DraftAdministrativeData_DraftUUID VARCHAR(36) NOT NULL,
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
  Tasks_0.done
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
FROM (c_draft2_Projects AS L_0 LEFT JOIN c_draft2_Projects_texts AS localized_1 ON localized_1.ID = L_0.ID AND localized_1.locale = current_setting('cap.locale'));

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
