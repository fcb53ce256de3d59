//! Our DDL against the CAP compiler's, for every reference model and fixture, both dialects.
//!
//! The comparison parses both scripts into tables (columns with type, nullability and
//! default; primary key; unique constraints) and views (their normalised `SELECT`), after
//! normalising whitespace, quotes, PostgreSQL case folding and schema qualification. It is
//! order-insensitive across statements, and exact within them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;
use crate::csn::Csn;

pub(crate) mod corpus;
mod execute;

/// Every model folder with a `csn.json` and the compiler's `schema.<dialect>.sql`.
pub(crate) const MODELS: &[&str] = &[
    "bookshop/v1",
    "bookshop/v2",
    "bookshop/v3",
    "fixtures/types",
    "fixtures/localized",
    "fixtures/compositions",
    "fixtures/views",
];

pub(crate) fn model_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(name)
}

pub(crate) fn load(name: &str) -> PersistenceModel {
    let text = std::fs::read_to_string(model_dir(name).join("csn.json")).expect("fixture csn");
    let value = serde_json::from_str(&text).expect("fixture csn is JSON");
    let csn = Csn::from_value(value).expect("fixture csn is CSN");
    PersistenceModel::from_csn(&csn).expect("fixture derives")
}

pub(crate) fn compiler_ddl(name: &str, dialect: Dialect) -> String {
    let file = match dialect {
        Dialect::Postgres => "schema.postgres.sql",
        Dialect::Sqlite => "schema.sqlite.sql",
    };
    std::fs::read_to_string(model_dir(name).join(file)).expect("fixture sql")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Str(String),
    Punct(String),
}

fn tokenize(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' {
            let mut text = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == c {
                    if chars.get(i + 1) == Some(&c) {
                        text.push(c);
                        i += 2;
                        continue;
                    }
                    break;
                }
                text.push(chars[i]);
                i += 1;
            }
            i += 1;
            tokens.push(if c == '"' {
                Token::Quoted(text)
            } else {
                Token::Str(text)
            });
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || "_$.".contains(chars[i])) {
                // A dot continues numbers (1.5) but separates names (a.b).
                if chars[i] == '.' && !chars[start].is_ascii_digit() {
                    break;
                }
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        } else if "<>=!|:".contains(c) {
            let start = i;
            while i < chars.len() && "<>=!|:".contains(chars[i]) {
                i += 1;
            }
            tokens.push(Token::Punct(chars[start..i].iter().collect()));
        } else {
            tokens.push(Token::Punct(c.to_string()));
            i += 1;
        }
    }
    tokens
}

/// Normalised tokens: quotes dropped from identifiers, PostgreSQL names folded, a leading
/// `schema.` removed.
fn normalise(sql: &str, dialect: Dialect, schema: Option<&str>) -> Vec<String> {
    let tokens = tokenize(sql);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if let (Some(schema), Token::Quoted(name)) = (schema, &tokens[i])
            && name == schema
            && tokens.get(i + 1) == Some(&Token::Punct(".".into()))
        {
            i += 2;
            continue;
        }
        out.push(match &tokens[i] {
            Token::Word(w) | Token::Quoted(w) => match dialect {
                Dialect::Postgres => w.to_lowercase(),
                Dialect::Sqlite => w.clone(),
            },
            Token::Str(s) => format!("'{s}'"),
            Token::Punct(p) => p.clone(),
        });
        i += 1;
    }
    out
}

#[derive(Debug, PartialEq, Eq)]
struct ColumnDef {
    ty: String,
    not_null: bool,
    default: Option<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct TableDef {
    columns: BTreeMap<String, ColumnDef>,
    column_order: Vec<String>,
    primary_key: Vec<String>,
    unique: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Schema {
    tables: BTreeMap<String, TableDef>,
    views: BTreeMap<String, String>,
}

fn split_top_level(tokens: &[String], separator: &str) -> Vec<Vec<String>> {
    let mut parts = vec![Vec::new()];
    let mut depth = 0;
    for t in tokens {
        match t.as_str() {
            "(" => depth += 1,
            ")" => depth -= 1,
            s if s == separator && depth == 0 => {
                parts.push(Vec::new());
                continue;
            }
            _ => {}
        }
        parts.last_mut().expect("never empty").push(t.clone());
    }
    parts.retain(|p| !p.is_empty());
    parts
}

fn names_in_parens(tokens: &[String]) -> Vec<String> {
    tokens
        .iter()
        .filter(|t| !["(", ")", ","].contains(&t.as_str()))
        .cloned()
        .collect()
}

/// Parses a DDL script (the compiler's or ours) into its tables and views.
fn parse(sql: &str, dialect: Dialect, schema: Option<&str>) -> Schema {
    let tokens = normalise(sql, dialect, schema);
    let mut result = Schema::default();
    for statement in split_top_level(&tokens, ";") {
        let upper: Vec<String> = statement.iter().map(|t| t.to_uppercase()).collect();
        match upper.get(..2).map(|s| s.join(" ")).as_deref() {
            Some("CREATE TABLE") => {
                let name = statement[2].clone();
                let body = &statement[4..statement.len() - 1];
                let mut table = TableDef::default();
                for item in split_top_level(body, ",") {
                    let head = item[0].to_uppercase();
                    if head == "PRIMARY" {
                        table.primary_key = names_in_parens(&item[2..]);
                    } else if head == "CONSTRAINT" {
                        assert_eq!(item[2].to_uppercase(), "UNIQUE", "{item:?}");
                        table
                            .unique
                            .insert(item[1].clone(), names_in_parens(&item[3..]));
                    } else {
                        let rest: Vec<String> = item[1..].to_vec();
                        let upper_rest: Vec<String> =
                            rest.iter().map(|t| t.to_uppercase()).collect();
                        let end = upper_rest
                            .iter()
                            .position(|t| t == "NOT" || t == "NULL" || t == "DEFAULT")
                            .unwrap_or(rest.len());
                        let default = upper_rest
                            .iter()
                            .position(|t| t == "DEFAULT")
                            .map(|p| rest[p + 1..].join(" ").to_lowercase());
                        table.column_order.push(item[0].clone());
                        table.columns.insert(
                            item[0].clone(),
                            ColumnDef {
                                ty: rest[..end].join("").to_uppercase(),
                                not_null: upper_rest
                                    .windows(2)
                                    .any(|w| w[0] == "NOT" && w[1] == "NULL"),
                                default,
                            },
                        );
                    }
                }
                assert!(
                    result.tables.insert(name.clone(), table).is_none(),
                    "table {name} twice"
                );
            }
            Some("CREATE VIEW") => {
                let name = statement[2].clone();
                assert_eq!(upper[3], "AS");
                result.views.insert(name, statement[4..].join(" "));
            }
            _ => panic!("unexpected statement {statement:?}"),
        }
    }
    result
}

fn ours(model: &PersistenceModel, dialect: Dialect, schema: Option<&str>) -> String {
    create_statements(model, dialect, schema)
        .into_iter()
        .map(|s| s + ";\n")
        .collect()
}

#[test]
fn ddl_equals_the_compilers_for_every_model_in_both_dialects() {
    for name in MODELS {
        let model = load(name);
        for dialect in [Dialect::Postgres, Dialect::Sqlite] {
            let expected = parse(&compiler_ddl(name, dialect), dialect, None);
            assert!(
                !expected.tables.is_empty(),
                "{name}: the fixture has tables"
            );
            let actual = parse(&ours(&model, dialect, None), dialect, None);
            assert_eq!(actual, expected, "{name} ({dialect:?})");
        }
    }
}

#[test]
fn schema_qualified_ddl_names_the_same_objects() {
    for name in MODELS {
        let model = load(name);
        for dialect in [Dialect::Postgres, Dialect::Sqlite] {
            let statements = create_statements(&model, dialect, Some("Tenant_1"));
            // Every created object and every object a view reads is qualified.
            for (statement, sources) in statements.iter().zip(
                model
                    .tables
                    .iter()
                    .map(|_| 0)
                    .chain(model.views.iter().map(|v| v.sources().len())),
            ) {
                assert!(
                    statement.starts_with(r#"CREATE TABLE "Tenant_1"."#)
                        || statement.starts_with(r#"CREATE VIEW "Tenant_1"."#),
                    "{statement}"
                );
                assert_eq!(
                    statement.matches(r#""Tenant_1"."#).count(),
                    1 + sources,
                    "{statement}"
                );
            }
            let sql = ours(&model, dialect, Some("Tenant_1"));
            let expected = parse(&compiler_ddl(name, dialect), dialect, None);
            assert_eq!(
                parse(&sql, dialect, Some("Tenant_1")),
                expected,
                "{name} ({dialect:?})"
            );
        }
    }
}

#[test]
fn views_come_after_the_views_they_read() {
    for name in MODELS {
        let model = load(name);
        for (i, view) in model.views.iter().enumerate() {
            for source in view.sources() {
                if let Some(j) = model.views.iter().position(|v| v.name == source) {
                    assert!(j < i, "{name}: {} reads {source}, created later", view.name);
                }
            }
        }
    }
}

#[test]
fn snapshot_postgres_bookshop_v1_in_a_tenant_schema() {
    let statements = create_statements(&load("bookshop/v1"), Dialect::Postgres, Some("t1"));
    assert_eq!(
        statements,
        [
            r#"CREATE TABLE "t1"."my_bookshop_books" (
  "id" VARCHAR(36) NOT NULL,
  "createdat" TIMESTAMP,
  "createdby" VARCHAR(255),
  "modifiedat" TIMESTAMP,
  "modifiedby" VARCHAR(255),
  "title" VARCHAR(111),
  "descr" VARCHAR(1111),
  "author_id" VARCHAR(36),
  "stock" INTEGER,
  "price" DECIMAL(9, 2),
  PRIMARY KEY("id")
)"#,
            r#"CREATE TABLE "t1"."my_bookshop_authors" (
  "id" VARCHAR(36) NOT NULL,
  "name" VARCHAR(111),
  PRIMARY KEY("id")
)"#,
            r#"CREATE VIEW "t1"."catalogservice_books" AS SELECT
  "books_0"."id",
  "books_0"."createdat",
  "books_0"."createdby",
  "books_0"."modifiedat",
  "books_0"."modifiedby",
  "books_0"."title",
  "books_0"."descr",
  "books_0"."author_id",
  "books_0"."stock",
  "books_0"."price"
FROM "t1"."my_bookshop_books" AS "books_0""#,
            r#"CREATE VIEW "t1"."catalogservice_authors" AS SELECT
  "authors_0"."id",
  "authors_0"."name"
FROM "t1"."my_bookshop_authors" AS "authors_0""#,
        ]
    );
}

#[test]
fn snapshot_sqlite_localized_view() {
    let model = load("fixtures/localized");
    let view = model
        .view("localized_fx_loc_Products")
        .expect("localized view");
    assert_eq!(
        create_view(view, Dialect::Sqlite, None),
        r#"CREATE VIEW "localized_fx_loc_Products" AS SELECT
  "L_0"."createdAt",
  "L_0"."createdBy",
  "L_0"."modifiedAt",
  "L_0"."modifiedBy",
  "L_0"."ID",
  coalesce("localized_1"."name", "L_0"."name") AS "name",
  coalesce("localized_1"."descr", "L_0"."descr") AS "descr",
  "L_0"."price",
  "L_0"."currency_code",
  "L_0"."country_code",
  "L_0"."category_code"
FROM ("fx_loc_Products" AS "L_0" LEFT JOIN "fx_loc_Products_texts" AS "localized_1" ON "localized_1"."ID" = "L_0"."ID" AND "localized_1"."locale" = session_context( '$user.locale' ))"#
    );
    let table = model.table("fx_loc_Products_texts").expect("texts table");
    assert_eq!(
        create_table(table, Dialect::Sqlite, None),
        r#"CREATE TABLE "fx_loc_Products_texts" (
  "locale" NVARCHAR(14) NOT NULL,
  "ID" INTEGER NOT NULL,
  "name" NVARCHAR(100),
  "descr" NCLOB,
  PRIMARY KEY("locale", "ID")
)"#
    );
}

#[test]
fn quoting_doubles_embedded_quotes_and_folds_only_on_postgres() {
    assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
    assert_eq!(Dialect::Postgres.ident("Books_0"), r#""books_0""#);
    assert_eq!(Dialect::Sqlite.ident("Books_0"), r#""Books_0""#);
    assert_eq!(
        Dialect::Postgres.qualified(Some("Tenant"), "my_Books"),
        r#""Tenant"."my_books""#
    );
}

#[test]
fn the_normaliser_sees_differences() {
    let a =
        "CREATE TABLE t (\n a INTEGER NOT NULL,\n b NVARCHAR(10) DEFAULT 'x',\n PRIMARY KEY(a)\n);";
    let same = r#"CREATE TABLE "t" ("a" INTEGER NOT NULL, "b" NVARCHAR(10) DEFAULT 'x', PRIMARY KEY("a"));"#;
    assert_eq!(
        parse(a, Dialect::Sqlite, None),
        parse(same, Dialect::Sqlite, None)
    );
    for different in [
        r#"CREATE TABLE "t" ("a" INTEGER, "b" NVARCHAR(10) DEFAULT 'x', PRIMARY KEY("a"));"#,
        r#"CREATE TABLE "t" ("a" INTEGER NOT NULL, "b" NVARCHAR(11) DEFAULT 'x', PRIMARY KEY("a"));"#,
        r#"CREATE TABLE "t" ("a" INTEGER NOT NULL, "b" NVARCHAR(10) DEFAULT 'y', PRIMARY KEY("a"));"#,
        r#"CREATE TABLE "t" ("a" INTEGER NOT NULL, "b" NVARCHAR(10) DEFAULT 'x', PRIMARY KEY("b"));"#,
        r#"CREATE TABLE "T" ("a" INTEGER NOT NULL, "b" NVARCHAR(10) DEFAULT 'x', PRIMARY KEY("a"));"#,
    ] {
        assert_ne!(
            parse(a, Dialect::Sqlite, None),
            parse(different, Dialect::Sqlite, None),
            "{different}"
        );
    }
}
