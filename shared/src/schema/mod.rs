//! The persistence model: tables, columns, keys and views derived from CSN the way the CAP
//! compiler (`@sap/cds-compiler` 7, `cds compile --to sql`) does.
//!
//! # Layout
//! - [`reach`] decides which definitions reach the database (what `cds.minify` keeps, minus
//!   `@cds.persistence.skip`), and which of them are tables, views or pre-existing objects.
//! - [`tables`] turns an entity's elements into columns: plain names (`my.bookshop.Books` →
//!   `my_bookshop_Books`), structured elements flattened with `_`, managed to-one associations
//!   as foreign-key columns `<assoc>_<key>`, derived types resolved, `@assert.unique`.
//! - [`views`] turns projections and selects into `SELECT` lists (path expressions into joins
//!   and `EXISTS` subqueries), and adds the `localized_…` convenience views.
//! - [`drafts`] adds the `_drafts` tables and `DraftAdministrativeData` of
//!   `@odata.draft.enabled` entities.
//!
//! The model is dialect-neutral: [`crate::sql`] renders it, [`crate::evolve`] compares two.
//! Names are kept exactly as the compiler writes them (original case); the PostgreSQL renderer
//! folds them to lower case.

mod drafts;
mod reach;
mod tables;
mod views;

use std::fmt;

use crate::csn::{Csn, CsnError};

/// Everything a tenant's database holds for one model version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersistenceModel {
    /// Tables, in model order.
    pub tables: Vec<Table>,
    /// Views, each after every view it reads from (creation order).
    pub views: Vec<View>,
    /// SQL names of entities declared `@cds.persistence.exists`: they are in the database but
    /// not ours to create, alter or drop.
    pub existing: Vec<String>,
}

impl PersistenceModel {
    /// Derives the persistence model of a CSN document.
    ///
    /// Fails with a [`SchemaError`] naming the entity and the construct when the model uses
    /// something we cannot map the way the compiler does.
    pub fn from_csn(csn: &Csn) -> Result<Self, SchemaError> {
        let plan = reach::classify(csn)?;
        let mut tables = Vec::new();
        for name in &plan.tables {
            tables.push(tables::table(csn, name)?);
        }
        let mut views = views::views(csn, &plan)?;
        let entities: Vec<String> = plan.views.iter().chain(&plan.tables).cloned().collect();
        let (draft_tables, draft_views) = drafts::drafts(csn, &entities)?;
        tables.extend(draft_tables);
        views.extend(draft_views);
        Ok(Self {
            tables,
            views,
            existing: plan.existing.iter().map(|n| sql_name(n)).collect(),
        })
    }

    /// The table named `name` (SQL name), if any.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The view named `name` (SQL name), if any.
    pub fn view(&self, name: &str) -> Option<&View> {
        self.views.iter().find(|v| v.name == name)
    }
}

/// The SQL name of a definition: dots become underscores (`my.bookshop.Books` →
/// `my_bookshop_Books`, `localized.my.X` → `localized_my_X`).
pub fn sql_name(definition: &str) -> String {
    definition.replace('.', "_")
}

/// A table of one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// SQL name, as the compiler writes it (`my_bookshop_Books`).
    pub name: String,
    /// The CDS entity it stores (`my.bookshop.Books`), for messages.
    pub entity: String,
    pub columns: Vec<Column>,
    /// Names of the primary-key columns, in order; may be empty (an entity without keys).
    pub primary_key: Vec<String>,
    /// `@assert.unique` constraints.
    pub unique: Vec<UniqueConstraint>,
}

impl Table {
    /// The column named `name`, if any.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// SQL name (`author_ID`, `address_city`).
    pub name: String,
    /// The element it comes from, as a CDS path (`author`, `address.city`), for messages.
    pub element: String,
    pub ty: ColumnType,
    /// `NOT NULL` (key columns and `not null` elements).
    pub not_null: bool,
    pub default: Option<DefaultValue>,
    /// `GENERATED ALWAYS AS (expression) STORED`: a stored calculated element
    /// (`= expr stored`), in terms of the row's own columns ([`Expr::OwnColumn`]).
    pub generated: Option<Vec<Expr>>,
}

/// The type of a column, dialect-neutral (rendered per dialect by [`crate::sql`]).
///
/// Aliases that render identically are folded when deriving: `UUID` is `String(36)`,
/// `Int32` is `Integer`, `Integer64` is `Int64`, `DecimalFloat` is `Decimal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String {
        length: u32,
    },
    LargeString,
    Boolean,
    UInt8,
    Int16,
    Integer,
    Int64,
    Decimal {
        precision: Option<u32>,
        scale: Option<u32>,
    },
    Double,
    Date,
    Time,
    DateTime,
    Timestamp,
    Binary {
        length: u32,
    },
    LargeBinary,
    Vector {
        dimensions: u32,
    },
    Map,
}

impl fmt::Display for ColumnType {
    /// CDS notation, for messages: `String(111)`, `Decimal(9, 2)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String { length } => write!(f, "String({length})"),
            Self::LargeString => f.write_str("LargeString"),
            Self::Boolean => f.write_str("Boolean"),
            Self::UInt8 => f.write_str("UInt8"),
            Self::Int16 => f.write_str("Int16"),
            Self::Integer => f.write_str("Integer"),
            Self::Int64 => f.write_str("Int64"),
            Self::Decimal {
                precision: Some(p),
                scale: Some(s),
            } => write!(f, "Decimal({p}, {s})"),
            Self::Decimal {
                precision: Some(p),
                scale: None,
            } => write!(f, "Decimal({p})"),
            Self::Decimal { .. } => f.write_str("Decimal"),
            Self::Double => f.write_str("Double"),
            Self::Date => f.write_str("Date"),
            Self::Time => f.write_str("Time"),
            Self::DateTime => f.write_str("DateTime"),
            Self::Timestamp => f.write_str("Timestamp"),
            Self::Binary { length } => write!(f, "Binary({length})"),
            Self::LargeBinary => f.write_str("LargeBinary"),
            Self::Vector { dimensions } => write!(f, "Vector({dimensions})"),
            Self::Map => f.write_str("Map"),
        }
    }
}

/// A column default.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    Literal(Literal),
    /// `default $now`.
    CurrentTimestamp,
}

/// A literal value in a default or an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    /// A number exactly as written in the CSN (`42`, `-1`, `1.5`).
    Number(String),
    String(String),
}

/// An `@assert.unique.<name>` constraint; the compiler names it `<table>_<name>`.
#[derive(Debug, Clone, PartialEq)]
pub struct UniqueConstraint {
    pub name: String,
    pub columns: Vec<String>,
}

/// A view: a projection or select on one source (or a localized convenience view).
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// SQL name (`CatalogService_Books`, `localized_my_bookshop_Books`).
    pub name: String,
    /// The CDS entity it stands for (`CatalogService.Books`, `localized.my.bookshop.Books`).
    pub entity: String,
    pub distinct: bool,
    pub columns: Vec<ViewColumn>,
    pub from: From,
    pub filter: Option<Vec<Expr>>,
    pub group_by: Vec<Vec<Expr>>,
    pub having: Option<Vec<Expr>>,
    pub order_by: Vec<OrderBy>,
}

impl View {
    /// SQL names of the tables and views this view reads: its `FROM` tree and the sources of
    /// `EXISTS` subqueries.
    pub fn sources(&self) -> Vec<&str> {
        let mut sources = Vec::new();
        self.from.collect_sources(&mut sources);
        let expressions = self
            .columns
            .iter()
            .map(|c| &c.expr)
            .chain(&self.filter)
            .chain(&self.having);
        for expr in expressions {
            exists_sources(expr, &mut sources);
        }
        sources
    }
}

fn exists_sources<'a>(tokens: &'a [Expr], sources: &mut Vec<&'a str>) {
    for token in tokens {
        match token {
            Expr::Exists { source, filter } => {
                sources.push(source.name.as_str());
                exists_sources(filter, sources);
            }
            Expr::Group(inner) | Expr::Cast { expr: inner, .. } => exists_sources(inner, sources),
            Expr::Func { args: items, .. } | Expr::List(items) => {
                for item in items {
                    exists_sources(item, sources);
                }
            }
            Expr::Column { .. }
            | Expr::OwnColumn(_)
            | Expr::Literal(_)
            | Expr::Keyword(_)
            | Expr::Variable(_) => {}
        }
    }
}

/// One output column of a view: `expr AS name` (the compiler leaves out `AS` when the
/// expression is a column of the same name).
#[derive(Debug, Clone, PartialEq)]
pub struct ViewColumn {
    pub name: String,
    pub expr: Vec<Expr>,
}

/// A table or view in a `FROM` clause with its alias.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub name: String,
    pub alias: String,
}

/// The `FROM` clause of a view.
#[derive(Debug, Clone, PartialEq)]
pub enum From {
    Table {
        name: String,
        alias: String,
    },
    /// `(left LEFT JOIN right ON …)`: the localized convenience views, and the joins path
    /// expressions need (nested to the left, one per association, in alias order).
    LeftJoin {
        left: Box<From>,
        right: Source,
        on: Vec<Expr>,
    },
}

impl From {
    fn collect_sources<'a>(&'a self, sources: &mut Vec<&'a str>) {
        match self {
            Self::Table { name, .. } => sources.push(name),
            Self::LeftJoin { left, right, .. } => {
                left.collect_sources(sources);
                sources.push(&right.name);
            }
        }
    }

    /// Every table or view in the tree, mutably, leftmost first.
    pub(crate) fn sources_mut(&mut self) -> Vec<&mut String> {
        match self {
            Self::Table { name, .. } => vec![name],
            Self::LeftJoin { left, right, .. } => {
                let mut names = left.sources_mut();
                names.push(&mut right.name);
                names
            }
        }
    }
}

/// An `ORDER BY` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub expr: Vec<Expr>,
    pub descending: bool,
}

/// One token of an SQL expression; a sequence of them is rendered separated by spaces.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `alias.column`.
    Column {
        alias: String,
        name: String,
    },
    /// A column of the same row, unqualified: the expression of a generated column.
    OwnColumn(String),
    Literal(Literal),
    /// An operator or keyword (`=`, `AND`, `LIKE`, `IS`, `NULL`, `CASE`, `||`), upper case.
    Keyword(String),
    /// `name(args, …)`.
    Func {
        name: String,
        args: Vec<Vec<Expr>>,
    },
    /// A parenthesised sub-expression.
    Group(Vec<Expr>),
    /// `(a, b, …)` after `IN`.
    List(Vec<Vec<Expr>>),
    /// `CAST(expr AS type)`.
    Cast {
        expr: Vec<Expr>,
        ty: ColumnType,
    },
    /// A session variable (`$user.locale`, `$user.id`, `$tenant`, `$now`), rendered per
    /// dialect.
    Variable(String),
    /// `EXISTS (SELECT 1 AS dummy FROM source AS alias WHERE filter)`: an `exists` predicate
    /// on an association (the `EXISTS` keyword included).
    Exists {
        source: Source,
        filter: Vec<Expr>,
    },
}

/// Why a persistence model could not be derived. Messages name the entity (and element).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A construct we do not map (yet); the message names the entity and the construct.
    #[error("{entity}: {construct} is not supported")]
    Unsupported { entity: String, construct: String },
    /// The model is inconsistent (a reference to something that is not there).
    #[error("{entity}: {message}")]
    Invalid { entity: String, message: String },
    #[error(transparent)]
    Csn(#[from] CsnError),
}

impl SchemaError {
    fn unsupported(entity: &str, construct: impl Into<String>) -> Self {
        Self::Unsupported {
            entity: entity.into(),
            construct: construct.into(),
        }
    }

    fn invalid(entity: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            entity: entity.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn derive(definitions: serde_json::Value) -> Result<PersistenceModel, SchemaError> {
        let csn = Csn::from_value(json!({ "definitions": definitions })).expect("valid CSN");
        PersistenceModel::from_csn(&csn)
    }

    fn books() -> serde_json::Value {
        json!({"kind": "entity", "elements": {
            "ID": {"key": true, "type": "cds.Integer"},
            "title": {"type": "cds.String"},
            "author": {"type": "cds.Association", "target": "Authors", "keys": [{"ref": ["ID"]}]},
        }})
    }

    fn authors() -> serde_json::Value {
        json!({"kind": "entity", "elements": {
            "ID": {"key": true, "type": "cds.Integer"},
            "name": {"type": "cds.String", "length": 10},
        }})
    }

    #[test]
    fn unsupported_constructs_name_the_entity_and_the_construct() {
        let cases = [
            (
                json!({"SELECT": {"from": {"join": "inner", "args": [{"ref": ["Books"]}, {"ref": ["Authors"]}]}}}),
                "V: a query on more than one source (join) is not supported",
            ),
            (
                json!({"SELECT": {"from": {"ref": ["Books"]}, "columns": [{"ref": ["ID"]}],
                    "where": ["exists", {"ref": ["author", "books"]}]}}),
                r#"V: 'exists' on a path of several associations ["author","books"] is not supported"#,
            ),
            (
                json!({"SET": {"op": "union", "args": []}}),
                "V: UNION/set queries is not supported",
            ),
        ];
        for (query, message) in cases {
            let elements = json!({"ID": {"type": "cds.Integer"}});
            let err = derive(json!({
                "Books": books(), "Authors": authors(),
                "V": {"kind": "entity", "query": query, "elements": elements},
            }))
            .expect_err("unsupported");
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn if_unused_entities_get_a_table_only_when_referenced() {
        let mut codes = authors();
        codes["@cds.persistence.skip"] = json!("if-unused");
        let unused = derive(json!({"Books": {"kind": "entity", "elements": {
            "ID": {"key": true, "type": "cds.Integer"}}}, "Authors": codes.clone()}))
        .expect("derives");
        assert_eq!(unused.tables.len(), 1);
        let used = derive(json!({"Books": books(), "Authors": codes})).expect("derives");
        assert!(used.table("Authors").is_some());
    }

    #[test]
    fn skipped_exists_and_views_on_skipped_sources_produce_no_ddl() {
        let mut skipped = authors();
        skipped["@cds.persistence.skip"] = json!(true);
        let mut existing = books();
        existing["@cds.persistence.exists"] = json!(true);
        let model = derive(json!({
            "Books": existing, "Authors": skipped,
            "V": {"kind": "entity", "projection": {"from": {"ref": ["Authors"]}},
                "elements": {"ID": {"key": true, "type": "cds.Integer"}}},
            "W": {"kind": "entity", "projection": {"from": {"ref": ["Books"]}},
                "elements": {"ID": {"key": true, "type": "cds.Integer"}}},
        }))
        .expect("derives");
        assert!(model.tables.is_empty());
        assert_eq!(model.existing, ["Books"]);
        let views: Vec<_> = model.views.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(views, ["W"]);
    }

    #[test]
    fn foreign_keys_follow_target_keys_recursively() {
        let model = derive(json!({
            "A": {"kind": "entity", "elements": {
                "code": {"key": true, "type": "cds.String", "length": 3},
                "region": {"key": true, "elements": {"x": {"type": "cds.Int16"}}},
            }},
            "B": {"kind": "entity", "elements": {
                "a": {"key": true, "type": "cds.Association", "target": "A"},
            }},
            "C": {"kind": "entity", "elements": {
                "b": {"type": "cds.Association", "target": "B", "notNull": true,
                    "keys": [{"ref": ["a"], "as": "viaA"}]},
            }},
        }))
        .expect("derives");
        let c = model.table("C").expect("C");
        let columns: Vec<_> = c
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.ty, c.not_null))
            .collect();
        assert_eq!(
            columns,
            [
                ("b_viaA_code", ColumnType::String { length: 3 }, true),
                ("b_viaA_region_x", ColumnType::Int16, true),
            ]
        );
        assert_eq!(
            model.table("B").expect("B").primary_key,
            ["a_code", "a_region_x"]
        );
    }
}
