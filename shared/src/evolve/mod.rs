//! Schema evolution: the ordered steps from a deployed model to a target model.
//!
//! [`diff`] is a pure function of two [`PersistenceModel`]s. Every change is classified:
//! - safe: new tables, columns, unique constraints, views; widened types (longer strings,
//!   `Integer` → `Int64`, more decimal digits, `String` → `LargeString`); relaxed `NOT NULL`;
//!   changed defaults;
//! - destructive: a dropped table, column or view, a narrowed or incompatible type, a changed
//!   primary key. Each becomes a [`Finding`] naming entity, element and old → new. A plan
//!   with findings has **no steps** (the whole plan is refused) unless
//!   [`DiffOptions::allow_destructive`] is set, in which case the findings become steps too.
//!
//! Steps are dialect-neutral; [`crate::sql::plan_statements`] renders them (SQLite rebuilds a
//! table where it cannot `ALTER` it, keeping every row).
//!
//! Adding a `NOT NULL` column without a default, or making a column `NOT NULL` without a
//! default, is planned as such: the database refuses it when the table has rows that would
//! violate it (and the deployment's transaction rolls back), and accepts it on empty tables.

#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashSet;
use std::fmt;

use crate::schema::{
    Column, ColumnType, DefaultValue, PersistenceModel, Table, UniqueConstraint, View,
};

/// What it takes to go from one persistence model to another.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// The steps in execution order (see [`Step`]).
    pub steps: Vec<Step>,
    /// Changes that would lose data. When not explicitly allowed, a plan with findings has no
    /// steps: it is refused as a whole.
    pub destructive: Vec<Finding>,
}

impl Plan {
    /// Nothing to do (also true for a refused plan: check [`Plan::is_refused`]).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The plan has destructive findings and was not allowed to carry them out.
    pub fn is_refused(&self) -> bool {
        !self.destructive.is_empty() && self.steps.is_empty()
    }
}

/// Options of [`diff_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffOptions {
    /// Turn destructive findings into steps instead of refusing the plan.
    pub allow_destructive: bool,
}

/// One step of a plan.
///
/// The order of the variants is the execution order, and [`diff`] emits steps sorted by it:
/// views that are removed or read something that changes are dropped first (dependents
/// before their sources), then tables are dropped (only when allowed), created and altered,
/// and finally views are (re)created, each after the views it reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    DropView { name: String, entity: String },
    DropTable { name: String, entity: String },
    CreateTable(Table),
    AlterTable(TableAlteration),
    CreateView(View),
}

/// The changes to one table, with its definition before and after (SQLite rebuilds a table
/// from `after`).
#[derive(Debug, Clone, PartialEq)]
pub struct TableAlteration {
    pub before: Table,
    pub after: Table,
    /// Sorted by variant order, which is the execution order.
    pub changes: Vec<Change>,
}

/// One change to a table. The order of the variants is the execution order within a table:
/// constraints that go away are dropped before columns change, new ones are added last.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    DropUnique {
        name: String,
    },
    DropPrimaryKey {
        columns: Vec<String>,
    },
    /// Destructive.
    DropColumn {
        column: String,
    },
    AddColumn {
        column: Column,
    },
    /// `widening: false` means narrowing or incompatible (destructive, allowed).
    AlterType {
        column: String,
        from: ColumnType,
        to: ColumnType,
        widening: bool,
    },
    SetDefault {
        column: String,
        default: Option<DefaultValue>,
    },
    DropNotNull {
        column: String,
    },
    /// Existing `NULL`s are replaced by `backfill` (the column's new default) first.
    SetNotNull {
        column: String,
        backfill: Option<DefaultValue>,
    },
    AddPrimaryKey {
        columns: Vec<String>,
    },
    AddUnique(UniqueConstraint),
}

/// A destructive change, naming the entity and (when it is about one) the element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub entity: String,
    pub element: Option<String>,
    pub kind: FindingKind,
}

/// What a destructive change would lose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingKind {
    TableDropped {
        table: String,
    },
    ViewDropped {
        view: String,
    },
    ColumnDropped {
        column: String,
    },
    LengthReduced {
        from: u32,
        to: u32,
    },
    TypeNarrowed {
        from: ColumnType,
        to: ColumnType,
    },
    TypeIncompatible {
        from: ColumnType,
        to: ColumnType,
    },
    PrimaryKeyChanged {
        from: Vec<String>,
        to: Vec<String>,
    },
    /// A column became, stopped being or changed as a stored calculated element: it is
    /// recreated, so values written before may be lost.
    CalculationChanged {
        column: String,
    },
}

impl fmt::Display for Finding {
    /// `my.bookshop.Books.title: length reduction 111 → 50`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.element {
            Some(element) => write!(f, "{}.{element}: ", self.entity)?,
            None => write!(f, "{}: ", self.entity)?,
        }
        match &self.kind {
            FindingKind::TableDropped { table } => write!(f, "table {table} dropped"),
            FindingKind::ViewDropped { view } => write!(f, "view {view} dropped"),
            FindingKind::ColumnDropped { column } => write!(f, "column {column} dropped"),
            FindingKind::LengthReduced { from, to } => {
                write!(f, "length reduction {from} → {to}")
            }
            FindingKind::TypeNarrowed { from, to } => write!(f, "type narrowing {from} → {to}"),
            FindingKind::TypeIncompatible { from, to } => {
                write!(f, "incompatible type change {from} → {to}")
            }
            FindingKind::CalculationChanged { column } => {
                write!(
                    f,
                    "stored calculation of column {column} changed (column recreated)"
                )
            }
            FindingKind::PrimaryKeyChanged { from, to } => write!(
                f,
                "primary key change ({}) → ({})",
                from.join(", "),
                to.join(", ")
            ),
        }
    }
}

/// Computes the plan from `deployed` (`None`: nothing deployed yet) to `target`, refusing
/// destructive changes (see [`diff_with`]).
pub fn diff(deployed: Option<&PersistenceModel>, target: &PersistenceModel) -> Plan {
    diff_with(deployed, target, DiffOptions::default())
}

/// Computes the plan from `deployed` to `target`. Steps come sorted in execution order.
pub fn diff_with(
    deployed: Option<&PersistenceModel>,
    target: &PersistenceModel,
    options: DiffOptions,
) -> Plan {
    let empty = PersistenceModel::default();
    let deployed = deployed.unwrap_or(&empty);
    let mut findings = Vec::new();

    let mut drop_tables = Vec::new();
    let mut create_tables = Vec::new();
    let mut alter_tables = Vec::new();
    // Tables whose change forces the views reading them to be recreated.
    let mut touched: HashSet<&str> = HashSet::new();

    for before in &deployed.tables {
        match target.table(&before.name) {
            Some(after) => {
                if let Some(alteration) = alter_table(before, after, &mut findings) {
                    touched.insert(&before.name);
                    alter_tables.push(Step::AlterTable(alteration));
                }
            }
            // Declared `@cds.persistence.exists` now: someone else owns it; leave it alone.
            None if target.existing.contains(&before.name) => {}
            None => {
                findings.push(Finding {
                    entity: before.entity.clone(),
                    element: None,
                    kind: FindingKind::TableDropped {
                        table: before.name.clone(),
                    },
                });
                touched.insert(&before.name);
                drop_tables.push(Step::DropTable {
                    name: before.name.clone(),
                    entity: before.entity.clone(),
                });
            }
        }
    }
    for after in &target.tables {
        if deployed.table(&after.name).is_none() {
            create_tables.push(Step::CreateTable(after.clone()));
        }
    }

    // Views: deployed views are in creation order, so a view's sources come before it and
    // one forward pass finds every view that reads (transitively) something that changes.
    let mut dropped_views: HashSet<&str> = HashSet::new();
    for view in &deployed.views {
        let changed = match target.view(&view.name) {
            Some(new) => new != view,
            None => {
                if !view.entity.starts_with("localized.") {
                    findings.push(Finding {
                        entity: view.entity.clone(),
                        element: None,
                        kind: FindingKind::ViewDropped {
                            view: view.name.clone(),
                        },
                    });
                }
                true
            }
        };
        let reads_changed = view
            .sources()
            .iter()
            .any(|s| touched.contains(s) || dropped_views.contains(s));
        if changed || reads_changed {
            dropped_views.insert(&view.name);
        }
    }
    let drop_views = deployed
        .views
        .iter()
        .rev()
        .filter(|v| dropped_views.contains(v.name.as_str()))
        .map(|v| Step::DropView {
            name: v.name.clone(),
            entity: v.entity.clone(),
        });
    let create_views = target
        .views
        .iter()
        .filter(|v| deployed.view(&v.name).is_none() || dropped_views.contains(v.name.as_str()))
        .map(|v| Step::CreateView(v.clone()));

    if !findings.is_empty() && !options.allow_destructive {
        return Plan {
            steps: Vec::new(),
            destructive: findings,
        };
    }
    let steps = drop_views
        .chain(drop_tables)
        .chain(create_tables)
        .chain(alter_tables)
        .chain(create_views)
        .collect();
    Plan {
        steps,
        destructive: findings,
    }
}

/// The changes from `before` to `after` (same table name), recording destructive ones.
fn alter_table(
    before: &Table,
    after: &Table,
    findings: &mut Vec<Finding>,
) -> Option<TableAlteration> {
    let mut changes = Vec::new();
    let finding = |column: &Column, kind| Finding {
        entity: after.entity.clone(),
        element: Some(column.element.clone()),
        kind,
    };

    for old in &before.columns {
        let Some(new) = after.column(&old.name) else {
            findings.push(finding(
                old,
                FindingKind::ColumnDropped {
                    column: old.name.clone(),
                },
            ));
            changes.push(Change::DropColumn {
                column: old.name.clone(),
            });
            continue;
        };
        if old.generated != new.generated {
            findings.push(finding(
                new,
                FindingKind::CalculationChanged {
                    column: new.name.clone(),
                },
            ));
            changes.push(Change::DropColumn {
                column: old.name.clone(),
            });
            changes.push(Change::AddColumn {
                column: new.clone(),
            });
            continue;
        }
        if old.ty != new.ty {
            let widening = match classify_type_change(old.ty, new.ty) {
                Ok(()) => true,
                Err(kind) => {
                    findings.push(finding(new, kind));
                    false
                }
            };
            changes.push(Change::AlterType {
                column: new.name.clone(),
                from: old.ty,
                to: new.ty,
                widening,
            });
        }
        if old.default != new.default {
            changes.push(Change::SetDefault {
                column: new.name.clone(),
                default: new.default.clone(),
            });
        }
        match (old.not_null, new.not_null) {
            (true, false) => changes.push(Change::DropNotNull {
                column: new.name.clone(),
            }),
            (false, true) => changes.push(Change::SetNotNull {
                column: new.name.clone(),
                backfill: new.default.clone(),
            }),
            _ => {}
        }
    }
    for new in &after.columns {
        if before.column(&new.name).is_none() {
            changes.push(Change::AddColumn {
                column: new.clone(),
            });
        }
    }
    if before.primary_key != after.primary_key {
        findings.push(Finding {
            entity: after.entity.clone(),
            element: None,
            kind: FindingKind::PrimaryKeyChanged {
                from: before.primary_key.clone(),
                to: after.primary_key.clone(),
            },
        });
        if !before.primary_key.is_empty() {
            changes.push(Change::DropPrimaryKey {
                columns: before.primary_key.clone(),
            });
        }
        if !after.primary_key.is_empty() {
            changes.push(Change::AddPrimaryKey {
                columns: after.primary_key.clone(),
            });
        }
    }
    for old in &before.unique {
        if after.unique.iter().all(|u| u != old) {
            changes.push(Change::DropUnique {
                name: old.name.clone(),
            });
        }
    }
    for new in &after.unique {
        if before.unique.iter().all(|u| u != new) {
            changes.push(Change::AddUnique(new.clone()));
        }
    }
    if changes.is_empty() {
        return None;
    }
    changes.sort_by_key(Change::order);
    Some(TableAlteration {
        before: before.clone(),
        after: after.clone(),
        changes,
    })
}

impl Change {
    /// The position of the variant, which is the execution order.
    fn order(&self) -> u8 {
        match self {
            Self::DropUnique { .. } => 0,
            Self::DropPrimaryKey { .. } => 1,
            Self::DropColumn { .. } => 2,
            Self::AddColumn { .. } => 3,
            Self::AlterType { .. } => 4,
            Self::SetDefault { .. } => 5,
            Self::DropNotNull { .. } => 6,
            Self::SetNotNull { .. } => 7,
            Self::AddPrimaryKey { .. } => 8,
            Self::AddUnique(_) => 9,
        }
    }
}

/// `Ok` when every value of `from` fits `to` unchanged; otherwise what would be lost.
pub fn classify_type_change(from: ColumnType, to: ColumnType) -> Result<(), FindingKind> {
    use ColumnType as T;
    let narrowed = Err(FindingKind::TypeNarrowed { from, to });
    let integer_digits = |t: ColumnType| match t {
        T::UInt8 => Some(3),
        T::Int16 => Some(5),
        T::Integer => Some(10),
        T::Int64 => Some(19),
        _ => None,
    };
    match (from, to) {
        (T::String { length: a }, T::String { length: b })
        | (T::Binary { length: a }, T::Binary { length: b }) => {
            if b >= a {
                Ok(())
            } else {
                Err(FindingKind::LengthReduced { from: a, to: b })
            }
        }
        (T::String { .. }, T::LargeString) | (T::Binary { .. }, T::LargeBinary) => Ok(()),
        (T::DateTime, T::Timestamp) => Ok(()),
        (
            T::Decimal { .. },
            T::Decimal {
                precision: None, ..
            },
        ) => Ok(()),
        (
            T::Decimal {
                precision: Some(p1),
                scale: s1,
            },
            T::Decimal {
                precision: Some(p2),
                scale: s2,
            },
        ) => {
            let (s1, s2) = (s1.unwrap_or(0), s2.unwrap_or(0));
            if s2 >= s1 && p2.saturating_sub(s2) >= p1.saturating_sub(s1) {
                Ok(())
            } else {
                narrowed
            }
        }
        (T::Decimal { .. }, T::Decimal { .. }) => narrowed,
        (a, b) => match (integer_digits(a), integer_digits(b)) {
            (Some(x), Some(y)) if y >= x => Ok(()),
            (Some(_), Some(_)) => narrowed,
            (Some(x), None) => match b {
                T::Decimal {
                    precision: Some(p),
                    scale,
                } if p.saturating_sub(scale.unwrap_or(0)) >= x => Ok(()),
                T::Decimal {
                    precision: None, ..
                } => Ok(()),
                // A double holds every integer up to 2^53 exactly.
                T::Double if x < 19 => Ok(()),
                T::Decimal { .. } | T::Double => narrowed,
                _ => Err(FindingKind::TypeIncompatible { from, to }),
            },
            _ => Err(FindingKind::TypeIncompatible { from, to }),
        },
    }
}
