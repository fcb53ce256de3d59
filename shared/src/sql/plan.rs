//! Rendering an evolution plan as statements for one dialect.
//!
//! PostgreSQL alters tables in place (`ALTER TABLE … ADD COLUMN / ALTER COLUMN … TYPE /
//! SET DEFAULT / SET NOT NULL / ADD CONSTRAINT …`). SQLite can only add nullable or defaulted
//! columns in place; for anything else it rebuilds the table: create the new definition under
//! a temporary name, copy every row, drop the old table, rename the new one. The caller runs
//! the statements in one transaction.

use super::{Dialect, create_table, create_table_named, create_view, ident_list};
use crate::evolve::{Change, Plan, Step, TableAlteration};

/// Suffix of the table a SQLite rebuild creates before it takes the old table's name.
const REBUILD_SUFFIX: &str = "__mtx_rebuild";

/// The statements that carry out an evolution plan, in order, schema-qualified when `schema`
/// is given. Statements carry no trailing `;`.
pub fn plan_statements(plan: &Plan, dialect: Dialect, schema: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for step in &plan.steps {
        match step {
            Step::DropView { name, .. } => {
                out.push(format!("DROP VIEW {}", dialect.qualified(schema, name)));
            }
            Step::DropTable { name, .. } => {
                out.push(format!("DROP TABLE {}", dialect.qualified(schema, name)));
            }
            Step::CreateTable(table) => out.push(create_table(table, dialect, schema)),
            Step::AlterTable(alteration) => match dialect {
                Dialect::Postgres => alter_postgres(alteration, schema, &mut out),
                Dialect::Sqlite => alter_sqlite(alteration, schema, &mut out),
            },
            Step::CreateView(view) => out.push(create_view(view, dialect, schema)),
        }
    }
    out
}

fn alter_postgres(a: &TableAlteration, schema: Option<&str>, out: &mut Vec<String>) {
    let d = Dialect::Postgres;
    let table = d.qualified(schema, &a.after.name);
    let alter = |what: String| format!("ALTER TABLE {table} {what}");
    for change in &a.changes {
        match change {
            Change::DropUnique { name } => {
                out.push(alter(format!("DROP CONSTRAINT {}", d.ident(name))));
            }
            Change::DropPrimaryKey { .. } => {
                // PostgreSQL names a table's primary key `<table>_pkey`.
                let name = format!("{}_pkey", a.before.name);
                out.push(alter(format!("DROP CONSTRAINT {}", d.ident(&name))));
            }
            Change::DropColumn { column } => {
                out.push(alter(format!("DROP COLUMN {}", d.ident(column))));
            }
            Change::AddColumn { column } => {
                // With a default, PostgreSQL fills existing rows with it (also for NOT NULL).
                out.push(alter(format!("ADD COLUMN {}", d.column_definition(column))));
            }
            Change::AlterType {
                column,
                to,
                widening,
                ..
            } => {
                let ty = d.column_type(*to);
                let mut sql = format!("ALTER COLUMN {} TYPE {ty}", d.ident(column));
                if !widening {
                    sql.push_str(&format!(" USING {}::{ty}", d.ident(column)));
                }
                out.push(alter(sql));
            }
            Change::SetDefault { column, default } => out.push(alter(match default {
                Some(value) => format!(
                    "ALTER COLUMN {} SET DEFAULT {}",
                    d.ident(column),
                    d.default_value(value)
                ),
                None => format!("ALTER COLUMN {} DROP DEFAULT", d.ident(column)),
            })),
            Change::DropNotNull { column } => {
                out.push(alter(format!(
                    "ALTER COLUMN {} DROP NOT NULL",
                    d.ident(column)
                )));
            }
            Change::SetNotNull { column, backfill } => {
                if let Some(value) = backfill {
                    out.push(format!(
                        "UPDATE {table} SET {c} = {v} WHERE {c} IS NULL",
                        c = d.ident(column),
                        v = d.default_value(value)
                    ));
                }
                out.push(alter(format!(
                    "ALTER COLUMN {} SET NOT NULL",
                    d.ident(column)
                )));
            }
            Change::AddPrimaryKey { columns } => {
                out.push(alter(format!(
                    "ADD PRIMARY KEY ({})",
                    ident_list(d, columns)
                )));
            }
            Change::AddUnique(unique) => out.push(alter(format!(
                "ADD CONSTRAINT {} UNIQUE ({})",
                d.ident(&unique.name),
                ident_list(d, &unique.columns)
            ))),
        }
    }
}

fn alter_sqlite(a: &TableAlteration, schema: Option<&str>, out: &mut Vec<String>) {
    let d = Dialect::Sqlite;
    // SQLite's ADD COLUMN takes neither key columns, NOT NULL columns without a default nor
    // STORED generated columns.
    let in_place = a.changes.iter().all(|c| match c {
        Change::AddColumn { column } => {
            (!column.not_null || column.default.is_some())
                && !a.after.primary_key.contains(&column.name)
                && column.generated.is_none()
        }
        _ => false,
    });
    if in_place {
        for change in &a.changes {
            if let Change::AddColumn { column } = change {
                out.push(format!(
                    "ALTER TABLE {} ADD COLUMN {}",
                    d.qualified(schema, &a.after.name),
                    d.column_definition(column)
                ));
            }
        }
        return;
    }
    // Rebuild. Columns of `after` that existed before are copied (NULLs replaced by the new
    // default where the column becomes NOT NULL); new columns take their default, generated
    // ones are computed again.
    let temporary = format!("{}{REBUILD_SUFFIX}", a.after.name);
    let mut targets = Vec::new();
    let mut values = Vec::new();
    for column in &a.after.columns {
        if a.before.column(&column.name).is_none() || column.generated.is_some() {
            continue;
        }
        let backfill = a.changes.iter().find_map(|c| match c {
            Change::SetNotNull {
                column: name,
                backfill: Some(value),
            } if *name == column.name => Some(value),
            _ => None,
        });
        targets.push(d.ident(&column.name));
        values.push(match backfill {
            Some(value) => format!(
                "coalesce({}, {})",
                d.ident(&column.name),
                d.default_value(value)
            ),
            None => d.ident(&column.name),
        });
    }
    out.push(create_table_named(&a.after, &temporary, d, schema));
    if !targets.is_empty() {
        out.push(format!(
            "INSERT INTO {} ({}) SELECT {} FROM {}",
            d.qualified(schema, &temporary),
            targets.join(", "),
            values.join(", "),
            d.qualified(schema, &a.before.name)
        ));
    }
    out.push(format!(
        "DROP TABLE {}",
        d.qualified(schema, &a.before.name)
    ));
    out.push(format!(
        "ALTER TABLE {} RENAME TO {}",
        d.qualified(schema, &temporary),
        d.ident(&a.after.name)
    ));
}
