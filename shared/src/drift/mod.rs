//! Drift: what a tenant's database actually holds, compared with what its recorded model
//! version says it should hold.
//!
//! # Layout
//! - [`DatabaseSchema`] is what a [`TenantStore`](crate::tenant::TenantStore) reports when it
//!   introspects a tenant (tables with their columns, types, nullability, primary key and unique
//!   constraints; views with their columns), in the database's own terms: names as the database stores them
//!   (lower case on PostgreSQL), types as the catalog spells them.
//! - [`expected`] renders a [`PersistenceModel`] into the same terms for one dialect, and
//!   [`compare`] lists every difference as a [`Drift`].
//! - [`repair_plan`] turns the actual schema back into a persistence model and lets the differ
//!   ([`crate::evolve`]) compute the steps from it to the recorded model, so a repair is classified
//!   (safe or destructive) exactly like an upgrade.
//!
//! What is compared: table and view names, column names, types and nullability, primary keys,
//! unique constraints (by their columns: SQLite does not keep a constraint's name), and view
//! column names. Not compared: column order (both dialects append added columns at the end, the
//! compiler may place them elsewhere) and defaults (the catalogs spell them in ways that do not
//! normalise reliably). Everything here is pure.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;

use crate::evolve::{self, DiffOptions, Plan};
use crate::schema::{
    Column, ColumnType, From, PersistenceModel, Table, UniqueConstraint, View, ViewColumn,
};
use crate::sql::Dialect;

/// A tenant's schema as its database reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DatabaseSchema {
    /// Tables by name (as stored: lower case on PostgreSQL). The store's own bookkeeping
    /// tables are left out.
    pub tables: BTreeMap<String, DatabaseTable>,
    /// Views by name.
    pub views: BTreeMap<String, DatabaseView>,
}

/// One table of a [`DatabaseSchema`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DatabaseTable {
    /// In the table's column order.
    pub columns: Vec<DatabaseColumn>,
    /// Primary-key column names, in key order; empty when the table has none.
    #[serde(rename = "primaryKey")]
    pub primary_key: Vec<String>,
    /// Unique constraints, in name order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unique: Vec<DatabaseUnique>,
}

/// One unique constraint of a [`DatabaseTable`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseUnique {
    /// As stored; on SQLite the name of the index that enforces it (`sqlite_autoindex_…`).
    pub name: String,
    /// In constraint order.
    pub columns: Vec<String>,
}

impl DatabaseTable {
    /// The column named `name`, if any.
    pub fn column(&self, name: &str) -> Option<&DatabaseColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// One column of a [`DatabaseTable`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseColumn {
    pub name: String,
    /// The type as the catalog spells it (`character varying(36)` on PostgreSQL, the declared
    /// type `NVARCHAR(36)` on SQLite); compare through [`normalize_type`].
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(rename = "notNull")]
    pub not_null: bool,
}

/// One view of a [`DatabaseSchema`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DatabaseView {
    /// Output column names in order; `None` when the database cannot describe the view without
    /// running it (SQLite cannot prepare the localized views: they call `session_context`, a
    /// function only CAP's SQLite driver registers). Such views are compared by name only.
    pub columns: Option<Vec<String>>,
}

/// One difference between the recorded version and the actual schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// The table or view, or `table.column`, as the database names it.
    pub object: String,
    pub kind: DriftKind,
    /// What the recorded version says (`None` when it says the object should not exist).
    pub expected: Option<String>,
    /// What the database holds (`None` when the object is missing).
    pub actual: Option<String>,
}

/// What kind of difference a [`Drift`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    MissingTable,
    UnexpectedTable,
    MissingColumn,
    UnexpectedColumn,
    TypeChanged,
    NullabilityChanged,
    PrimaryKeyChanged,
    MissingUnique,
    UnexpectedUnique,
    MissingView,
    UnexpectedView,
    ViewColumnsChanged,
}

impl fmt::Display for DriftKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingTable => "table missing",
            Self::UnexpectedTable => "unexpected table",
            Self::MissingColumn => "column missing",
            Self::UnexpectedColumn => "unexpected column",
            Self::TypeChanged => "type changed",
            Self::NullabilityChanged => "nullability changed",
            Self::PrimaryKeyChanged => "primary key changed",
            Self::MissingUnique => "unique constraint missing",
            Self::UnexpectedUnique => "unexpected unique constraint",
            Self::MissingView => "view missing",
            Self::UnexpectedView => "unexpected view",
            Self::ViewColumnsChanged => "view columns changed",
        })
    }
}

impl fmt::Display for Drift {
    /// `my_bookshop_books.stock: type changed (expected integer, actual bigint)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.kind)?;
        match (&self.expected, &self.actual) {
            (Some(e), Some(a)) => write!(f, " (expected {e}, actual {a})"),
            (Some(e), None) => write!(f, " (expected {e})"),
            (None, Some(a)) => write!(f, " (actual {a})"),
            (None, None) => Ok(()),
        }
    }
}

/// A name as the dialect stores the compiler's unquoted identifier (see [`Dialect::ident`]).
fn stored(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::Postgres => name.to_lowercase(),
        Dialect::Sqlite => name.to_owned(),
    }
}

/// The type a column of type `ty` has in the dialect's catalog, normalised.
pub fn catalog_type(dialect: Dialect, ty: ColumnType) -> String {
    match dialect {
        Dialect::Sqlite => normalize_type(dialect, &dialect.column_type(ty)),
        // What `format_type(atttypid, atttypmod)` answers for the types the renderer writes.
        Dialect::Postgres => match ty {
            ColumnType::String { length } => format!("character varying({length})"),
            ColumnType::LargeString => "text".into(),
            ColumnType::Boolean => "boolean".into(),
            ColumnType::UInt8 | ColumnType::Int16 => "smallint".into(),
            ColumnType::Integer => "integer".into(),
            ColumnType::Int64 => "bigint".into(),
            ColumnType::Decimal {
                precision: Some(p),
                scale,
            } => format!("numeric({p},{})", scale.unwrap_or(0)),
            ColumnType::Decimal { .. } => "numeric".into(),
            ColumnType::Double => "double precision".into(),
            ColumnType::Date => "date".into(),
            ColumnType::Time => "time without time zone".into(),
            ColumnType::DateTime | ColumnType::Timestamp => "timestamp without time zone".into(),
            ColumnType::Binary { .. } | ColumnType::LargeBinary => "bytea".into(),
            ColumnType::Vector { dimensions } => format!("vector({dimensions})"),
            ColumnType::Map => "jsonb".into(),
        },
    }
}

/// A catalog type in comparable form: PostgreSQL's `format_type` output is already canonical
/// (only case and spaces after commas are evened out); SQLite keeps the declared type verbatim,
/// so case and whitespace are dropped (`REAL_DECIMAL(9, 2)` → `REAL_DECIMAL(9,2)`).
pub fn normalize_type(dialect: Dialect, raw: &str) -> String {
    match dialect {
        Dialect::Postgres => raw.trim().to_lowercase().replace(", ", ","),
        Dialect::Sqlite => raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase(),
    }
}

/// What a tenant deployed from `model` holds, in the dialect's terms.
pub fn expected(model: &PersistenceModel, dialect: Dialect) -> DatabaseSchema {
    let tables = model
        .tables
        .iter()
        .map(|t| {
            let table = DatabaseTable {
                columns: t
                    .columns
                    .iter()
                    .map(|c| DatabaseColumn {
                        name: stored(dialect, &c.name),
                        ty: catalog_type(dialect, c.ty),
                        not_null: c.not_null,
                    })
                    .collect(),
                primary_key: t.primary_key.iter().map(|k| stored(dialect, k)).collect(),
                unique: t
                    .unique
                    .iter()
                    .map(|u| DatabaseUnique {
                        name: stored(dialect, &u.name),
                        columns: u.columns.iter().map(|c| stored(dialect, c)).collect(),
                    })
                    .collect(),
            };
            (stored(dialect, &t.name), table)
        })
        .collect();
    let views = model
        .views
        .iter()
        .map(|v| {
            let columns = v.columns.iter().map(|c| stored(dialect, &c.name)).collect();
            (
                stored(dialect, &v.name),
                DatabaseView {
                    columns: Some(columns),
                },
            )
        })
        .collect();
    DatabaseSchema { tables, views }
}

/// Every difference between what `model` says and what `actual` holds, tables first, in name
/// order. Objects the model declares `@cds.persistence.exists` are not ours and are ignored.
pub fn compare(model: &PersistenceModel, dialect: Dialect, actual: &DatabaseSchema) -> Vec<Drift> {
    let expected = expected(model, dialect);
    let ignored: Vec<String> = model.existing.iter().map(|n| stored(dialect, n)).collect();
    let mut drift = Vec::new();
    let mut push = |object: String, kind, expected: Option<String>, actual: Option<String>| {
        drift.push(Drift {
            object,
            kind,
            expected,
            actual,
        });
    };
    for (name, want) in &expected.tables {
        let Some(have) = actual.tables.get(name) else {
            push(
                name.clone(),
                DriftKind::MissingTable,
                Some("table".into()),
                None,
            );
            continue;
        };
        for column in &want.columns {
            let object = format!("{name}.{}", column.name);
            let Some(found) = have.column(&column.name) else {
                push(
                    object,
                    DriftKind::MissingColumn,
                    Some(describe(column)),
                    None,
                );
                continue;
            };
            let actual_type = normalize_type(dialect, &found.ty);
            if actual_type != column.ty {
                push(
                    object.clone(),
                    DriftKind::TypeChanged,
                    Some(column.ty.clone()),
                    Some(actual_type),
                );
            }
            if found.not_null != column.not_null {
                push(
                    object,
                    DriftKind::NullabilityChanged,
                    Some(nullability(column.not_null)),
                    Some(nullability(found.not_null)),
                );
            }
        }
        for column in &have.columns {
            if want.column(&column.name).is_none() {
                push(
                    format!("{name}.{}", column.name),
                    DriftKind::UnexpectedColumn,
                    None,
                    Some(describe(column)),
                );
            }
        }
        if have.primary_key != want.primary_key {
            push(
                name.clone(),
                DriftKind::PrimaryKeyChanged,
                Some(key(&want.primary_key)),
                Some(key(&have.primary_key)),
            );
        }
        for unique in &want.unique {
            if !have.unique.iter().any(|u| u.columns == unique.columns) {
                push(
                    name.clone(),
                    DriftKind::MissingUnique,
                    Some(describe_unique(unique)),
                    None,
                );
            }
        }
        for unique in &have.unique {
            if !want.unique.iter().any(|u| u.columns == unique.columns) {
                push(
                    name.clone(),
                    DriftKind::UnexpectedUnique,
                    None,
                    Some(describe_unique(unique)),
                );
            }
        }
    }
    for name in actual.tables.keys() {
        if !expected.tables.contains_key(name) && !ignored.contains(name) {
            push(
                name.clone(),
                DriftKind::UnexpectedTable,
                None,
                Some("table".into()),
            );
        }
    }
    for (name, want) in &expected.views {
        match actual.views.get(name) {
            None => push(
                name.clone(),
                DriftKind::MissingView,
                Some("view".into()),
                None,
            ),
            Some(DatabaseView {
                columns: Some(have),
            }) if Some(have) != want.columns.as_ref() => push(
                name.clone(),
                DriftKind::ViewColumnsChanged,
                want.columns.as_ref().map(|c| c.join(", ")),
                Some(have.join(", ")),
            ),
            Some(_) => {}
        }
    }
    for name in actual.views.keys() {
        if !expected.views.contains_key(name) && !ignored.contains(name) {
            push(
                name.clone(),
                DriftKind::UnexpectedView,
                None,
                Some("view".into()),
            );
        }
    }
    drift
}

fn describe(column: &DatabaseColumn) -> String {
    format!("{} {}", column.ty, nullability(column.not_null))
}

fn describe_unique(unique: &DatabaseUnique) -> String {
    format!("unique {}", key(&unique.columns))
}

fn nullability(not_null: bool) -> String {
    (if not_null { "NOT NULL" } else { "NULL" }).into()
}

fn key(columns: &[String]) -> String {
    format!("({})", columns.join(", "))
}

/// Why no repair plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepairError {
    /// A column has a type the sidecar never writes, so it cannot say whether converting it
    /// back loses data.
    #[error("{object}: cannot repair a column of type '{ty}' automatically")]
    UnknownType { object: String, ty: String },
}

/// The plan that brings `actual` back to `model`: the differ's plan from the actual schema
/// (read back into a persistence model) to `model`. Views hold no data, so every view of the
/// model that is missing, differs, or reads a table that changes is (re)created; a view the
/// model does not have is dropped only when destructive changes are allowed (it is a finding
/// like a dropped table or column, a narrowed type or a changed key).
pub fn repair_plan(
    actual: &DatabaseSchema,
    model: &PersistenceModel,
    dialect: Dialect,
    options: DiffOptions,
) -> Result<Plan, RepairError> {
    let deployed = as_model(actual, model, dialect)?;
    Ok(evolve::diff_with(Some(&deployed), model, options))
}

/// The actual schema as a persistence model, named like `model` where it matches (so that the
/// differ, which compares compiler names, sees only real differences). What the catalogs do not
/// show (defaults, element paths) is taken from `model`, and so is a unique constraint's name
/// where the model has one on the same columns.
fn as_model(
    actual: &DatabaseSchema,
    model: &PersistenceModel,
    dialect: Dialect,
) -> Result<PersistenceModel, RepairError> {
    let tables_by_name: HashMap<String, &Table> = model
        .tables
        .iter()
        .map(|t| (stored(dialect, &t.name), t))
        .collect();
    let existing: Vec<String> = model.existing.iter().map(|n| stored(dialect, n)).collect();
    let mut tables = Vec::new();
    for (name, have) in &actual.tables {
        if existing.contains(name) {
            continue;
        }
        let known = tables_by_name.get(name).copied();
        let mut columns = Vec::new();
        for column in &have.columns {
            let known_column = known.and_then(|t| {
                t.columns
                    .iter()
                    .find(|c| stored(dialect, &c.name) == column.name)
            });
            let actual_type = normalize_type(dialect, &column.ty);
            let ty = match known_column {
                Some(c) if catalog_type(dialect, c.ty) == actual_type => c.ty,
                _ => parse_type(dialect, &actual_type).ok_or_else(|| RepairError::UnknownType {
                    object: format!("{name}.{}", column.name),
                    ty: column.ty.clone(),
                })?,
            };
            columns.push(Column {
                name: known_column.map_or_else(|| column.name.clone(), |c| c.name.clone()),
                element: known_column.map_or_else(|| column.name.clone(), |c| c.element.clone()),
                ty,
                not_null: column.not_null,
                default: known_column.and_then(|c| c.default.clone()),
                generated: known_column.and_then(|c| c.generated.clone()),
            });
        }
        let model_name = |stored_name: &String| {
            columns
                .iter()
                .find(|c| stored(dialect, &c.name) == *stored_name)
                .map_or_else(|| stored_name.clone(), |c| c.name.clone())
        };
        let primary_key = have.primary_key.iter().map(model_name).collect();
        let unique = have
            .unique
            .iter()
            .map(|u| {
                let same_columns = known.and_then(|t| {
                    t.unique.iter().find(|k| {
                        k.columns.len() == u.columns.len()
                            && k.columns
                                .iter()
                                .zip(&u.columns)
                                .all(|(a, b)| stored(dialect, a) == *b)
                    })
                });
                same_columns.cloned().unwrap_or_else(|| UniqueConstraint {
                    name: u.name.clone(),
                    columns: u.columns.iter().map(model_name).collect(),
                })
            })
            .collect();
        tables.push(Table {
            name: known.map_or_else(|| name.clone(), |t| t.name.clone()),
            entity: known.map_or_else(|| name.clone(), |t| t.entity.clone()),
            columns,
            primary_key,
            unique,
        });
    }
    // Views: the model's own definition where the database has a view of that name with the
    // same columns (or columns it cannot describe); a stand-in with the actual columns where
    // they differ, so the differ drops and recreates it. The model's order is creation order,
    // which the differ relies on to drop dependents first; views unknown to the model go last
    // (dropped first).
    let mut views = Vec::new();
    for view in &model.views {
        let Some(have) = actual.views.get(&stored(dialect, &view.name)) else {
            continue;
        };
        let same = have.columns.as_ref().is_none_or(|columns| {
            columns.len() == view.columns.len()
                && columns
                    .iter()
                    .zip(&view.columns)
                    .all(|(a, c)| *a == stored(dialect, &c.name))
        });
        let mut view = view.clone();
        if !same {
            view.columns = stand_in_columns(have);
        }
        views.push(view);
    }
    for (name, have) in &actual.views {
        if model
            .views
            .iter()
            .any(|v| stored(dialect, &v.name) == *name)
            || existing.contains(name)
        {
            continue;
        }
        views.push(View {
            name: name.clone(),
            entity: name.clone(),
            distinct: false,
            columns: stand_in_columns(have),
            from: From::Table {
                name: String::new(),
                alias: String::new(),
            },
            filter: None,
            group_by: Vec::new(),
            having: None,
            order_by: Vec::new(),
        });
    }
    Ok(PersistenceModel {
        tables,
        views,
        existing: model.existing.clone(),
    })
}

fn stand_in_columns(view: &DatabaseView) -> Vec<ViewColumn> {
    view.columns
        .iter()
        .flatten()
        .map(|name| ViewColumn {
            name: name.clone(),
            expr: Vec::new(),
        })
        .collect()
}

/// Reads a normalised catalog type back into a column type; `None` for types the sidecar never
/// writes. Where two column types share a catalog type (`timestamp` for `DateTime` and
/// `Timestamp`) the wider one is answered.
pub fn parse_type(dialect: Dialect, normalized: &str) -> Option<ColumnType> {
    let (base, args) = match normalized.split_once('(') {
        Some((base, rest)) => {
            let inner = rest.strip_suffix(')')?;
            let args: Option<Vec<u32>> = inner.split(',').map(|a| a.trim().parse().ok()).collect();
            (base.trim(), args?)
        }
        None => (normalized.trim(), Vec::new()),
    };
    let decimal = |args: &[u32]| ColumnType::Decimal {
        precision: args.first().copied(),
        scale: args.get(1).copied(),
    };
    let ty = match (dialect, base, args.as_slice()) {
        (Dialect::Postgres, "character varying", [n]) => ColumnType::String { length: *n },
        (Dialect::Postgres, "text" | "character varying", []) => ColumnType::LargeString,
        (Dialect::Postgres, "boolean", []) => ColumnType::Boolean,
        (Dialect::Postgres, "smallint", []) => ColumnType::Int16,
        (Dialect::Postgres, "integer", []) => ColumnType::Integer,
        (Dialect::Postgres, "bigint", []) => ColumnType::Int64,
        (Dialect::Postgres, "numeric", a) if a.len() <= 2 => decimal(a),
        (Dialect::Postgres, "double precision", []) => ColumnType::Double,
        (Dialect::Postgres, "date", []) => ColumnType::Date,
        (Dialect::Postgres, "time without time zone", []) => ColumnType::Time,
        (Dialect::Postgres, "timestamp without time zone", []) => ColumnType::Timestamp,
        (Dialect::Postgres, "bytea", []) => ColumnType::LargeBinary,
        (Dialect::Postgres, "jsonb", []) => ColumnType::Map,
        (Dialect::Postgres, "vector", [n]) => ColumnType::Vector { dimensions: *n },
        (Dialect::Sqlite, "NVARCHAR" | "VARCHAR", [n]) => ColumnType::String { length: *n },
        (Dialect::Sqlite, "NCLOB" | "TEXT", []) => ColumnType::LargeString,
        (Dialect::Sqlite, "BOOLEAN", []) => ColumnType::Boolean,
        (Dialect::Sqlite, "TINYINT", []) => ColumnType::UInt8,
        (Dialect::Sqlite, "SMALLINT", []) => ColumnType::Int16,
        (Dialect::Sqlite, "INTEGER" | "INT", []) => ColumnType::Integer,
        (Dialect::Sqlite, "BIGINT", []) => ColumnType::Int64,
        (Dialect::Sqlite, "REAL_DECIMAL" | "DECIMAL", a) if a.len() <= 2 => decimal(a),
        (Dialect::Sqlite, "DOUBLE" | "REAL", []) => ColumnType::Double,
        (Dialect::Sqlite, "DATE_TEXT", []) => ColumnType::Date,
        (Dialect::Sqlite, "TIME_TEXT", []) => ColumnType::Time,
        (Dialect::Sqlite, "DATETIME_TEXT", []) => ColumnType::DateTime,
        (Dialect::Sqlite, "TIMESTAMP_TEXT", []) => ColumnType::Timestamp,
        (Dialect::Sqlite, "BINARY_BLOB", [n]) => ColumnType::Binary { length: *n },
        (Dialect::Sqlite, "BLOB", []) => ColumnType::LargeBinary,
        (Dialect::Sqlite, "JSON_TEXT", []) => ColumnType::Map,
        _ => return None,
    };
    Some(ty)
}
