//! CSN, the CAP compiler's JSON model format.
//!
//! We read the *inferred* CSN that `cds compile --to json` / `cds build` writes: `includes`
//! (`cuid`, `managed`, …) are already expanded into each entity's `elements`, generated
//! entities (`<Entity>.texts`, `<Entity>.<composition>` for compositions of aspects) are
//! present as definitions, and projections carry their resulting `elements`. This module only
//! parses the document and answers questions about it (which definitions exist, what an
//! element's type resolves to); deriving tables and views is [`crate::schema`]'s job.

use serde_json::{Map, Value};

/// A parsed CSN document.
#[derive(Debug, Clone)]
pub struct Csn {
    /// Every definition by its fully qualified name, in document order.
    pub definitions: Map<String, Value>,
}

/// Why a CSN document could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum CsnError {
    #[error("{0}")]
    Invalid(String),
    /// An element refers to a type that is not defined in the model.
    #[error("{owner}: unknown type '{type_name}'")]
    UnknownType { owner: String, type_name: String },
    /// Derived types refer to each other in a circle.
    #[error("{owner}: type '{type_name}' is derived from itself")]
    CyclicType { owner: String, type_name: String },
}

/// The builtin CDS types we map to SQL (after following derived types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Uuid,
    Boolean,
    UInt8,
    Int16,
    Int32,
    Integer,
    Int64,
    Decimal,
    Double,
    Date,
    Time,
    DateTime,
    Timestamp,
    String,
    LargeString,
    Binary,
    LargeBinary,
    Vector,
    Map,
}

impl Builtin {
    /// The builtin for a `cds.*` type name; `None` for anything else (including `cds.hana.*`).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "cds.UUID" => Self::Uuid,
            "cds.Boolean" => Self::Boolean,
            "cds.UInt8" => Self::UInt8,
            "cds.Int16" => Self::Int16,
            "cds.Int32" => Self::Int32,
            "cds.Integer" => Self::Integer,
            "cds.Int64" | "cds.Integer64" => Self::Int64,
            "cds.Decimal" | "cds.DecimalFloat" => Self::Decimal,
            "cds.Double" => Self::Double,
            "cds.Date" => Self::Date,
            "cds.Time" => Self::Time,
            "cds.DateTime" => Self::DateTime,
            "cds.Timestamp" => Self::Timestamp,
            "cds.String" => Self::String,
            "cds.LargeString" => Self::LargeString,
            "cds.Binary" => Self::Binary,
            "cds.LargeBinary" => Self::LargeBinary,
            "cds.Vector" => Self::Vector,
            "cds.Map" => Self::Map,
            _ => return None,
        })
    }
}

/// A scalar type with its facets, taken from the element first and then from the derived
/// types it goes through (the element's own facets win, as in CDS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scalar {
    pub builtin: Builtin,
    pub length: Option<u32>,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
}

/// What an element is, once derived types have been followed.
#[derive(Debug, Clone)]
pub enum Resolved<'a> {
    Scalar(Scalar),
    /// A structured element (inline or through a structured type): its sub-elements.
    Structured(&'a Map<String, Value>),
    /// An association or composition.
    Association(Association<'a>),
}

/// An association or composition element, as far as persistence cares.
#[derive(Debug, Clone)]
pub struct Association<'a> {
    pub target: &'a str,
    /// Explicit foreign keys (`keys`); `None` when the CSN gives none (then the target's
    /// primary key is used).
    pub keys: Option<&'a Vec<Value>>,
    /// Unmanaged (`on` condition): no column of its own.
    pub unmanaged: bool,
    /// `cardinality.max` is `*` or above 1: no column of its own.
    pub to_many: bool,
}

impl Csn {
    /// Parses a CSN document; it must have a `definitions` object of objects.
    pub fn from_value(value: serde_json::Value) -> Result<Self, CsnError> {
        let Value::Object(mut document) = value else {
            return Err(CsnError::Invalid("a CSN document is a JSON object".into()));
        };
        let Some(Value::Object(definitions)) = document.remove("definitions") else {
            return Err(CsnError::Invalid("no 'definitions' object".into()));
        };
        if let Some((name, _)) = definitions.iter().find(|(_, d)| !d.is_object()) {
            return Err(CsnError::Invalid(format!(
                "definition '{name}' is not an object"
            )));
        }
        Ok(Self { definitions })
    }

    /// The definition named `name`, if any.
    pub fn definition(&self, name: &str) -> Option<&Map<String, Value>> {
        self.definitions.get(name).and_then(Value::as_object)
    }

    /// Resolves what `element` (owned by `owner`, used in messages) is: follows derived types
    /// (`type: "my.Price"`, `type: "User"`, `type: "Currency"`) down to a builtin, a structure
    /// or an association.
    pub fn resolve<'a>(
        &'a self,
        owner: &str,
        element: &'a Map<String, Value>,
    ) -> Result<Resolved<'a>, CsnError> {
        let mut facets = Facets::default();
        let mut current = element;
        let mut seen: Vec<&str> = Vec::new();
        loop {
            facets.fill_from(current);
            if let Some(Value::Object(elements)) = current.get("elements") {
                return Ok(Resolved::Structured(elements));
            }
            if let Some(target) = current.get("target").and_then(Value::as_str) {
                return Ok(Resolved::Association(association(current, target)));
            }
            let Some(type_name) = current.get("type").and_then(Value::as_str) else {
                return Err(CsnError::Invalid(format!(
                    "{owner}: element without a type"
                )));
            };
            if let Some(builtin) = Builtin::from_name(type_name) {
                return Ok(Resolved::Scalar(Scalar {
                    builtin,
                    length: facets.length,
                    precision: facets.precision,
                    scale: facets.scale,
                }));
            }
            if seen.contains(&type_name) {
                return Err(CsnError::CyclicType {
                    owner: owner.into(),
                    type_name: type_name.into(),
                });
            }
            seen.push(type_name);
            current = self
                .definition(type_name)
                .ok_or_else(|| CsnError::UnknownType {
                    owner: owner.into(),
                    type_name: type_name.into(),
                })?;
        }
    }
}

fn association<'a>(element: &'a Map<String, Value>, target: &'a str) -> Association<'a> {
    let to_many = match element.get("cardinality").and_then(|c| c.get("max")) {
        Some(Value::String(s)) => s == "*",
        Some(Value::Number(n)) => n.as_u64().is_some_and(|n| n > 1),
        _ => false,
    };
    Association {
        target,
        keys: element.get("keys").and_then(Value::as_array),
        unmanaged: element.contains_key("on"),
        to_many,
    }
}

/// Type facets collected along a chain of derived types; the first (innermost) wins.
#[derive(Debug, Default)]
struct Facets {
    length: Option<u32>,
    precision: Option<u32>,
    scale: Option<u32>,
}

impl Facets {
    fn fill_from(&mut self, def: &Map<String, Value>) {
        let get = |key: &str| {
            def.get(key)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
        };
        self.length = self.length.or_else(|| get("length"));
        self.precision = self.precision.or_else(|| get("precision"));
        self.scale = self.scale.or_else(|| get("scale"));
    }
}

/// Whether an annotation value counts as set (`true`, or any value other than `false`/`null`).
pub fn is_set(annotation: Option<&Value>) -> bool {
    !matches!(annotation, None | Some(Value::Null | Value::Bool(false)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn csn(value: Value) -> Csn {
        Csn::from_value(value).expect("valid test CSN")
    }

    #[test]
    fn rejects_documents_without_definitions() {
        assert!(Csn::from_value(json!({})).is_err());
        assert!(Csn::from_value(json!([])).is_err());
        assert!(Csn::from_value(json!({"definitions": {"a": 1}})).is_err());
    }

    #[test]
    fn derived_types_resolve_to_builtin_with_element_facets_winning() {
        let model = csn(json!({"definitions": {
            "Price": {"kind": "type", "type": "cds.Decimal", "precision": 10, "scale": 3},
            "Code": {"kind": "type", "type": "Short", "length": 8},
            "Short": {"kind": "type", "type": "cds.String", "length": 20},
        }}));
        let element = json!({"type": "Price", "scale": 2});
        let Ok(Resolved::Scalar(s)) = model.resolve("E.price", element.as_object().expect("obj"))
        else {
            panic!("expected a scalar");
        };
        assert_eq!(
            (s.builtin, s.precision, s.scale),
            (Builtin::Decimal, Some(10), Some(2))
        );
        let element = json!({"type": "Code"});
        let Ok(Resolved::Scalar(s)) = model.resolve("E.code", element.as_object().expect("obj"))
        else {
            panic!("expected a scalar");
        };
        assert_eq!((s.builtin, s.length), (Builtin::String, Some(8)));
    }

    #[test]
    fn unknown_and_cyclic_types_are_errors_naming_the_element() {
        let model = csn(json!({"definitions": {
            "A": {"kind": "type", "type": "B"},
            "B": {"kind": "type", "type": "A"},
        }}));
        let element = json!({"type": "Nope"});
        let err = model
            .resolve("E.x", element.as_object().expect("obj"))
            .expect_err("unknown type");
        assert_eq!(err.to_string(), "E.x: unknown type 'Nope'");
        let element = json!({"type": "A"});
        assert!(matches!(
            model.resolve("E.y", element.as_object().expect("obj")),
            Err(CsnError::CyclicType { .. })
        ));
    }

    #[test]
    fn associations_report_managed_and_cardinality() {
        let model = csn(json!({"definitions": {}}));
        let to_many = json!({"type": "cds.Association", "target": "B",
            "cardinality": {"max": "*"}, "on": [{"ref": ["b", "a"]}, "=", {"ref": ["$self"]}]});
        let Ok(Resolved::Association(a)) = model.resolve("A.bs", to_many.as_object().expect("o"))
        else {
            panic!("expected an association");
        };
        assert!(a.to_many && a.unmanaged && a.keys.is_none());
        let to_one = json!({"type": "cds.Association", "target": "B", "keys": [{"ref": ["ID"]}]});
        let Ok(Resolved::Association(a)) = model.resolve("A.b", to_one.as_object().expect("o"))
        else {
            panic!("expected an association");
        };
        assert!(!a.to_many && !a.unmanaged && a.keys.is_some());
    }
}
