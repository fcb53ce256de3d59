CREATE TABLE c_app_Orders (
  ID VARCHAR(36) NOT NULL,
  createdAt TIMESTAMP,
  createdBy VARCHAR(255),
  modifiedAt TIMESTAMP,
  modifiedBy VARCHAR(255),
  customer_ID VARCHAR(36),
  status_code VARCHAR(1),
  PRIMARY KEY(ID)
);

CREATE TABLE c_app_Customers (
  ID VARCHAR(36) NOT NULL,
  createdAt TIMESTAMP,
  createdBy VARCHAR(255),
  modifiedAt TIMESTAMP,
  modifiedBy VARCHAR(255),
  name VARCHAR(100),
  email VARCHAR(200),
  PRIMARY KEY(ID)
);

CREATE TABLE c_app_OrderStatus (
  name VARCHAR(255),
  descr VARCHAR(1000),
  code VARCHAR(1) NOT NULL,
  PRIMARY KEY(code)
);

CREATE TABLE c_app_OrderStatus_texts (
  locale VARCHAR(14) NOT NULL,
  name VARCHAR(255),
  descr VARCHAR(1000),
  code VARCHAR(1) NOT NULL,
  PRIMARY KEY(locale, code)
);

CREATE TABLE c_app_Orders_items (
  up__ID VARCHAR(36) NOT NULL,
  pos INTEGER NOT NULL,
  product_ID VARCHAR(36),
  quantity INTEGER,
  PRIMARY KEY(up__ID, pos)
);

CREATE TABLE c_app_Products (
  ID VARCHAR(36) NOT NULL,
  title VARCHAR(100),
  price DECIMAL(10, 2),
  currency_code VARCHAR(3),
  PRIMARY KEY(ID)
);

CREATE TABLE sap_common_Currencies (
  name VARCHAR(255),
  descr VARCHAR(1000),
  code VARCHAR(3) NOT NULL,
  symbol VARCHAR(5),
  minorUnit SMALLINT,
  PRIMARY KEY(code)
);

CREATE TABLE sap_common_Currencies_texts (
  locale VARCHAR(14) NOT NULL,
  name VARCHAR(255),
  descr VARCHAR(1000),
  code VARCHAR(3) NOT NULL,
  PRIMARY KEY(locale, code)
);

CREATE TABLE c_app_Products_texts (
  locale VARCHAR(14) NOT NULL,
  ID VARCHAR(36) NOT NULL,
  title VARCHAR(100),
  PRIMARY KEY(locale, ID)
);

CREATE VIEW c_app_OrderService_Orders AS SELECT
  Orders_0.ID,
  Orders_0.createdAt,
  Orders_0.createdBy,
  Orders_0.modifiedAt,
  Orders_0.modifiedBy,
  Orders_0.customer_ID,
  Orders_0.status_code,
  customer_1.name AS customerName
FROM (c_app_Orders AS Orders_0 LEFT JOIN c_app_Customers AS customer_1 ON Orders_0.customer_ID = customer_1.ID);

CREATE VIEW c_app_OrderService_Customers AS SELECT
  Customers_0.ID,
  Customers_0.createdAt,
  Customers_0.createdBy,
  Customers_0.modifiedAt,
  Customers_0.modifiedBy,
  Customers_0.name,
  Customers_0.email
FROM c_app_Customers AS Customers_0;

CREATE VIEW c_app_OrderService_OrderStatus AS SELECT
  OrderStatus_0.name,
  OrderStatus_0.descr,
  OrderStatus_0.code
FROM c_app_OrderStatus AS OrderStatus_0;

CREATE VIEW c_app_OrderService_OrderStatus_texts AS SELECT
  texts_0.locale,
  texts_0.name,
  texts_0.descr,
  texts_0.code
FROM c_app_OrderStatus_texts AS texts_0;

CREATE VIEW c_app_OrderService_Orders_items AS SELECT
  items_0.up__ID,
  items_0.pos,
  items_0.product_ID,
  items_0.quantity
FROM c_app_Orders_items AS items_0;

CREATE VIEW c_app_OrderService_Products AS SELECT
  Products_0.ID,
  Products_0.title,
  Products_0.price,
  Products_0.currency_code
FROM c_app_Products AS Products_0;

CREATE VIEW c_app_OrderService_Currencies AS SELECT
  Currencies_0.name,
  Currencies_0.descr,
  Currencies_0.code,
  Currencies_0.symbol,
  Currencies_0.minorUnit
FROM sap_common_Currencies AS Currencies_0;

CREATE VIEW c_app_OrderService_Currencies_texts AS SELECT
  texts_0.locale,
  texts_0.name,
  texts_0.descr,
  texts_0.code
FROM sap_common_Currencies_texts AS texts_0;

CREATE VIEW c_app_OrderService_Products_texts AS SELECT
  texts_0.locale,
  texts_0.ID,
  texts_0.title
FROM c_app_Products_texts AS texts_0;

CREATE VIEW c_app_OrderService_Revenue AS SELECT
  Orders_0.customer_ID AS customerID,
  count(Orders_0.ID) AS orders
FROM c_app_Orders AS Orders_0
GROUP BY Orders_0.customer_ID;

CREATE VIEW localized_c_app_OrderStatus AS SELECT
  coalesce(localized_1.name, L_0.name) AS name,
  coalesce(localized_1.descr, L_0.descr) AS descr,
  L_0.code
FROM (c_app_OrderStatus AS L_0 LEFT JOIN c_app_OrderStatus_texts AS localized_1 ON localized_1.code = L_0.code AND localized_1.locale = current_setting('cap.locale'));

CREATE VIEW localized_c_app_Products AS SELECT
  L_0.ID,
  coalesce(localized_1.title, L_0.title) AS title,
  L_0.price,
  L_0.currency_code
FROM (c_app_Products AS L_0 LEFT JOIN c_app_Products_texts AS localized_1 ON localized_1.ID = L_0.ID AND localized_1.locale = current_setting('cap.locale'));

CREATE VIEW localized_sap_common_Currencies AS SELECT
  coalesce(localized_1.name, L_0.name) AS name,
  coalesce(localized_1.descr, L_0.descr) AS descr,
  L_0.code,
  L_0.symbol,
  L_0.minorUnit
FROM (sap_common_Currencies AS L_0 LEFT JOIN sap_common_Currencies_texts AS localized_1 ON localized_1.code = L_0.code AND localized_1.locale = current_setting('cap.locale'));

CREATE VIEW localized_c_app_OrderService_OrderStatus AS SELECT
  OrderStatus_0.name,
  OrderStatus_0.descr,
  OrderStatus_0.code
FROM localized_c_app_OrderStatus AS OrderStatus_0;

CREATE VIEW localized_c_app_OrderService_Products AS SELECT
  Products_0.ID,
  Products_0.title,
  Products_0.price,
  Products_0.currency_code
FROM localized_c_app_Products AS Products_0;

CREATE VIEW localized_c_app_OrderService_Currencies AS SELECT
  Currencies_0.name,
  Currencies_0.descr,
  Currencies_0.code,
  Currencies_0.symbol,
  Currencies_0.minorUnit
FROM localized_sap_common_Currencies AS Currencies_0;
