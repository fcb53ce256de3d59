CREATE TABLE c_enum_Tickets (
  ID INTEGER NOT NULL,
  status VARCHAR(10) DEFAULT 'open',
  priority INTEGER DEFAULT 2,
  PRIMARY KEY(ID)
);

CREATE VIEW c_enum_S_Tickets AS SELECT
  Tickets_0.ID,
  Tickets_0.status,
  Tickets_0.priority
FROM c_enum_Tickets AS Tickets_0;
