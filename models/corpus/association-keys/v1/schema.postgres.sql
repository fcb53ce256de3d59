CREATE TABLE c_akey_Departments (
  company_code VARCHAR(4) NOT NULL,
  company_year INTEGER NOT NULL,
  no INTEGER NOT NULL,
  name VARCHAR(60),
  PRIMARY KEY(company_code, company_year, no)
);

CREATE TABLE c_akey_Companies (
  code VARCHAR(4) NOT NULL,
  year INTEGER NOT NULL,
  name VARCHAR(100),
  PRIMARY KEY(code, year)
);

CREATE TABLE c_akey_Employees (
  ID INTEGER NOT NULL,
  dept_company_code VARCHAR(4),
  dept_company_year INTEGER,
  dept_no INTEGER,
  name VARCHAR(100),
  PRIMARY KEY(ID)
);

CREATE VIEW c_akey_S_Departments AS SELECT
  Departments_0.company_code,
  Departments_0.company_year,
  Departments_0.no,
  Departments_0.name
FROM c_akey_Departments AS Departments_0;

CREATE VIEW c_akey_S_Employees AS SELECT
  Employees_0.ID,
  Employees_0.dept_company_code,
  Employees_0.dept_company_year,
  Employees_0.dept_no,
  Employees_0.name
FROM c_akey_Employees AS Employees_0;
