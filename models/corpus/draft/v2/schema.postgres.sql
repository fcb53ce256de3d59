CREATE TABLE c_draft_Travels (
  ID VARCHAR(36) NOT NULL,
  createdAt TIMESTAMP,
  createdBy VARCHAR(255),
  modifiedAt TIMESTAMP,
  modifiedBy VARCHAR(255),
  title VARCHAR(100),
  budget DECIMAL(10, 2),
  status VARCHAR(1),
  PRIMARY KEY(ID)
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

CREATE TABLE c_draft_S_Travels_drafts (
  ID VARCHAR(36) NOT NULL,
  createdAt TIMESTAMP NULL,
  createdBy VARCHAR(255) NULL,
  modifiedAt TIMESTAMP NULL,
  modifiedBy VARCHAR(255) NULL,
  title VARCHAR(100) NULL,
  budget DECIMAL(10, 2) NULL,
  status VARCHAR(1) NULL,
  IsActiveEntity BOOLEAN,
  HasActiveEntity BOOLEAN,
  HasDraftEntity BOOLEAN,
  DraftAdministrativeData_DraftUUID VARCHAR(36) NOT NULL,
  PRIMARY KEY(ID)
);

CREATE VIEW c_draft_S_Travels AS SELECT
  Travels_0.ID,
  Travels_0.createdAt,
  Travels_0.createdBy,
  Travels_0.modifiedAt,
  Travels_0.modifiedBy,
  Travels_0.title,
  Travels_0.budget,
  Travels_0.status
FROM c_draft_Travels AS Travels_0;

CREATE VIEW c_draft_S_DraftAdministrativeData AS SELECT
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
