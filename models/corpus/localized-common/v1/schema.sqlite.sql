CREATE TABLE c_loc3_Prices (
  ID INTEGER NOT NULL,
  amount REAL_DECIMAL(15, 2),
  currency_code NVARCHAR(3),
  country_code NVARCHAR(3),
  lang_code NVARCHAR(14),
  PRIMARY KEY(ID)
);

CREATE TABLE sap_common_Currencies (
  name NVARCHAR(255),
  descr NVARCHAR(1000),
  code NVARCHAR(3) NOT NULL,
  symbol NVARCHAR(5),
  minorUnit SMALLINT,
  PRIMARY KEY(code)
);

CREATE TABLE sap_common_Currencies_texts (
  locale NVARCHAR(14) NOT NULL,
  name NVARCHAR(255),
  descr NVARCHAR(1000),
  code NVARCHAR(3) NOT NULL,
  PRIMARY KEY(locale, code)
);

CREATE TABLE sap_common_Countries (
  name NVARCHAR(255),
  descr NVARCHAR(1000),
  code NVARCHAR(3) NOT NULL,
  PRIMARY KEY(code)
);

CREATE TABLE sap_common_Countries_texts (
  locale NVARCHAR(14) NOT NULL,
  name NVARCHAR(255),
  descr NVARCHAR(1000),
  code NVARCHAR(3) NOT NULL,
  PRIMARY KEY(locale, code)
);

CREATE TABLE sap_common_Languages (
  name NVARCHAR(255),
  descr NVARCHAR(1000),
  code NVARCHAR(14) NOT NULL,
  PRIMARY KEY(code)
);

CREATE TABLE sap_common_Languages_texts (
  locale NVARCHAR(14) NOT NULL,
  name NVARCHAR(255),
  descr NVARCHAR(1000),
  code NVARCHAR(14) NOT NULL,
  PRIMARY KEY(locale, code)
);

CREATE TABLE c_loc3_Statuses (
  name NVARCHAR(255),
  descr NVARCHAR(1000),
  code NVARCHAR(1) NOT NULL,
  PRIMARY KEY(code)
);

CREATE TABLE c_loc3_Statuses_texts (
  locale NVARCHAR(14) NOT NULL,
  name NVARCHAR(255),
  descr NVARCHAR(1000),
  code NVARCHAR(1) NOT NULL,
  PRIMARY KEY(locale, code)
);

CREATE VIEW c_loc3_S_Prices AS SELECT
  Prices_0.ID,
  Prices_0.amount,
  Prices_0.currency_code,
  Prices_0.country_code,
  Prices_0.lang_code
FROM c_loc3_Prices AS Prices_0;

CREATE VIEW c_loc3_S_Currencies AS SELECT
  Currencies_0.name,
  Currencies_0.descr,
  Currencies_0.code,
  Currencies_0.symbol,
  Currencies_0.minorUnit
FROM sap_common_Currencies AS Currencies_0;

CREATE VIEW c_loc3_S_Currencies_texts AS SELECT
  texts_0.locale,
  texts_0.name,
  texts_0.descr,
  texts_0.code
FROM sap_common_Currencies_texts AS texts_0;

CREATE VIEW c_loc3_S_Countries AS SELECT
  Countries_0.name,
  Countries_0.descr,
  Countries_0.code
FROM sap_common_Countries AS Countries_0;

CREATE VIEW c_loc3_S_Countries_texts AS SELECT
  texts_0.locale,
  texts_0.name,
  texts_0.descr,
  texts_0.code
FROM sap_common_Countries_texts AS texts_0;

CREATE VIEW c_loc3_S_Languages AS SELECT
  Languages_0.name,
  Languages_0.descr,
  Languages_0.code
FROM sap_common_Languages AS Languages_0;

CREATE VIEW c_loc3_S_Languages_texts AS SELECT
  texts_0.locale,
  texts_0.name,
  texts_0.descr,
  texts_0.code
FROM sap_common_Languages_texts AS texts_0;

CREATE VIEW c_loc3_S_Statuses AS SELECT
  Statuses_0.name,
  Statuses_0.descr,
  Statuses_0.code
FROM c_loc3_Statuses AS Statuses_0;

CREATE VIEW c_loc3_S_Statuses_texts AS SELECT
  texts_0.locale,
  texts_0.name,
  texts_0.descr,
  texts_0.code
FROM c_loc3_Statuses_texts AS texts_0;

CREATE VIEW localized_sap_common_Currencies AS SELECT
  coalesce(localized_1.name, L_0.name) AS name,
  coalesce(localized_1.descr, L_0.descr) AS descr,
  L_0.code,
  L_0.symbol,
  L_0.minorUnit
FROM (sap_common_Currencies AS L_0 LEFT JOIN sap_common_Currencies_texts AS localized_1 ON localized_1.code = L_0.code AND localized_1.locale = session_context( '$user.locale' ));

CREATE VIEW localized_sap_common_Countries AS SELECT
  coalesce(localized_1.name, L_0.name) AS name,
  coalesce(localized_1.descr, L_0.descr) AS descr,
  L_0.code
FROM (sap_common_Countries AS L_0 LEFT JOIN sap_common_Countries_texts AS localized_1 ON localized_1.code = L_0.code AND localized_1.locale = session_context( '$user.locale' ));

CREATE VIEW localized_sap_common_Languages AS SELECT
  coalesce(localized_1.name, L_0.name) AS name,
  coalesce(localized_1.descr, L_0.descr) AS descr,
  L_0.code
FROM (sap_common_Languages AS L_0 LEFT JOIN sap_common_Languages_texts AS localized_1 ON localized_1.code = L_0.code AND localized_1.locale = session_context( '$user.locale' ));

CREATE VIEW localized_c_loc3_Statuses AS SELECT
  coalesce(localized_1.name, L_0.name) AS name,
  coalesce(localized_1.descr, L_0.descr) AS descr,
  L_0.code
FROM (c_loc3_Statuses AS L_0 LEFT JOIN c_loc3_Statuses_texts AS localized_1 ON localized_1.code = L_0.code AND localized_1.locale = session_context( '$user.locale' ));

CREATE VIEW localized_c_loc3_S_Currencies AS SELECT
  Currencies_0.name,
  Currencies_0.descr,
  Currencies_0.code,
  Currencies_0.symbol,
  Currencies_0.minorUnit
FROM localized_sap_common_Currencies AS Currencies_0;

CREATE VIEW localized_c_loc3_S_Countries AS SELECT
  Countries_0.name,
  Countries_0.descr,
  Countries_0.code
FROM localized_sap_common_Countries AS Countries_0;

CREATE VIEW localized_c_loc3_S_Languages AS SELECT
  Languages_0.name,
  Languages_0.descr,
  Languages_0.code
FROM localized_sap_common_Languages AS Languages_0;

CREATE VIEW localized_c_loc3_S_Statuses AS SELECT
  Statuses_0.name,
  Statuses_0.descr,
  Statuses_0.code
FROM localized_c_loc3_Statuses AS Statuses_0;
