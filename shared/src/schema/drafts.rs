//! Draft tables: what `@odata.draft.enabled` adds to the database.
//!
//! Like the compiler, every draft-enabled service entity, and every entity its compositions
//! reach (unless marked `@odata.draft.enabled: false`, as `.texts` entities are), gets a
//! `<entity>_drafts` table: the entity's columns, all nullable but the key, followed by
//! `IsActiveEntity`, `HasActiveEntity`, `HasDraftEntity` and
//! `DraftAdministrativeData_DraftUUID`. The model then has one `DRAFT_DraftAdministrativeData`
//! table, and each service with drafts a `<service>_DraftAdministrativeData` view on it.

use serde_json::Value;

use super::tables::table;
use super::{Column, ColumnType, Expr, From, SchemaError, Table, View, ViewColumn, sql_name};
use crate::csn::{Csn, is_set};

const DRAFT_ENABLED: &str = "@odata.draft.enabled";
/// The CDS name of the administrative data table, as the compiler generates it.
const ADMINISTRATIVE_DATA: &str = "DRAFT.DraftAdministrativeData";
const ADMINISTRATIVE_DATA_KEY: &str = "DraftUUID";

/// The draft tables and administrative-data views of a model; `entities` are the service
/// entities that reach the database, in model order.
pub(super) fn drafts(
    csn: &Csn,
    entities: &[String],
) -> Result<(Vec<Table>, Vec<View>), SchemaError> {
    let drafted = drafted_entities(csn, entities);
    if drafted.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut tables = Vec::new();
    for name in &drafted {
        tables.push(draft_table(csn, name)?);
    }
    let administrative = administrative_data();
    let mut services: Vec<&str> = Vec::new();
    for name in &drafted {
        if let Some(service) = service_of(csn, name)
            && !services.contains(&service)
        {
            services.push(service);
        }
    }
    let views = services
        .into_iter()
        .map(|service| administrative_view(service, &administrative))
        .collect();
    tables.push(administrative);
    Ok((tables, views))
}

/// Draft-enabled entities and, transitively, the targets of their compositions, in model
/// order.
fn drafted_entities<'a>(csn: &Csn, entities: &'a [String]) -> Vec<&'a str> {
    let mut drafted: Vec<&str> = entities
        .iter()
        .filter(|name| {
            csn.definition(name)
                .is_some_and(|d| is_set(d.get(DRAFT_ENABLED)))
        })
        .map(String::as_str)
        .collect();
    let mut i = 0;
    while i < drafted.len() {
        let elements = csn
            .definition(drafted[i])
            .and_then(|d| d.get("elements"))
            .and_then(Value::as_object);
        for element in elements.into_iter().flat_map(|e| e.values()) {
            if element.get("type").and_then(Value::as_str) != Some("cds.Composition") {
                continue;
            }
            let Some(target) = element.get("target").and_then(Value::as_str) else {
                continue;
            };
            let opted_out = csn.definition(target).and_then(|d| d.get(DRAFT_ENABLED))
                == Some(&Value::Bool(false));
            if let Some(known) = entities.iter().find(|e| *e == target)
                && !opted_out
                && !drafted.contains(&known.as_str())
            {
                drafted.push(known);
            }
        }
        i += 1;
    }
    let mut ordered: Vec<&str> = entities
        .iter()
        .map(String::as_str)
        .filter(|e| drafted.contains(e))
        .collect();
    ordered.dedup();
    ordered
}

/// `<entity>_drafts`: the entity's columns, nullable but the key, and the draft columns.
fn draft_table(csn: &Csn, name: &str) -> Result<Table, SchemaError> {
    let mut draft = table(csn, name)?;
    for column in &mut draft.columns {
        if !draft.primary_key.contains(&column.name) {
            column.not_null = false;
        }
    }
    for flag in ["IsActiveEntity", "HasActiveEntity", "HasDraftEntity"] {
        draft
            .columns
            .push(draft_column(flag, ColumnType::Boolean, false));
    }
    draft.columns.push(draft_column(
        &format!("DraftAdministrativeData_{ADMINISTRATIVE_DATA_KEY}"),
        ColumnType::String { length: 36 },
        true,
    ));
    draft.name = format!("{}_drafts", draft.name);
    draft.entity = format!("{name}.drafts");
    draft.unique.clear();
    Ok(draft)
}

fn draft_column(name: &str, ty: ColumnType, not_null: bool) -> Column {
    Column {
        name: name.into(),
        element: name.into(),
        ty,
        not_null,
        default: None,
        generated: None,
    }
}

/// `DRAFT_DraftAdministrativeData`, exactly as the compiler generates it.
fn administrative_data() -> Table {
    let user = ColumnType::String { length: 256 };
    let columns = [
        (ADMINISTRATIVE_DATA_KEY, ColumnType::String { length: 36 }),
        ("CreationDateTime", ColumnType::Timestamp),
        ("CreatedByUser", user),
        ("CreatedByUserDescription", user),
        ("DraftIsCreatedByMe", ColumnType::Boolean),
        ("LastChangeDateTime", ColumnType::Timestamp),
        ("LastChangedByUser", user),
        ("LastChangedByUserDescription", user),
        ("InProcessByUser", user),
        ("InProcessByUserDescription", user),
        ("DraftIsProcessedByMe", ColumnType::Boolean),
        ("DraftMessages", ColumnType::LargeString),
    ];
    Table {
        name: sql_name(ADMINISTRATIVE_DATA),
        entity: ADMINISTRATIVE_DATA.into(),
        columns: columns
            .into_iter()
            .map(|(name, ty)| draft_column(name, ty, name == ADMINISTRATIVE_DATA_KEY))
            .collect(),
        primary_key: vec![ADMINISTRATIVE_DATA_KEY.into()],
        unique: Vec::new(),
    }
}

/// `<service>_DraftAdministrativeData`: every column of the table; the compiler aliases the
/// table by its bare name here (no `_0`).
fn administrative_view(service: &str, table: &Table) -> View {
    let alias = "DraftAdministrativeData";
    let entity = format!("{service}.{alias}");
    View {
        name: sql_name(&entity),
        entity,
        distinct: false,
        columns: table
            .columns
            .iter()
            .map(|c| ViewColumn {
                name: c.name.clone(),
                expr: vec![Expr::Column {
                    alias: alias.into(),
                    name: c.name.clone(),
                }],
            })
            .collect(),
        from: From::Table {
            name: table.name.clone(),
            alias: alias.into(),
        },
        filter: None,
        group_by: Vec::new(),
        having: None,
        order_by: Vec::new(),
    }
}

/// The service an entity is defined in (the longest service name that prefixes it).
fn service_of<'a>(csn: &'a Csn, entity: &str) -> Option<&'a str> {
    csn.definitions
        .iter()
        .filter(|(name, def)| {
            def.get("kind").and_then(Value::as_str) == Some("service")
                && entity.starts_with(&format!("{name}."))
        })
        .map(|(name, _)| name.as_str())
        .max_by_key(|name| name.len())
}
