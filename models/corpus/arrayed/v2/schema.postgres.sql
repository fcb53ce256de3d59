CREATE TABLE c_arr_Contacts (
  ID INTEGER NOT NULL,
  name VARCHAR(100),
  emails TEXT,
  phones TEXT,
  tags TEXT,
  PRIMARY KEY(ID)
);

CREATE VIEW c_arr_S_Contacts AS SELECT
  Contacts_0.ID,
  Contacts_0.name,
  Contacts_0.emails,
  Contacts_0.phones,
  Contacts_0.tags
FROM c_arr_Contacts AS Contacts_0;
