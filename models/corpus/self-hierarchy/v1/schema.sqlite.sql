CREATE TABLE c_tree_Nodes (
  ID INTEGER NOT NULL,
  name NVARCHAR(50),
  parent_ID INTEGER,
  PRIMARY KEY(ID)
);

CREATE VIEW c_tree_S_Nodes AS SELECT
  Nodes_0.ID,
  Nodes_0.name,
  Nodes_0.parent_ID
FROM c_tree_Nodes AS Nodes_0;
