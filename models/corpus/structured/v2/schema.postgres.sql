CREATE TABLE c_struct_Sites (
  id_region VARCHAR(4) NOT NULL,
  id_number INTEGER NOT NULL,
  name VARCHAR(100),
  address_street VARCHAR(60),
  address_city VARCHAR(40),
  address_zip VARCHAR(10),
  address_geo_lat FLOAT8,
  address_geo_lon FLOAT8,
  address_geo_alt FLOAT8,
  billing_same BOOLEAN DEFAULT TRUE,
  billing_address_street VARCHAR(60),
  billing_address_city VARCHAR(40),
  billing_address_zip VARCHAR(10),
  billing_address_geo_lat FLOAT8,
  billing_address_geo_lon FLOAT8,
  billing_address_geo_alt FLOAT8,
  PRIMARY KEY(id_region, id_number)
);

CREATE VIEW c_struct_S_Sites AS SELECT
  Sites_0.id_region,
  Sites_0.id_number,
  Sites_0.name,
  Sites_0.address_street,
  Sites_0.address_city,
  Sites_0.address_zip,
  Sites_0.address_geo_lat,
  Sites_0.address_geo_lon,
  Sites_0.address_geo_alt,
  Sites_0.billing_same,
  Sites_0.billing_address_street,
  Sites_0.billing_address_city,
  Sites_0.billing_address_zip,
  Sites_0.billing_address_geo_lat,
  Sites_0.billing_address_geo_lon,
  Sites_0.billing_address_geo_alt
FROM c_struct_Sites AS Sites_0;
