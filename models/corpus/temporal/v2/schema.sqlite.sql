CREATE TABLE c_temp_WorkAssignments (
  validFrom TIMESTAMP_TEXT NOT NULL,
  validTo TIMESTAMP_TEXT,
  ID NVARCHAR(36) NOT NULL,
  role NVARCHAR(50),
  percent INTEGER,
  PRIMARY KEY(validFrom, ID)
);

CREATE VIEW c_temp_S_WorkAssignments AS SELECT
  WorkAssignments_0.validFrom,
  WorkAssignments_0.validTo,
  WorkAssignments_0.ID,
  WorkAssignments_0.role,
  WorkAssignments_0.percent
FROM c_temp_WorkAssignments AS WorkAssignments_0
WHERE (WorkAssignments_0.validFrom < session_context( '$valid.to' ) AND WorkAssignments_0.validTo > session_context( '$valid.from' ));
