CREATE TABLE c_widen_Accounts (
  ID INTEGER NOT NULL,
  name VARCHAR(50),
  balance DECIMAL(15, 2),
  PRIMARY KEY(ID)
);

CREATE TABLE c_widen_Accounts_texts (
  locale VARCHAR(14) NOT NULL,
  ID INTEGER NOT NULL,
  name VARCHAR(50),
  PRIMARY KEY(locale, ID)
);

CREATE VIEW c_widen_S_Accounts AS SELECT
  Accounts_0.ID,
  Accounts_0.name,
  Accounts_0.balance
FROM c_widen_Accounts AS Accounts_0;

CREATE VIEW c_widen_S_Accounts_texts AS SELECT
  texts_0.locale,
  texts_0.ID,
  texts_0.name
FROM c_widen_Accounts_texts AS texts_0;

CREATE VIEW localized_c_widen_Accounts AS SELECT
  L_0.ID,
  coalesce(localized_1.name, L_0.name) AS name,
  L_0.balance
FROM (c_widen_Accounts AS L_0 LEFT JOIN c_widen_Accounts_texts AS localized_1 ON localized_1.ID = L_0.ID AND localized_1.locale = current_setting('cap.locale'));

CREATE VIEW localized_c_widen_S_Accounts AS SELECT
  Accounts_0.ID,
  Accounts_0.name,
  Accounts_0.balance
FROM localized_c_widen_Accounts AS Accounts_0;
