CREATE TABLE c_temp_WorkAssignments (
  validFrom TIMESTAMP NOT NULL,
  validTo TIMESTAMP,
  ID VARCHAR(36) NOT NULL,
  role VARCHAR(50),
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
WHERE (WorkAssignments_0.validFrom < current_setting('cap.valid_to')::timestamp AND WorkAssignments_0.validTo > current_setting('cap.valid_from')::timestamp);
