CREATE TABLE c_loc2_Products (
  company VARCHAR(4) NOT NULL,
  code VARCHAR(20) NOT NULL,
  name VARCHAR(100),
  descr VARCHAR(1000),
  unit VARCHAR(3),
  PRIMARY KEY(company, code)
);

CREATE TABLE c_loc2_Products_texts (
  locale VARCHAR(14) NOT NULL,
  company VARCHAR(4) NOT NULL,
  code VARCHAR(20) NOT NULL,
  name VARCHAR(100),
  descr VARCHAR(1000),
  PRIMARY KEY(locale, company, code)
);

CREATE TABLE c_loc2_Units (
  code VARCHAR(3) NOT NULL,
  text VARCHAR(40),
  PRIMARY KEY(code)
);

CREATE TABLE c_loc2_Units_texts (
  locale VARCHAR(14) NOT NULL,
  code VARCHAR(3) NOT NULL,
  text VARCHAR(40),
  PRIMARY KEY(locale, code)
);

CREATE VIEW c_loc2_S_Products AS SELECT
  Products_0.company,
  Products_0.code,
  Products_0.name,
  Products_0.descr,
  Products_0.unit
FROM c_loc2_Products AS Products_0;

CREATE VIEW c_loc2_S_Products_texts AS SELECT
  texts_0.locale,
  texts_0.company,
  texts_0.code,
  texts_0.name,
  texts_0.descr
FROM c_loc2_Products_texts AS texts_0;

CREATE VIEW c_loc2_S_Units AS SELECT
  Units_0.code,
  Units_0.text
FROM c_loc2_Units AS Units_0;

CREATE VIEW c_loc2_S_Units_texts AS SELECT
  texts_0.locale,
  texts_0.code,
  texts_0.text
FROM c_loc2_Units_texts AS texts_0;

CREATE VIEW localized_c_loc2_Products AS SELECT
  L_0.company,
  L_0.code,
  coalesce(localized_1.name, L_0.name) AS name,
  coalesce(localized_1.descr, L_0.descr) AS descr,
  L_0.unit
FROM (c_loc2_Products AS L_0 LEFT JOIN c_loc2_Products_texts AS localized_1 ON localized_1.company = L_0.company AND localized_1.code = L_0.code AND localized_1.locale = current_setting('cap.locale'));

CREATE VIEW localized_c_loc2_Units AS SELECT
  L_0.code,
  coalesce(localized_1.text, L_0.text) AS text
FROM (c_loc2_Units AS L_0 LEFT JOIN c_loc2_Units_texts AS localized_1 ON localized_1.code = L_0.code AND localized_1.locale = current_setting('cap.locale'));

CREATE VIEW localized_c_loc2_S_Products AS SELECT
  Products_0.company,
  Products_0.code,
  Products_0.name,
  Products_0.descr,
  Products_0.unit
FROM localized_c_loc2_Products AS Products_0;

CREATE VIEW localized_c_loc2_S_Units AS SELECT
  Units_0.code,
  Units_0.text
FROM localized_c_loc2_Units AS Units_0;
