//! Rendering the persistence model and evolution steps as SQL, per dialect.
//!
//! # Layout
//! - this module: [`Dialect`], the one identifier-quoting function ([`Dialect::ident`] on top
//!   of [`quote_ident`]), column types, expressions, and `CREATE TABLE` / `CREATE VIEW`
//!   ([`create_statements`]);
//! - [`plan`]: the statements that carry out an [`evolve::Plan`](crate::evolve::Plan)
//!   ([`plan_statements`]), including SQLite's table rebuilds.
//!
//! Names: the CAP compiler writes identifiers unquoted. PostgreSQL folds unquoted identifiers
//! to lower case, and CAP's runtime queries unquoted too, so on PostgreSQL we quote the
//! lower-cased name (`"my_bookshop_books"`) and create exactly the objects the compiler's DDL
//! creates. SQLite keeps identifiers as written, so there we quote the original name.

mod plan;
#[cfg(test)]
pub(crate) mod tests;

pub use plan::plan_statements;

use crate::schema::{
    Column, ColumnType, DefaultValue, Expr, From, Literal, PersistenceModel, Table, View,
};

/// The SQL dialects tenant storage speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

/// Quotes an identifier for both dialects (`"` doubled inside), exactly as given.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Dialect {
    /// A table, view, column or constraint name as this dialect must see it to match the
    /// compiler's unquoted DDL: lower-cased on PostgreSQL, as is on SQLite; always quoted.
    pub fn ident(self, name: &str) -> String {
        match self {
            Self::Postgres => quote_ident(&name.to_lowercase()),
            Self::Sqlite => quote_ident(name),
        }
    }

    /// A table or view name, qualified with `schema` when given (`"schema"."name"`). The
    /// schema name is quoted exactly as given: it is ours, not the compiler's.
    pub fn qualified(self, schema: Option<&str>, name: &str) -> String {
        match schema {
            Some(schema) => format!("{}.{}", quote_ident(schema), self.ident(name)),
            None => self.ident(name),
        }
    }

    /// A column type as the compiler renders it for this dialect.
    pub fn column_type(self, ty: ColumnType) -> String {
        let pg = self == Self::Postgres;
        match ty {
            ColumnType::String { length } if pg => format!("VARCHAR({length})"),
            ColumnType::String { length } => format!("NVARCHAR({length})"),
            ColumnType::LargeString => (if pg { "TEXT" } else { "NCLOB" }).into(),
            ColumnType::Boolean => "BOOLEAN".into(),
            ColumnType::UInt8 => (if pg { "SMALLINT" } else { "TINYINT" }).into(),
            ColumnType::Int16 => "SMALLINT".into(),
            ColumnType::Integer => "INTEGER".into(),
            ColumnType::Int64 => "BIGINT".into(),
            ColumnType::Decimal { precision, scale } => {
                let name = if pg { "DECIMAL" } else { "REAL_DECIMAL" };
                match (precision, scale) {
                    (Some(p), Some(s)) => format!("{name}({p}, {s})"),
                    (Some(p), None) => format!("{name}({p})"),
                    _ => name.into(),
                }
            }
            ColumnType::Double => (if pg { "FLOAT8" } else { "DOUBLE" }).into(),
            ColumnType::Date => (if pg { "DATE" } else { "DATE_TEXT" }).into(),
            ColumnType::Time => (if pg { "TIME" } else { "TIME_TEXT" }).into(),
            ColumnType::DateTime => (if pg { "TIMESTAMP" } else { "DATETIME_TEXT" }).into(),
            ColumnType::Timestamp => (if pg { "TIMESTAMP" } else { "TIMESTAMP_TEXT" }).into(),
            ColumnType::Binary { .. } if pg => "BYTEA".into(),
            ColumnType::Binary { length } => format!("BINARY_BLOB({length})"),
            ColumnType::LargeBinary => (if pg { "BYTEA" } else { "BLOB" }).into(),
            // SQLite stores a vector as 4-byte floats plus a 4-byte dimension count.
            ColumnType::Vector { dimensions } if pg => format!("VECTOR({dimensions})"),
            ColumnType::Vector { dimensions } => format!("BLOB({})", dimensions * 4 + 4),
            ColumnType::Map => (if pg { "JSONB" } else { "JSON_TEXT" }).into(),
        }
    }

    /// `name TYPE [GENERATED ALWAYS AS (expr) STORED] [NOT NULL] [DEFAULT value]`, as in
    /// `CREATE TABLE` and `ADD COLUMN`.
    pub fn column_definition(self, column: &Column) -> String {
        let mut sql = format!(
            "{} {}",
            self.ident(&column.name),
            self.column_type(column.ty)
        );
        if let Some(expression) = &column.generated {
            sql.push_str(&format!(
                " GENERATED ALWAYS AS ({}) STORED",
                self.expr(expression, None)
            ));
        }
        if column.not_null {
            sql.push_str(" NOT NULL");
        }
        if let Some(default) = &column.default {
            sql.push_str(" DEFAULT ");
            sql.push_str(&self.default_value(default));
        }
        sql
    }

    /// A default value.
    pub fn default_value(self, default: &DefaultValue) -> String {
        match default {
            DefaultValue::Literal(literal) => render_literal(literal),
            DefaultValue::CurrentTimestamp => match self {
                Self::Postgres => "current_timestamp".into(),
                Self::Sqlite => "CURRENT_TIMESTAMP".into(),
            },
        }
    }

    /// A session variable as the compiler renders it.
    fn variable(self, name: &str) -> String {
        match (self, name) {
            (Self::Postgres, "$user.locale") => "current_setting('cap.locale')".into(),
            (Self::Postgres, "$user.id" | "$user") => {
                "current_setting('cap.applicationuser')".into()
            }
            (Self::Postgres, "$tenant") => "current_setting('cap.tenant')".into(),
            (Self::Postgres, "$now") => "current_setting('cap.now')::timestamp".into(),
            (Self::Postgres, "$at.from" | "$valid.from") => {
                "current_setting('cap.valid_from')::timestamp".into()
            }
            (Self::Postgres, "$at.to" | "$valid.to") => {
                "current_setting('cap.valid_to')::timestamp".into()
            }
            (Self::Sqlite, "$user") => "session_context( '$user.id' )".into(),
            (Self::Sqlite, "$at.from") => "session_context( '$valid.from' )".into(),
            (Self::Sqlite, "$at.to") => "session_context( '$valid.to' )".into(),
            (Self::Sqlite, other) => format!("session_context( '{other}' )"),
            (Self::Postgres, other) => format!("current_setting('cap.{}')", &other[1..]),
        }
    }

    /// An expression: tokens separated by spaces; tables of subqueries qualified with `schema`.
    pub fn expr(self, tokens: &[Expr], schema: Option<&str>) -> String {
        tokens
            .iter()
            .map(|t| self.token(t, schema))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn token(self, token: &Expr, schema: Option<&str>) -> String {
        match token {
            Expr::Column { alias, name } => format!("{}.{}", self.ident(alias), self.ident(name)),
            Expr::OwnColumn(name) => self.ident(name),
            Expr::Literal(literal) => render_literal(literal),
            Expr::Keyword(word) => word.clone(),
            Expr::Func { name, args } => format!(
                "{name}({})",
                args.iter()
                    .map(|a| self.expr(a, schema))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Expr::Group(inner) => format!("({})", self.expr(inner, schema)),
            Expr::List(items) => format!(
                "({})",
                items
                    .iter()
                    .map(|a| self.expr(a, schema))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Expr::Cast { expr, ty } => {
                format!(
                    "CAST({} AS {})",
                    self.expr(expr, schema),
                    self.column_type(*ty)
                )
            }
            Expr::Variable(name) => self.variable(name),
            // The compiler's rendering of `exists <association>` (it indents the subquery; the
            // whitespace is not ours to match).
            Expr::Exists { source, filter } => format!(
                "EXISTS (SELECT 1 AS dummy FROM {} AS {} WHERE {})",
                self.qualified(schema, &source.name),
                self.ident(&source.alias),
                self.expr(filter, schema)
            ),
        }
    }

    /// A `FROM` clause: `name AS alias`, or nested `(left LEFT JOIN right AS alias ON …)`.
    fn from(self, from: &From, schema: Option<&str>) -> String {
        match from {
            From::Table { name, alias } => {
                format!("{} AS {}", self.qualified(schema, name), self.ident(alias))
            }
            From::LeftJoin { left, right, on } => format!(
                "({} LEFT JOIN {} AS {} ON {})",
                self.from(left, schema),
                self.qualified(schema, &right.name),
                self.ident(&right.alias),
                self.expr(on, schema)
            ),
        }
    }
}

/// A literal: numbers as written, strings single-quoted with `'` doubled, booleans upper case.
pub fn render_literal(literal: &Literal) -> String {
    match literal {
        Literal::Null => "NULL".into(),
        Literal::Bool(true) => "TRUE".into(),
        Literal::Bool(false) => "FALSE".into(),
        Literal::Number(n) => n.clone(),
        Literal::String(s) => format!("'{}'", s.replace('\'', "''")),
    }
}

/// `CREATE TABLE` / `CREATE VIEW` statements for a whole model (tables first, then views in
/// dependency order), schema-qualified when `schema` is given. Statements carry no trailing
/// `;`.
pub fn create_statements(
    model: &PersistenceModel,
    dialect: Dialect,
    schema: Option<&str>,
) -> Vec<String> {
    let tables = model
        .tables
        .iter()
        .map(|t| create_table(t, dialect, schema));
    let views = model.views.iter().map(|v| create_view(v, dialect, schema));
    tables.chain(views).collect()
}

/// `CREATE TABLE name (columns, PRIMARY KEY(…), CONSTRAINT … UNIQUE (…))`.
pub fn create_table(table: &Table, dialect: Dialect, schema: Option<&str>) -> String {
    create_table_named(table, &table.name, dialect, schema)
}

/// Like [`create_table`], under another name (SQLite rebuilds create the new table aside).
pub(crate) fn create_table_named(
    table: &Table,
    name: &str,
    dialect: Dialect,
    schema: Option<&str>,
) -> String {
    let mut lines: Vec<String> = table
        .columns
        .iter()
        .map(|c| dialect.column_definition(c))
        .collect();
    if !table.primary_key.is_empty() {
        lines.push(format!(
            "PRIMARY KEY({})",
            ident_list(dialect, &table.primary_key)
        ));
    }
    for unique in &table.unique {
        lines.push(format!(
            "CONSTRAINT {} UNIQUE ({})",
            dialect.ident(&unique.name),
            ident_list(dialect, &unique.columns)
        ));
    }
    format!(
        "CREATE TABLE {} (\n  {}\n)",
        dialect.qualified(schema, name),
        lines.join(",\n  ")
    )
}

pub(crate) fn ident_list(dialect: Dialect, names: &[String]) -> String {
    names
        .iter()
        .map(|n| dialect.ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `CREATE VIEW name AS SELECT … FROM source AS alias [WHERE …]`, like the compiler.
pub fn create_view(view: &View, dialect: Dialect, schema: Option<&str>) -> String {
    let columns: Vec<String> = view
        .columns
        .iter()
        .map(|c| {
            let expr = dialect.expr(&c.expr, schema);
            match c.expr.as_slice() {
                [Expr::Column { name, .. }] if *name == c.name => expr,
                _ => format!("{expr} AS {}", dialect.ident(&c.name)),
            }
        })
        .collect();
    let from = dialect.from(&view.from, schema);
    let mut sql = format!(
        "CREATE VIEW {} AS SELECT{}\n  {}\nFROM {from}",
        dialect.qualified(schema, &view.name),
        if view.distinct { " DISTINCT" } else { "" },
        columns.join(",\n  ")
    );
    if let Some(filter) = &view.filter {
        sql.push_str(&format!("\nWHERE {}", dialect.expr(filter, schema)));
    }
    if !view.group_by.is_empty() {
        let items: Vec<String> = view
            .group_by
            .iter()
            .map(|g| dialect.expr(g, schema))
            .collect();
        sql.push_str(&format!("\nGROUP BY {}", items.join(", ")));
    }
    if let Some(having) = &view.having {
        sql.push_str(&format!("\nHAVING {}", dialect.expr(having, schema)));
    }
    if !view.order_by.is_empty() {
        let items: Vec<String> = view
            .order_by
            .iter()
            .map(|o| {
                let expr = dialect.expr(&o.expr, schema);
                if o.descending {
                    format!("{expr} DESC")
                } else {
                    expr
                }
            })
            .collect();
        sql.push_str(&format!("\nORDER BY {}", items.join(", ")));
    }
    sql
}
