//! CSN annotations → OData vocabulary annotations, as the CAP compiler translates them.
//!
//! Two steps: [`rewrite_element`] / [`rewrite_entity`] apply the OData transformation's
//! shorthands (`@title` → `@Common.Label`, `@readonly` → `@Core.Computed` or capability
//! restrictions, `@cds.on.insert` → `@Core.Computed`, …) to a copy of the CSN annotations;
//! [`translate`] then turns the annotations of known vocabularies into [`Annotation`]s, grouped
//! by vocabulary and term in the order of their first appearance (the compiler builds a
//! vocabulary → term → record property tree and renders it in that order).

use serde_json::{Map, Value};

/// One `<Annotation Term=… Qualifier=…>` with its value.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Annotation {
    /// `Vocabulary.Term`.
    pub term: String,
    pub qualifier: Option<String>,
    pub value: Expr,
    /// Annotations of the annotation (`@Common.Text.@UI.TextArrangement`).
    pub inner: Vec<Annotation>,
    /// Where the term may be applied (the vocabulary's `AppliesTo`), empty when unrestricted.
    pub applies_to: &'static [&'static str],
}

/// An annotation value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    Bool(bool),
    String(String),
    Int(i64),
    Decimal(String),
    Path(String),
    PropertyPath(String),
    NavigationPropertyPath(String),
    EnumMember(String),
    Record {
        record_type: Option<String>,
        /// Annotations of the record itself (e.g. `Core.SymbolicName` of an allowed value).
        annotations: Vec<Annotation>,
        properties: Vec<(String, Expr)>,
    },
    Collection(Vec<Expr>),
}

/// The vocabularies the compiler knows, with their reference URI and namespace.
pub(super) const VOCABULARIES: &[(&str, &str, &str)] = &[
    (
        "Aggregation",
        "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Aggregation.V1.xml",
        "Org.OData.Aggregation.V1",
    ),
    (
        "Analytics",
        "https://sap.github.io/odata-vocabularies/vocabularies/Analytics.xml",
        "com.sap.vocabularies.Analytics.v1",
    ),
    (
        "Authorization",
        "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Authorization.V1.xml",
        "Org.OData.Authorization.V1",
    ),
    (
        "Capabilities",
        "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml",
        "Org.OData.Capabilities.V1",
    ),
    (
        "CodeList",
        "https://sap.github.io/odata-vocabularies/vocabularies/CodeList.xml",
        "com.sap.vocabularies.CodeList.v1",
    ),
    (
        "Common",
        "https://sap.github.io/odata-vocabularies/vocabularies/Common.xml",
        "com.sap.vocabularies.Common.v1",
    ),
    (
        "Communication",
        "https://sap.github.io/odata-vocabularies/vocabularies/Communication.xml",
        "com.sap.vocabularies.Communication.v1",
    ),
    (
        "Core",
        "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml",
        "Org.OData.Core.V1",
    ),
    (
        "DataIntegration",
        "https://sap.github.io/odata-vocabularies/vocabularies/DataIntegration.xml",
        "com.sap.vocabularies.DataIntegration.v1",
    ),
    (
        "Graph",
        "https://sap.github.io/odata-vocabularies/vocabularies/Graph.xml",
        "com.sap.vocabularies.Graph.v1",
    ),
    (
        "Hierarchy",
        "https://sap.github.io/odata-vocabularies/vocabularies/Hierarchy.xml",
        "com.sap.vocabularies.Hierarchy.v1",
    ),
    (
        "HTML5",
        "https://sap.github.io/odata-vocabularies/vocabularies/HTML5.xml",
        "com.sap.vocabularies.HTML5.v1",
    ),
    (
        "JSON",
        "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.JSON.V1.xml",
        "Org.OData.JSON.V1",
    ),
    (
        "Measures",
        "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Measures.V1.xml",
        "Org.OData.Measures.V1",
    ),
    (
        "ODM",
        "https://sap.github.io/odata-vocabularies/vocabularies/ODM.xml",
        "com.sap.vocabularies.ODM.v1",
    ),
    (
        "PersonalData",
        "https://sap.github.io/odata-vocabularies/vocabularies/PersonalData.xml",
        "com.sap.vocabularies.PersonalData.v1",
    ),
    (
        "Session",
        "https://sap.github.io/odata-vocabularies/vocabularies/Session.xml",
        "com.sap.vocabularies.Session.v1",
    ),
    (
        "Temporal",
        "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Temporal.V1.xml",
        "Org.OData.Temporal.V1",
    ),
    (
        "UI",
        "https://sap.github.io/odata-vocabularies/vocabularies/UI.xml",
        "com.sap.vocabularies.UI.v1",
    ),
    (
        "Validation",
        "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Validation.V1.xml",
        "Org.OData.Validation.V1",
    ),
];

/// The type of a term's value, as far as rendering needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TermType {
    /// `Core.Tag` and `Edm.Boolean`.
    Bool,
    /// A string, or a path when written as an expression (`{"=": "name"}`).
    String,
    /// An enumeration: `EnumMember="<type>/<member>"`.
    Enum(&'static str),
    /// A record of the given type.
    Record(&'static str),
    /// A collection of records of the given type (abstract types name their default).
    Records(&'static str),
    /// A property path (`{"=": "name"}` → `PropertyPath`), or a collection of them.
    PropertyPath,
    PropertyPaths,
    /// Anything else: rendered from the JSON value's own shape.
    Untyped,
}

/// The terms the compiler's dictionary gives a type or an `AppliesTo` that changes the output.
const TERMS: &[(&str, TermType, &[&str])] = &[
    ("Core.Computed", TermType::Bool, &["Property"]),
    ("Core.Immutable", TermType::Bool, &["Property"]),
    ("Core.ComputedDefaultValue", TermType::Bool, &["Property"]),
    ("Core.Description", TermType::String, &[]),
    ("Core.LongDescription", TermType::String, &[]),
    ("Core.SymbolicName", TermType::String, &[]),
    (
        "Core.OptionalParameter",
        TermType::Record("Core.OptionalParameterType"),
        &["Parameter"],
    ),
    ("Common.Label", TermType::String, &[]),
    ("Common.Heading", TermType::String, &[]),
    ("Common.QuickInfo", TermType::String, &[]),
    ("Common.Text", TermType::String, &[]),
    (
        "Common.FieldControl",
        TermType::Enum("Common.FieldControlType"),
        &[],
    ),
    (
        "Common.ValueList",
        TermType::Record("Common.ValueListType"),
        &["Property", "Parameter"],
    ),
    (
        "Common.SideEffects",
        TermType::Record("Common.SideEffectsType"),
        &["EntitySet", "EntityType", "ComplexType"],
    ),
    (
        "Common.DraftRoot",
        TermType::Record("Common.DraftRootType"),
        &["EntitySet"],
    ),
    (
        "Common.DraftNode",
        TermType::Record("Common.DraftNodeType"),
        &["EntitySet"],
    ),
    (
        "Common.Messages",
        TermType::Untyped,
        &["EntityType", "ComplexType"],
    ),
    (
        "Common.SemanticKey",
        TermType::PropertyPaths,
        &["EntityType"],
    ),
    ("UI.Hidden", TermType::Bool, &[]),
    (
        "UI.HeaderInfo",
        TermType::Record("UI.HeaderInfoType"),
        &["EntityType"],
    ),
    (
        "UI.SelectionFields",
        TermType::PropertyPaths,
        &["EntityType"],
    ),
    (
        "UI.HiddenFilter",
        TermType::Bool,
        &["Property", "NavigationProperty"],
    ),
    (
        "UI.ExcludeFromNavigationContext",
        TermType::Bool,
        &["Property"],
    ),
    (
        "UI.Identification",
        TermType::Records("UI.DataField"),
        &["EntityType"],
    ),
    (
        "UI.LineItem",
        TermType::Records("UI.DataField"),
        &["EntityType"],
    ),
    (
        "UI.MultiLineText",
        TermType::Bool,
        &["Property", "Parameter"],
    ),
    (
        "UI.TextArrangement",
        TermType::Enum("UI.TextArrangementType"),
        &[],
    ),
    (
        "Capabilities.DeleteRestrictions",
        TermType::Record("Capabilities.DeleteRestrictionsType"),
        &["EntitySet", "Singleton", "Collection"],
    ),
    (
        "Capabilities.InsertRestrictions",
        TermType::Record("Capabilities.InsertRestrictionsType"),
        &["EntitySet", "Collection"],
    ),
    (
        "Capabilities.UpdateRestrictions",
        TermType::Record("Capabilities.UpdateRestrictionsType"),
        &["EntitySet", "Singleton", "Collection"],
    ),
    (
        "Capabilities.ReadRestrictions",
        TermType::Record("Capabilities.ReadRestrictionsType"),
        &["EntitySet", "Singleton", "Collection"],
    ),
    (
        "Validation.AllowedValues",
        TermType::Records("Validation.AllowedValue"),
        &[],
    ),
];

fn term_info(term: &str) -> (TermType, &'static [&'static str]) {
    TERMS
        .iter()
        .find(|(name, _, _)| *name == term)
        .map_or((TermType::Untyped, &[]), |(_, ty, applies)| (*ty, *applies))
}

/// The vocabulary an annotation name (`@Common.Label#q.x`) belongs to, if a known one.
pub(super) fn vocabulary_of(annotation: &str) -> Option<&'static str> {
    let name = annotation.strip_prefix('@')?;
    VOCABULARIES
        .iter()
        .map(|(alias, _, _)| *alias)
        .find(|alias| {
            name.len() > alias.len()
                && name.starts_with(alias)
                && name.as_bytes()[alias.len()] == b'.'
        })
}

/// Sets `name` unless it is already set (the transformer's `setAnnotation`: `??=`).
fn set_default(annotations: &mut Map<String, Value>, name: &str, value: Value) {
    if annotations.get(name).is_none_or(Value::is_null) {
        annotations.insert(name.to_owned(), value);
    }
}

/// The shorthands the OData transformation maps to vocabulary terms (`setMappings`).
const SHORTHANDS: [(&str, &str); 3] = [
    ("@label", "@Common.Label"),
    ("@title", "@Common.Label"),
    ("@description", "@Core.Description"),
];

/// `@Common.TextArrangement` is written as an annotation of `@Common.Text`
/// (`UI.TextArrangement`), as the compiler's annotation preprocessing does.
fn nest_text_arrangement(annotations: &mut Map<String, Value>) {
    let Some(arrangement) = annotations.remove("@Common.TextArrangement") else {
        return;
    };
    let nested = "@Common.Text.@UI.TextArrangement";
    if annotations.contains_key("@Common.Text") && !annotations.contains_key(nested) {
        annotations.insert(nested.to_owned(), arrangement);
    }
}

fn rename_shorthands(annotations: &mut Map<String, Value>) {
    nest_text_arrangement(annotations);
    let names: Vec<String> = annotations.keys().cloned().collect();
    for name in names {
        for (short, full) in SHORTHANDS {
            let rest = if name == short {
                Some("")
            } else {
                name.strip_prefix(short)
                    .filter(|rest| rest.starts_with('.') || rest.starts_with('#'))
            };
            if let Some(rest) = rest {
                let value = annotations[&name].clone();
                set_default(annotations, &format!("{full}{rest}"), value);
            }
        }
    }
}

/// The annotations of an element (or parameter) after the OData transformation's rewrites.
pub(super) fn rewrite_element(element: &Map<String, Value>) -> Map<String, Value> {
    let mut annotations = only_annotations(element);
    let computed_by_default = [
        "@odata.on.insert",
        "@odata.on.update",
        "@cds.on.insert",
        "@cds.on.update",
    ]
    .iter()
    .any(|a| crate::csn::is_set(annotations.get(*a)));
    if annotations.get("@Core.Computed").is_none() && computed_by_default {
        annotations.insert("@Core.Computed".into(), Value::Bool(true));
    }
    rename_shorthands(&mut annotations);
    let readonly = crate::csn::is_set(annotations.get("@readonly"));
    let insertonly = crate::csn::is_set(annotations.get("@insertonly"));
    if readonly && !insertonly && !is_expression(&annotations["@readonly"]) {
        set_default(&mut annotations, "@Core.Computed", Value::Bool(true));
    }
    if let Some(format) = annotations.get("@assert.format").cloned() {
        set_default(&mut annotations, "@Validation.Pattern", format);
    }
    let mandatory = annotations.get("@mandatory");
    if crate::csn::is_set(mandatory)
        && !mandatory.is_some_and(is_expression)
        && !annotations.iter().any(|(k, v)| {
            (k == "@Common.FieldControl" || k.starts_with("@Common.FieldControl.")) && !v.is_null()
        })
    {
        set_default(
            &mut annotations,
            "@Common.FieldControl",
            serde_json::json!({"#": "Mandatory"}),
        );
    }
    if let Some(Value::Array(range)) = annotations.get("@assert.range").cloned()
        && range.len() == 2
    {
        for (bound, term) in range
            .iter()
            .zip(["@Validation.Minimum", "@Validation.Maximum"])
        {
            let value = bound.get("val").unwrap_or(bound);
            if !value.is_object() && !value.is_null() {
                set_default(&mut annotations, term, value.clone());
                if bound.get("val").is_some() {
                    set_default(
                        &mut annotations,
                        &format!("{term}.@Validation.Exclusive"),
                        Value::Bool(true),
                    );
                }
            }
        }
    }
    annotations
}

/// The annotations of an entity after the OData transformation's rewrites.
pub(super) fn rewrite_entity(entity: &Map<String, Value>) -> Map<String, Value> {
    let mut annotations = only_annotations(entity);
    rename_shorthands(&mut annotations);
    for (short, restriction, property) in [
        (
            "@Capabilities.Deletable",
            "@Capabilities.DeleteRestrictions",
            "Deletable",
        ),
        (
            "@Capabilities.Insertable",
            "@Capabilities.InsertRestrictions",
            "Insertable",
        ),
        (
            "@Capabilities.Updatable",
            "@Capabilities.UpdateRestrictions",
            "Updatable",
        ),
        (
            "@Capabilities.Readable",
            "@Capabilities.ReadRestrictions",
            "Readable",
        ),
    ] {
        if let Some(value) = annotations.get(short).cloned() {
            let full = format!("{restriction}.{property}");
            if annotations.get(&full).is_none_or(Value::is_null) {
                annotations.remove(short);
                annotations.insert(full, value);
            }
        }
    }
    let readonly = crate::csn::is_set(annotations.get("@readonly"));
    let insertonly = crate::csn::is_set(annotations.get("@insertonly"));
    // `@readonly` entities cannot be changed, `@insertonly` ones only created (not both)
    let restrictions: &[&str] = match (readonly, insertonly) {
        (true, false) => &[
            "@Capabilities.DeleteRestrictions.Deletable",
            "@Capabilities.InsertRestrictions.Insertable",
            "@Capabilities.UpdateRestrictions.Updatable",
        ],
        (false, true) => &[
            "@Capabilities.DeleteRestrictions.Deletable",
            "@Capabilities.ReadRestrictions.Readable",
            "@Capabilities.UpdateRestrictions.Updatable",
        ],
        _ => &[],
    };
    for restriction in restrictions {
        set_default(&mut annotations, restriction, Value::Bool(false));
    }
    annotations
}

fn only_annotations(carrier: &Map<String, Value>) -> Map<String, Value> {
    carrier
        .iter()
        .filter(|(k, _)| k.starts_with('@'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// An annotation expression (`{"=": …}`) rather than a literal.
fn is_expression(value: &Value) -> bool {
    value.get("=").is_some()
}

/// Why an annotation value could not be translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Untranslatable {
    pub annotation: String,
    pub reason: String,
}

/// A term's properties (record properties), keyed by term with qualifier.
type TermTree = Vec<(String, Vec<(String, Value)>)>;

/// Translates the annotations of known vocabularies (values other than `null`) into
/// [`Annotation`]s, grouped by vocabulary, then term, in order of first appearance.
pub(super) fn translate(
    annotations: &Map<String, Value>,
) -> Result<Vec<Annotation>, Untranslatable> {
    // vocabulary → (term#qualifier → record properties, `""` for the term's own value)
    let mut tree: Vec<(&'static str, TermTree)> = Vec::new();
    for (name, value) in annotations {
        if value.is_null() {
            continue;
        }
        let Some(vocabulary) = vocabulary_of(name) else {
            continue;
        };
        let rest = &name[vocabulary.len() + 2..];
        let (term, property) = match rest.split_once('.') {
            Some((term, property)) => (term, property),
            None => (rest, ""),
        };
        let terms = match tree.iter_mut().position(|(v, _)| *v == vocabulary) {
            Some(i) => &mut tree[i].1,
            None => {
                tree.push((vocabulary, Vec::new()));
                &mut tree.last_mut().expect("just pushed").1
            }
        };
        let properties = match terms.iter_mut().position(|(t, _)| t == term) {
            Some(i) => &mut terms[i].1,
            None => {
                terms.push((term.to_owned(), Vec::new()));
                &mut terms.last_mut().expect("just pushed").1
            }
        };
        properties.push((property.to_owned(), value.clone()));
    }
    let mut translated = Vec::new();
    for (vocabulary, terms) in tree {
        for (term_with_qualifier, properties) in terms {
            let (term, qualifier) = match term_with_qualifier.split_once('#') {
                Some((term, qualifier)) => (term, Some(qualifier.to_owned())),
                None => (term_with_qualifier.as_str(), None),
            };
            let full_term = format!("{vocabulary}.{term}");
            let (term_type, applies_to) = term_info(&full_term);
            let location = format!("@{full_term}");
            let (inner, properties): (Vec<_>, Vec<_>) = properties
                .into_iter()
                .partition(|(p, _)| p.starts_with('@'));
            let value = term_value(term_type, &properties, &location)?;
            translated.push(Annotation {
                term: full_term,
                qualifier,
                value,
                inner: translate(&inner.into_iter().collect())?,
                applies_to,
            });
        }
    }
    Ok(translated)
}

/// A term's value: its own value, or a record of the properties assigned flat
/// (`@Capabilities.DeleteRestrictions.Deletable: false`).
fn term_value(
    term_type: TermType,
    properties: &[(String, Value)],
    location: &str,
) -> Result<Expr, Untranslatable> {
    let own = properties
        .iter()
        .find(|(p, _)| p.is_empty())
        .map(|(_, v)| v);
    let flattened: Vec<&(String, Value)> =
        properties.iter().filter(|(p, _)| !p.is_empty()).collect();
    if let Some(value) = own
        && flattened.is_empty()
    {
        return value_expr(value, term_type, location);
    }
    // `@T.P: v` written flat: a record of the term's type
    let mut object = match own {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    for (property, value) in flattened {
        if property.contains('.') || property.contains('@') {
            return Err(Untranslatable {
                annotation: format!("{location}.{property}"),
                reason: "nested record properties are not supported".into(),
            });
        }
        object.insert(property.clone(), value.clone());
    }
    value_expr(&Value::Object(object), term_type, location)
}

fn value_expr(value: &Value, term_type: TermType, location: &str) -> Result<Expr, Untranslatable> {
    let untranslatable = |reason: &str| Untranslatable {
        annotation: location.to_owned(),
        reason: reason.to_owned(),
    };
    Ok(match value {
        Value::Bool(b) => Expr::Bool(*b),
        Value::String(s) => Expr::String(s.clone()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Expr::Int(i),
            None => Expr::Decimal(n.to_string()),
        },
        Value::Array(items) => {
            let item_type = match term_type {
                TermType::Records(record) => TermType::Record(record),
                TermType::PropertyPaths => TermType::PropertyPath,
                _ => TermType::Untyped,
            };
            Expr::Collection(
                items
                    .iter()
                    .map(|item| value_expr(item, item_type, location))
                    .collect::<Result<_, _>>()?,
            )
        }
        Value::Object(object) => {
            if let Some(path) = object.get("=") {
                let path = path
                    .as_str()
                    .ok_or_else(|| untranslatable("an expression that is not a path"))?;
                return Ok(match term_type {
                    TermType::PropertyPath => Expr::PropertyPath(path.to_owned()),
                    _ => Expr::Path(path.to_owned()),
                });
            }
            if let Some(symbol) = object.get("#") {
                let symbol = symbol
                    .as_str()
                    .ok_or_else(|| untranslatable("an enum symbol that is not a string"))?;
                return match term_type {
                    TermType::Enum(enum_type) => {
                        Ok(Expr::EnumMember(format!("{enum_type}/{symbol}")))
                    }
                    _ => Err(untranslatable("an enum value of an unknown type")),
                };
            }
            // an explicit `$Type` wins over the term's
            let record_type = match (object.get("$Type").and_then(Value::as_str), term_type) {
                (Some(explicit), _) => Some(explicit.to_owned()),
                (None, TermType::Record(record)) => Some(record.to_owned()),
                _ => None,
            };
            let mut properties = Vec::new();
            let mut annotations = Vec::new();
            for (name, value) in object {
                if name == "$symbol" {
                    // an enum symbol of generated allowed values (see `model`)
                    annotations.push(Annotation {
                        term: "Core.SymbolicName".into(),
                        qualifier: None,
                        value: value_expr(value, TermType::String, location)?,
                        inner: Vec::new(),
                        applies_to: &[],
                    });
                    continue;
                }
                if name == "$Type" {
                    continue;
                }
                if name.starts_with('@') {
                    return Err(untranslatable("annotations inside a record"));
                }
                let property_type = record_type
                    .as_deref()
                    .map_or(TermType::Untyped, |r| property_type(r, name));
                properties.push((
                    name.clone(),
                    property_expr(name, value, property_type, location)?,
                ));
            }
            Expr::Record {
                record_type,
                annotations,
                properties,
            }
        }
        Value::Null => return Err(untranslatable("null")),
    })
}

/// A record property's value: paths become property paths where the vocabulary says so.
/// The type of a record property where the vocabulary gives one that changes the output.
fn property_type(record_type: &str, property: &str) -> TermType {
    match (record_type, property) {
        ("UI.HeaderInfoType", "Title" | "Description") => TermType::Record("UI.DataField"),
        _ => TermType::Untyped,
    }
}

fn property_expr(
    name: &str,
    value: &Value,
    property_type: TermType,
    location: &str,
) -> Result<Expr, Untranslatable> {
    let expr = value_expr(value, property_type, location)?;
    Ok(match (name, expr) {
        ("LocalDataProperty", Expr::Path(path)) => Expr::PropertyPath(path),
        // `Core.OptionalParameterType/DefaultValue` is a string whatever the parameter's type
        ("DefaultValue", Expr::Int(i)) => Expr::String(i.to_string()),
        ("DefaultValue", Expr::Decimal(d)) => Expr::String(d),
        ("DefaultValue", Expr::Bool(b)) => Expr::String(b.to_string()),
        ("SourceEntities", Expr::Collection(items)) => Expr::Collection(
            items
                .into_iter()
                .map(|item| match item {
                    Expr::Path(path) => Expr::NavigationPropertyPath(path),
                    other => other,
                })
                .collect(),
        ),
        (_, expr) => expr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn shorthands_and_computed_are_added_after_the_existing_annotations() {
        let element = object(json!({
            "@cds.on.insert": {"=": "$user"}, "@UI.HiddenFilter": true, "@Core.Immutable": true,
            "@title": "{i18n>CreatedBy}", "@readonly": true, "@description": "{i18n>UserID.Description}",
            "type": "cds.String"
        }));
        let terms: Vec<String> = translate(&rewrite_element(&element))
            .expect("translatable")
            .into_iter()
            .map(|a| a.term)
            .collect();
        assert_eq!(
            terms,
            [
                "UI.HiddenFilter",
                "Core.Immutable",
                "Core.Computed",
                "Core.Description",
                "Common.Label"
            ]
        );
    }

    #[test]
    fn readonly_entities_get_the_three_capability_restrictions() {
        let annotations =
            translate(&rewrite_entity(&object(json!({"@readonly": true})))).expect("translatable");
        let restrictions: Vec<(&str, &Expr)> = annotations
            .iter()
            .map(|a| (a.term.as_str(), &a.value))
            .collect();
        assert_eq!(restrictions.len(), 3);
        assert_eq!(restrictions[0].0, "Capabilities.DeleteRestrictions");
        assert_eq!(
            restrictions[0].1,
            &Expr::Record {
                record_type: Some("Capabilities.DeleteRestrictionsType".into()),
                annotations: Vec::new(),
                properties: vec![("Deletable".into(), Expr::Bool(false))],
            }
        );
        assert!(annotations[0].applies_to.contains(&"EntitySet"));
    }

    #[test]
    fn expressions_become_paths_and_enum_symbols_members_of_the_term_type() {
        let annotations = translate(&object(json!({
            "@Common.Text": {"=": "name"}, "@Common.FieldControl": {"#": "Mandatory"}
        })))
        .expect("translatable");
        assert_eq!(annotations[0].value, Expr::Path("name".into()));
        assert_eq!(
            annotations[1].value,
            Expr::EnumMember("Common.FieldControlType/Mandatory".into())
        );
    }

    #[test]
    fn a_text_arrangement_becomes_an_annotation_of_the_text() {
        let element = object(json!({
            "@Common.Text": {"=": "name"}, "@Common.TextArrangement": {"#": "TextOnly"}
        }));
        let annotations = translate(&rewrite_element(&element)).expect("translatable");
        assert_eq!(annotations.len(), 1);
        assert_eq!(annotations[0].value, Expr::Path("name".into()));
        assert_eq!(annotations[0].inner[0].term, "UI.TextArrangement");
        assert_eq!(
            annotations[0].inner[0].value,
            Expr::EnumMember("UI.TextArrangementType/TextOnly".into())
        );
    }

    #[test]
    fn vocabulary_types_decide_records_and_paths() {
        let annotations = translate(&object(json!({
            "@UI.HeaderInfo": {"TypeName": "C", "Title": {"Value": {"=": "ID"}}},
            "@Common.SemanticKey": [{"=": "ID"}]
        })))
        .expect("translatable");
        let Expr::Record {
            record_type,
            properties,
            ..
        } = &annotations[0].value
        else {
            panic!("a record");
        };
        assert_eq!(record_type.as_deref(), Some("UI.HeaderInfoType"));
        assert!(
            matches!(&properties[1].1, Expr::Record { record_type: Some(t), .. } if t == "UI.DataField")
        );
        assert_eq!(
            annotations[1].value,
            Expr::Collection(vec![Expr::PropertyPath("ID".into())])
        );
    }

    #[test]
    fn unknown_vocabularies_and_null_values_are_left_out() {
        let annotations = translate(&object(json!({"@my.Term": true, "@UI.Hidden": null})))
            .expect("translatable");
        assert!(annotations.is_empty());
    }
}
