//! The compiler's draft transformation for OData, on a copy of the CSN: every
//! `@odata.draft.enabled` entity of the service (a draft root) and the entities its
//! compositions reach (draft nodes) get the draft elements (`IsActiveEntity`, …,
//! `DraftAdministrativeData`, `SiblingEntity`, `DraftMessages`), the draft actions and the
//! Fiori annotations; the service gets its `DraftAdministrativeData` entity.

use serde_json::{Map, Value, json};

use crate::csn::Csn;

/// Marks a definition that gets an entity type but no entity set (a containment target).
pub(super) const CONTAINED: &str = "$edmx.contained";
/// Marks an association rendered as containment (`ContainsTarget="true"`).
pub(super) const CONTAINS_TARGET: &str = "$edmx.containsTarget";

const DRAFT_MESSAGE: &str = "DRAFT.DraftAdministrativeData_DraftMessage";

/// The CSN with the draft parts of `service` added; `None` when the service has no draft root.
pub(super) fn with_drafts(csn: &Csn, service: &str) -> Option<Csn> {
    let prefix = format!("{service}.");
    let in_service = |name: &str| name.starts_with(&prefix);
    let roots: Vec<String> = csn
        .definitions
        .iter()
        .filter(|(name, def)| {
            in_service(name) && crate::csn::is_set(def.get("@odata.draft.enabled"))
        })
        .map(|(name, _)| name.clone())
        .collect();
    if roots.is_empty() {
        return None;
    }
    // draft nodes: what the roots' compositions reach, in the order found
    let mut drafts: Vec<String> = roots.clone();
    let mut next = 0;
    while next < drafts.len() {
        let elements = csn
            .definition(&drafts[next])
            .and_then(|d| d.get("elements"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for element in elements.values() {
            let composition =
                element.get("type").and_then(Value::as_str) == Some("cds.Composition");
            let Some(target) = element.get("target").and_then(Value::as_str) else {
                continue;
            };
            let enabled = csn
                .definition(target)
                .and_then(|d| d.get("@odata.draft.enabled"));
            if composition
                && in_service(target)
                && enabled != Some(&Value::Bool(false))
                && !drafts.iter().any(|d| d == target)
            {
                drafts.push(target.to_owned());
            }
        }
        next += 1;
    }
    let administrative_data = format!("{service}.DraftAdministrativeData");
    let last_draft = csn
        .definitions
        .keys()
        .rposition(|name| drafts.contains(name))
        .unwrap_or_default();
    let mut definitions = Map::new();
    for (index, (name, def)) in csn.definitions.iter().enumerate() {
        let mut def = def.clone();
        if name == service {
            set(&mut def, "@Common.AddressViaNavigationPath", json!(true));
        }
        if drafts.contains(name) {
            add_draft_parts(&mut def, name, service, roots.contains(name));
        }
        definitions.insert(name.clone(), def);
        if index == last_draft {
            definitions.insert(administrative_data.clone(), administrative_data_entity());
        }
    }
    definitions
        .entry(DRAFT_MESSAGE)
        .or_insert_with(draft_message_type);
    Some(Csn { definitions })
}

fn set(def: &mut Value, key: &str, value: Value) {
    if let Some(object) = def.as_object_mut() {
        object.insert(key.to_owned(), value);
    }
}

fn add_draft_parts(def: &mut Value, name: &str, service: &str, root: bool) {
    let Some(object) = def.as_object_mut() else {
        return;
    };
    let elements = object
        .entry("elements")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(elements) = elements.as_object_mut() {
        elements.insert("IsActiveEntity".into(), json!({"@UI.Hidden": true, "key": true, "type": "cds.Boolean", "default": {"val": true}}));
        elements.insert("HasActiveEntity".into(), json!({"@UI.Hidden": true, "type": "cds.Boolean", "default": {"val": false}, "notNull": true}));
        elements.insert("HasDraftEntity".into(), json!({"@UI.Hidden": true, "type": "cds.Boolean", "default": {"val": false}, "notNull": true}));
        elements.insert(
            "DraftAdministrativeData".into(),
            json!({"@UI.Hidden": true, "type": "cds.Association", "target": format!("{service}.DraftAdministrativeData"),
                   CONTAINS_TARGET: true, "on": []}),
        );
        elements.insert(
            "SiblingEntity".into(),
            json!({"type": "cds.Association", "target": name,
                   "on": [{"ref": ["SiblingEntity", "IsActiveEntity"]}, "!=", {"ref": ["IsActiveEntity"]}]}),
        );
        elements.insert(
            "DraftMessages".into(),
            json!({"@Core.Computed": true, "items": {"type": DRAFT_MESSAGE}}),
        );
    }
    let actions = object
        .entry("actions")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(actions) = actions.as_object_mut() {
        actions.insert(
            "draftPrepare".into(),
            json!({"kind": "action", "params": {"SideEffectsQualifier": {"type": "cds.String"}}, "returns": {"type": name}}),
        );
        if root {
            actions.insert(
                "draftActivate".into(),
                json!({"kind": "action", "returns": {"type": name}}),
            );
            actions.insert(
                "draftEdit".into(),
                json!({"kind": "action", "params": {"PreserveChanges": {"type": "cds.Boolean"}}, "returns": {"type": name}}),
            );
        }
    }
    let action = |a: &str| Value::String(format!("{service}.{a}"));
    if root {
        object.insert(
            "@Common.DraftRoot.ActivationAction".into(),
            action("draftActivate"),
        );
        object.insert("@Common.DraftRoot.EditAction".into(), action("draftEdit"));
        object.insert(
            "@Common.DraftRoot.PreparationAction".into(),
            action("draftPrepare"),
        );
    } else {
        object.insert(
            "@Common.DraftNode.PreparationAction".into(),
            action("draftPrepare"),
        );
    }
    object.insert(
        "@Common.SideEffects#alwaysFetchMessages.SourceEntities".into(),
        json!([{"=": ""}]),
    );
    object.insert(
        "@Common.SideEffects#alwaysFetchMessages.TargetProperties".into(),
        json!(["DraftMessages"]),
    );
    object.insert("@Common.Messages".into(), json!({"=": "DraftMessages"}));
}

fn administrative_data_entity() -> Value {
    let label = |key: &str| Value::String(format!("{{i18n>Draft_{key}}}"));
    json!({
        "kind": "entity",
        CONTAINED: true,
        "@Common.Label": label("DraftAdministrativeData"),
        "elements": {
            "DraftUUID": {"@UI.Hidden": true, "@Common.Label": label("DraftUUID"), "key": true, "type": "cds.UUID"},
            "CreationDateTime": {"@Common.Label": label("CreationDateTime"), "type": "cds.Timestamp"},
            "CreatedByUser": {"@Common.Label": label("CreatedByUser"), "type": "cds.String", "length": 256},
            "DraftIsCreatedByMe": {"@UI.Hidden": true, "@Common.Label": label("DraftIsCreatedByMe"), "type": "cds.Boolean"},
            "LastChangeDateTime": {"@Common.Label": label("LastChangeDateTime"), "type": "cds.Timestamp"},
            "LastChangedByUser": {"@Common.Label": label("LastChangedByUser"), "type": "cds.String", "length": 256},
            "InProcessByUser": {"@Common.Label": label("InProcessByUser"), "type": "cds.String", "length": 256},
            "DraftIsProcessedByMe": {"@UI.Hidden": true, "@Common.Label": label("DraftIsProcessedByMe"), "type": "cds.Boolean"},
        }
    })
}

fn draft_message_type() -> Value {
    json!({
        "kind": "type",
        "elements": {
            "code": {"type": "cds.String"},
            "message": {"type": "cds.String"},
            "target": {"type": "cds.String"},
            "additionalTargets": {"items": {"type": "cds.String"}},
            "transition": {"type": "cds.Boolean"},
            "numericSeverity": {"type": "cds.UInt8"},
            "longtextUrl": {"type": "cds.String"},
        }
    })
}
