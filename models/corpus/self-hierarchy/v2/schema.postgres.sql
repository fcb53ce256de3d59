CREATE TABLE c_tree_Nodes (
  ID INTEGER NOT NULL,
  name VARCHAR(50),
  level INTEGER,
  parent_ID INTEGER,
  PRIMARY KEY(ID)
);

CREATE VIEW c_tree_S_Nodes AS SELECT
  Nodes_0.ID,
  Nodes_0.name,
  Nodes_0.level,
  Nodes_0.parent_ID
FROM c_tree_Nodes AS Nodes_0;

CREATE VIEW c_tree_S_Roots AS SELECT
  Nodes_0.ID,
  Nodes_0.name,
  Nodes_0.level,
  Nodes_0.parent_ID
FROM c_tree_Nodes AS Nodes_0
WHERE Nodes_0.parent_ID IS NULL;
