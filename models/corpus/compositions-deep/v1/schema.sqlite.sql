CREATE TABLE c_comp_Orders (
  ID NVARCHAR(36) NOT NULL,
  title NVARCHAR(100),
  PRIMARY KEY(ID)
);

CREATE TABLE c_comp_Orders_items (
  up__ID NVARCHAR(36) NOT NULL,
  pos INTEGER NOT NULL,
  label NVARCHAR(100),
  PRIMARY KEY(up__ID, pos)
);

CREATE TABLE c_comp_Orders_items_parts (
  up__up__ID NVARCHAR(36) NOT NULL,
  up__pos INTEGER NOT NULL,
  "no" INTEGER NOT NULL,
  name NVARCHAR(50),
  PRIMARY KEY(up__up__ID, up__pos, "no")
);

CREATE TABLE c_comp_Orders_items_parts_texts (
  locale NVARCHAR(14) NOT NULL,
  up__up__ID NVARCHAR(36) NOT NULL,
  up__pos INTEGER NOT NULL,
  "no" INTEGER NOT NULL,
  name NVARCHAR(50),
  PRIMARY KEY(locale, up__up__ID, up__pos, "no")
);

CREATE TABLE c_comp_Orders_items_texts (
  locale NVARCHAR(14) NOT NULL,
  up__ID NVARCHAR(36) NOT NULL,
  pos INTEGER NOT NULL,
  label NVARCHAR(100),
  PRIMARY KEY(locale, up__ID, pos)
);

CREATE TABLE c_comp_Orders_texts (
  locale NVARCHAR(14) NOT NULL,
  ID NVARCHAR(36) NOT NULL,
  title NVARCHAR(100),
  PRIMARY KEY(locale, ID)
);

CREATE VIEW c_comp_S_Orders AS SELECT
  Orders_0.ID,
  Orders_0.title
FROM c_comp_Orders AS Orders_0;

CREATE VIEW c_comp_S_Orders_items AS SELECT
  items_0.up__ID,
  items_0.pos,
  items_0.label
FROM c_comp_Orders_items AS items_0;

CREATE VIEW c_comp_S_Orders_items_parts AS SELECT
  parts_0.up__up__ID,
  parts_0.up__pos,
  parts_0."no",
  parts_0.name
FROM c_comp_Orders_items_parts AS parts_0;

CREATE VIEW c_comp_S_Orders_items_parts_texts AS SELECT
  texts_0.locale,
  texts_0.up__up__ID,
  texts_0.up__pos,
  texts_0."no",
  texts_0.name
FROM c_comp_Orders_items_parts_texts AS texts_0;

CREATE VIEW c_comp_S_Orders_items_texts AS SELECT
  texts_0.locale,
  texts_0.up__ID,
  texts_0.pos,
  texts_0.label
FROM c_comp_Orders_items_texts AS texts_0;

CREATE VIEW c_comp_S_Orders_texts AS SELECT
  texts_0.locale,
  texts_0.ID,
  texts_0.title
FROM c_comp_Orders_texts AS texts_0;

CREATE VIEW localized_c_comp_Orders AS SELECT
  L_0.ID,
  coalesce(localized_1.title, L_0.title) AS title
FROM (c_comp_Orders AS L_0 LEFT JOIN c_comp_Orders_texts AS localized_1 ON localized_1.ID = L_0.ID AND localized_1.locale = session_context( '$user.locale' ));

CREATE VIEW localized_c_comp_Orders_items AS SELECT
  L_0.up__ID,
  L_0.pos,
  coalesce(localized_1.label, L_0.label) AS label
FROM (c_comp_Orders_items AS L_0 LEFT JOIN c_comp_Orders_items_texts AS localized_1 ON localized_1.up__ID = L_0.up__ID AND localized_1.pos = L_0.pos AND localized_1.locale = session_context( '$user.locale' ));

CREATE VIEW localized_c_comp_Orders_items_parts AS SELECT
  L_0.up__up__ID,
  L_0.up__pos,
  L_0."no",
  coalesce(localized_1.name, L_0.name) AS name
FROM (c_comp_Orders_items_parts AS L_0 LEFT JOIN c_comp_Orders_items_parts_texts AS localized_1 ON (localized_1.up__up__ID = L_0.up__up__ID AND localized_1.up__pos = L_0.up__pos) AND localized_1."no" = L_0."no" AND localized_1.locale = session_context( '$user.locale' ));

CREATE VIEW localized_c_comp_S_Orders AS SELECT
  Orders_0.ID,
  Orders_0.title
FROM localized_c_comp_Orders AS Orders_0;

CREATE VIEW localized_c_comp_S_Orders_items AS SELECT
  items_0.up__ID,
  items_0.pos,
  items_0.label
FROM localized_c_comp_Orders_items AS items_0;

CREATE VIEW localized_c_comp_S_Orders_items_parts AS SELECT
  parts_0.up__up__ID,
  parts_0.up__pos,
  parts_0."no",
  parts_0.name
FROM localized_c_comp_Orders_items_parts AS parts_0;
