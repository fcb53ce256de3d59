//! CSN → the EDM of one service: entity types with their flattened properties, navigation
//! properties (partners, referential constraints, cascades), entity sets with their bindings,
//! complex types, actions and functions, and the annotations of each target. This is the
//! compiler's OData transformation (flat format) and its EDM preprocessing, for the
//! constructs we support; anything else is an [`EdmxError::Unsupported`] naming its place.

use serde_json::{Map, Value};

use super::EdmxError;
use super::annotations::{self, Annotation};
use super::conditions::{on_condition_pairs, self_backlink};
use super::edm_types::{collection_of, scalar_attributes};
use crate::csn::{Builtin, Csn, Resolved, Scalar};

/// The EDM of one service.
#[derive(Debug, Default)]
pub(super) struct Service {
    pub namespace: String,
    pub entity_sets: Vec<EntitySet>,
    pub imports: Vec<OperationImport>,
    pub entity_types: Vec<EntityType>,
    pub complex_types: Vec<ComplexType>,
    /// Derived scalar types of the service (`<TypeDefinition>`).
    pub type_definitions: Vec<TypedItem>,
    pub operations: Vec<Operation>,
    /// `<Annotations Target=…>` blocks, in the compiler's order.
    pub annotations: Vec<(String, Vec<Annotation>)>,
}

#[derive(Debug)]
pub(super) struct EntitySet {
    pub name: String,
    pub entity_type: String,
    /// (navigation property path, target entity set)
    pub bindings: Vec<(String, String)>,
}

#[derive(Debug)]
pub(super) struct OperationImport {
    pub is_action: bool,
    pub name: String,
    pub operation: String,
    pub entity_set: Option<String>,
}

#[derive(Debug)]
pub(super) struct EntityType {
    pub name: String,
    pub keys: Vec<String>,
    pub members: Vec<Member>,
}

#[derive(Debug)]
pub(super) struct ComplexType {
    pub name: String,
    pub properties: Vec<Member>,
}

#[derive(Debug)]
pub(super) enum Member {
    Property(TypedItem),
    Navigation(NavigationProperty),
}

/// A property, parameter or return type: a name, the EDM type and its facets as attributes.
#[derive(Debug, Clone)]
pub(super) struct TypedItem {
    pub name: String,
    /// Attributes after `Name`, in the compiler's order (`Type`, facets, `Nullable`, `DefaultValue`).
    pub attributes: Vec<(&'static str, String)>,
}

#[derive(Debug)]
pub(super) struct NavigationProperty {
    pub name: String,
    pub target_type: String,
    pub collection: bool,
    pub not_null: bool,
    pub partner: Option<String>,
    pub contains_target: bool,
    /// (dependent property, principal property)
    pub constraints: Vec<(String, String)>,
    pub cascade: bool,
}

#[derive(Debug)]
pub(super) struct Operation {
    pub is_action: bool,
    pub name: String,
    pub bound: bool,
    pub entity_set_path: Option<String>,
    pub parameters: Vec<TypedItem>,
    pub return_type: Option<TypedItem>,
}

/// One element after flattening, with what the EDM needs of it.
#[derive(Debug, Clone)]
struct Flat<'a> {
    name: String,
    element: &'a Map<String, Value>,
    key: bool,
    not_null: bool,
    shape: Shape<'a>,
    /// Annotations as they end up on the property (rewritten, with generated ones).
    annotations: Map<String, Value>,
}

#[derive(Debug, Clone)]
enum Shape<'a> {
    Scalar(Scalar),
    ScalarCollection(Scalar),
    /// `many T` of a structured type `T`: a collection of the complex type made for it.
    ComplexCollection(String),
    Association {
        target: &'a str,
        to_many: bool,
        composition: bool,
        /// Rendered as containment: `ContainsTarget`, no binding, no constraints.
        contained: bool,
        on: Option<&'a Vec<Value>>,
        /// (foreign key property, target key property), for managed associations.
        foreign_keys: Vec<(String, String)>,
    },
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

pub(super) fn build(csn: &Csn, service: &str) -> Result<Service, EdmxError> {
    match csn.definition(service) {
        Some(def) if def.get("kind").and_then(Value::as_str) == Some("service") => {}
        _ => return Err(EdmxError::UnknownService(service.to_owned())),
    }
    let drafted = super::draft::with_drafts(csn, service);
    let builder = Builder {
        csn: drafted.as_ref().unwrap_or(csn),
        service,
        used_types: std::cell::RefCell::default(),
    };
    builder.service()
}

struct Builder<'a> {
    csn: &'a Csn,
    service: &'a str,
    /// Structured types outside the service used as `many T`: (complex type name, type).
    used_types: std::cell::RefCell<Vec<(String, &'a str)>>,
}

impl<'a> Builder<'a> {
    /// The service-local EDM name of a definition (`S.Orders.items` → `Orders_items`), if it
    /// belongs to the service.
    fn local_name(&self, name: &str) -> Option<String> {
        name.strip_prefix(self.service)
            .and_then(|rest| rest.strip_prefix('.'))
            .map(|rest| rest.replace('.', "_"))
    }

    fn qualified(&self, local: &str) -> String {
        format!("{}.{local}", self.service)
    }

    fn members(&self) -> impl Iterator<Item = (&'a String, &'a Map<String, Value>)> + 'a {
        let prefix = format!("{}.", self.service);
        self.csn
            .definitions
            .iter()
            .filter(move |(name, _)| name.starts_with(&prefix))
            .filter_map(|(name, def)| def.as_object().map(|d| (name, d)))
    }

    /// The service's own derived scalar type an element is declared with (`S.Code`), which
    /// the EDM references by name instead of repeating its facets.
    fn type_definition_of(&self, element: &Map<String, Value>) -> Option<String> {
        let inner = element
            .get("items")
            .and_then(Value::as_object)
            .unwrap_or(element);
        let type_name = inner.get("type").and_then(Value::as_str)?;
        let def = self.csn.definition(type_name)?;
        let scalar = def.get("kind").and_then(Value::as_str) == Some("type")
            && ["elements", "target", "items"]
                .iter()
                .all(|k| def.get(*k).is_none());
        scalar
            .then(|| self.local_name(type_name))
            .flatten()
            .map(|local| self.qualified(&local))
    }

    /// The definition `name` refers to, from `location`; `what` says what it should be.
    fn defined(
        &self,
        name: &str,
        location: &str,
        what: &str,
    ) -> Result<&'a Map<String, Value>, EdmxError> {
        self.csn
            .definition(name)
            .ok_or_else(|| EdmxError::Unsupported {
                location: location.to_owned(),
                construct: format!("{what} '{name}'"),
            })
    }

    fn is_entity(def: &Map<String, Value>) -> bool {
        def.get("kind").and_then(Value::as_str) == Some("entity")
            && def.get("abstract") != Some(&Value::Bool(true))
    }

    fn service(&self) -> Result<Service, EdmxError> {
        let mut service = Service {
            namespace: self.service.to_owned(),
            ..Service::default()
        };
        if let Some(def) = self.csn.definition(self.service) {
            let rewritten = annotations::rewrite_entity(def);
            let translated = translate_at(&rewritten, self.service)?;
            if !translated.is_empty() {
                service
                    .annotations
                    .push((format!("{}.EntityContainer", self.service), translated));
            }
        }
        let mut bound_operations = Vec::new();
        let mut unbound = Vec::new();
        for (name, def) in self.members() {
            let kind = def.get("kind").and_then(Value::as_str).unwrap_or_default();
            if Self::is_entity(def) {
                self.entity(name, def, &mut service, &mut bound_operations)?;
            } else if kind == "action" || kind == "function" {
                unbound.push((name, def));
            } else if kind == "type" && def.get("elements").is_some() {
                let local = self.local_name(name).unwrap_or_default();
                let flat = self.flatten_definition(name, def)?;
                service.complex_types.push(ComplexType {
                    name: local.clone(),
                    properties: self.members_of(&flat)?,
                });
                Self::element_annotations(&self.qualified(&local), &flat, &mut service)?;
            } else if kind == "type" && def.get("target").is_none() && def.get("items").is_none() {
                // a derived scalar type of the service stays a type of its own
                if let Resolved::Scalar(scalar) = self.csn.resolve(name, def)? {
                    let mut attributes = scalar_attributes(&scalar, false);
                    attributes[0].0 = "UnderlyingType";
                    service.type_definitions.push(TypedItem {
                        name: self.local_name(name).unwrap_or_default(),
                        attributes,
                    });
                }
            }
        }
        let used_types = self.used_types.borrow().clone();
        for (complex, type_name) in used_types {
            let def = self.csn.definition(type_name).unwrap_or(&EMPTY);
            let flat = self.flatten_definition(type_name, def)?;
            service.complex_types.push(ComplexType {
                name: complex.clone(),
                properties: self.members_of(&flat)?,
            });
            Self::element_annotations(&self.qualified(&complex), &flat, &mut service)?;
        }
        service.operations.extend(bound_operations);
        for (name, def) in unbound {
            let local = self.local_name(name).unwrap_or_default();
            let operation = self.operation(name, &local, def, None, &mut service)?;
            let returns_entity = def
                .get("returns")
                .map(|r| r.get("items").unwrap_or(r))
                .and_then(|r| r.get("type"))
                .and_then(Value::as_str)
                .filter(|t| self.csn.definition(t).is_some_and(Self::is_entity))
                .and_then(|t| self.local_name(t));
            service.imports.push(OperationImport {
                is_action: operation.is_action,
                name: local.clone(),
                operation: self.qualified(&local),
                entity_set: returns_entity,
            });
            let target = format!(
                "{}{}",
                self.qualified(&local),
                self.signature(&operation, None)
            );
            service.operations.push(operation);
            Self::operation_annotations(name, &target, def, &mut service)?;
        }
        group_overloads(&mut service.operations);
        Ok(service)
    }

    fn entity(
        &self,
        name: &str,
        def: &'a Map<String, Value>,
        service: &mut Service,
        operations: &mut Vec<Operation>,
    ) -> Result<(), EdmxError> {
        let local = self.local_name(name).unwrap_or_default();
        let mut flat = self.flatten_definition(name, def)?;
        self.add_localized(name, def, &mut flat)?;
        let keys = flat
            .iter()
            .filter(|f| f.key && !matches!(f.shape, Shape::Association { .. }))
            .map(|f| f.name.clone())
            .collect();
        let members = self.members_of(&flat)?;
        let bindings = members
            .iter()
            .filter_map(|m| match m {
                Member::Navigation(nav) if nav.contains_target => None,
                Member::Navigation(nav) => nav
                    .target_type
                    .strip_prefix(&format!("{}.", self.service))
                    .map(|set| (nav.name.clone(), set.to_owned())),
                Member::Property(_) => None,
            })
            .collect();
        service.entity_types.push(EntityType {
            name: local.clone(),
            keys,
            members,
        });
        let has_entity_set = !crate::csn::is_set(def.get(super::draft::CONTAINED));
        if has_entity_set {
            service.entity_sets.push(EntitySet {
                name: local.clone(),
                entity_type: self.qualified(&local),
                bindings,
            });
        }
        // annotations: entity type, entity set, elements, bound actions
        let translated = translate_at(&annotations::rewrite_entity(def), name)?;
        // The compiler's rule: a term for entity sets goes to the set, and to the type too
        // when it applies to entity types as well; a term without `AppliesTo` to the type.
        let for_set = |a: &Annotation| {
            a.applies_to
                .iter()
                .any(|t| *t == "EntitySet" || *t == "Collection")
        };
        let type_annotations: Vec<Annotation> = translated
            .iter()
            .filter(|a| !for_set(a) || a.applies_to.contains(&"EntityType"))
            .cloned()
            .collect();
        let on_set: Vec<Annotation> = translated.into_iter().filter(for_set).collect();
        if !type_annotations.is_empty() {
            service
                .annotations
                .push((self.qualified(&local), type_annotations));
        }
        if !on_set.is_empty() && has_entity_set {
            service
                .annotations
                .push((format!("{}.EntityContainer/{local}", self.service), on_set));
        }
        Self::element_annotations(&self.qualified(&local), &flat, service)?;
        for (action_name, action) in objects_in(def, "actions", name)? {
            let operation =
                self.operation(action_name, action_name, action, Some(&local), service)?;
            let target = format!(
                "{}{}",
                self.qualified(action_name),
                self.signature(&operation, Some(&local))
            );
            operations.push(operation);
            Self::operation_annotations(action_name, &target, action, service)?;
        }
        Ok(())
    }

    /// The annotations of an action or function and of its parameters; parameters that may be
    /// left out are marked `Core.OptionalParameter` as the compiler does (V4: a parameter with
    /// a default, or a nullable parameter of a function).
    fn operation_annotations(
        location: &str,
        target: &str,
        def: &Map<String, Value>,
        service: &mut Service,
    ) -> Result<(), EdmxError> {
        let translated = translate_at(&annotations::rewrite_element(def), location)?;
        if !translated.is_empty() {
            service.annotations.push((target.to_owned(), translated));
        }
        let is_function = def.get("kind").and_then(Value::as_str) == Some("function");
        for (name, param) in objects_in(def, "params", location)? {
            let mut rewritten = annotations::rewrite_element(param);
            let user_set = rewritten
                .iter()
                .any(|(k, v)| k.starts_with("@Core.OptionalParameter") && !v.is_null());
            if !user_set {
                if let Some(default) = param.get("default").and_then(|d| d.get("val")) {
                    rewritten.insert(
                        "@Core.OptionalParameter.DefaultValue".into(),
                        default.clone(),
                    );
                } else if is_function && param.get("notNull") != Some(&Value::Bool(true)) {
                    rewritten.insert("@Core.OptionalParameter".into(), serde_json::json!({}));
                }
            }
            let translated = translate_at(&rewritten, &format!("{location}.params.{name}"))?;
            if !translated.is_empty() {
                service
                    .annotations
                    .push((format!("{target}/{name}"), translated));
            }
        }
        Ok(())
    }

    /// The parameter type list of an annotation target for an action or function.
    fn signature(&self, operation: &Operation, bound_to: Option<&str>) -> String {
        let mut types = Vec::new();
        if let Some(entity) = bound_to {
            types.push(self.qualified(entity));
        }
        if !operation.is_action {
            types.extend(
                operation
                    .parameters
                    .iter()
                    .skip(usize::from(bound_to.is_some()))
                    .filter_map(|p| p.attributes.first().map(|(_, t)| t.clone())),
            );
        }
        format!("({})", types.join(","))
    }

    fn element_annotations(
        owner: &str,
        flat: &[Flat<'_>],
        service: &mut Service,
    ) -> Result<(), EdmxError> {
        for element in flat {
            let translated =
                translate_at(&element.annotations, &format!("{owner}/{}", element.name))?;
            if !translated.is_empty() {
                service
                    .annotations
                    .push((format!("{owner}/{}", element.name), translated));
            }
        }
        Ok(())
    }

    fn operation(
        &self,
        location: &str,
        name: &str,
        def: &'a Map<String, Value>,
        bound_to: Option<&str>,
        service: &mut Service,
    ) -> Result<Operation, EdmxError> {
        let is_action = def.get("kind").and_then(Value::as_str) == Some("action");
        let mut parameters = Vec::new();
        if let Some(entity) = bound_to {
            parameters.push(TypedItem {
                name: "in".into(),
                attributes: vec![("Type", self.qualified(entity))],
            });
        }
        for (param_name, param) in objects_in(def, "params", location)? {
            let mut item = self.typed_item(
                &format!("{location}.params.{param_name}"),
                param_name,
                param,
            )?;
            item.attributes.retain(|(a, _)| *a != "DefaultValue");
            parameters.push(item);
        }
        let mut entity_set_path = None;
        let return_type = match def.get("returns").and_then(Value::as_object) {
            Some(returns) => {
                let item = if returns.get("elements").is_some() {
                    let complex = format!("return_{}", self.qualified(name).replace('.', "_"));
                    let flat = self.flatten(
                        location,
                        returns
                            .get("elements")
                            .and_then(Value::as_object)
                            .into_iter()
                            .flatten(),
                        "",
                        false,
                    )?;
                    service.complex_types.push(ComplexType {
                        name: complex.clone(),
                        properties: self.members_of(&flat)?,
                    });
                    TypedItem {
                        name: String::new(),
                        attributes: vec![("Type", self.qualified(&complex))],
                    }
                } else {
                    self.typed_item(&format!("{location}.returns"), "", returns)?
                };
                if let Some(entity) = bound_to
                    && item.attributes.first().map(|(_, t)| t.as_str())
                        == Some(self.qualified(entity).as_str())
                {
                    entity_set_path = Some("in".to_owned());
                }
                Some(item)
            }
            None => None,
        };
        Ok(Operation {
            is_action,
            name: name.to_owned(),
            bound: bound_to.is_some(),
            entity_set_path,
            parameters,
            return_type,
        })
    }

    /// A parameter or return type: a scalar, a collection of scalars or a (collection of a)
    /// service entity or type.
    fn typed_item(
        &self,
        location: &str,
        name: &str,
        def: &Map<String, Value>,
    ) -> Result<TypedItem, EdmxError> {
        let (inner, collection) = match def.get("items").and_then(Value::as_object) {
            Some(items) => (items, true),
            None => (def, false),
        };
        if let Some(type_name) = inner.get("type").and_then(Value::as_str)
            && let Some(local) = self.local_name(type_name)
            && self
                .csn
                .definition(type_name)
                .is_some_and(|d| Self::is_entity(d) || d.get("elements").is_some())
        {
            let edm = collection_of(&self.qualified(&local), collection);
            return Ok(TypedItem {
                name: name.to_owned(),
                attributes: vec![("Type", edm)],
            });
        }
        match self.csn.resolve(location, inner)? {
            Resolved::Scalar(scalar) => {
                let mut attributes = match self.type_definition_of(def) {
                    Some(local) => vec![("Type", collection_of(&local, collection))],
                    None => scalar_attributes(&scalar, collection),
                };
                if collection {
                    attributes.push(("Nullable", "true".into()));
                }
                if def.get("notNull") == Some(&Value::Bool(true)) {
                    attributes.push(("Nullable", "false".into()));
                }
                Ok(TypedItem {
                    name: name.to_owned(),
                    attributes,
                })
            }
            _ => Err(EdmxError::Unsupported {
                location: location.to_owned(),
                construct: "a structured or association type outside the service".into(),
            }),
        }
    }

    fn flatten_definition(
        &self,
        name: &str,
        def: &'a Map<String, Value>,
    ) -> Result<Vec<Flat<'a>>, EdmxError> {
        let elements = def
            .get("elements")
            .and_then(Value::as_object)
            .into_iter()
            .flatten();
        self.flatten(name, elements, "", false)
    }

    fn flatten(
        &self,
        owner: &str,
        elements: impl Iterator<Item = (&'a String, &'a Value)>,
        prefix: &str,
        key: bool,
    ) -> Result<Vec<Flat<'a>>, EdmxError> {
        self.flatten_with(owner, elements, prefix, key, true)
    }

    /// Flattens elements; without `all_associations` only key associations are kept (enough
    /// for foreign keys, and no endless walk along self-referencing associations).
    fn flatten_with(
        &self,
        owner: &str,
        elements: impl Iterator<Item = (&'a String, &'a Value)>,
        prefix: &str,
        key: bool,
        all_associations: bool,
    ) -> Result<Vec<Flat<'a>>, EdmxError> {
        let mut out = Vec::new();
        for (element_name, element) in elements {
            let location = format!("{owner}.{element_name}");
            let element = object_at(element, &location, "an element")?;
            if crate::csn::is_set(element.get("@cds.api.ignore")) {
                continue;
            }
            let name = format!("{prefix}{element_name}");
            let key = key || element.get("key") == Some(&Value::Bool(true));
            let not_null = element.get("notNull") == Some(&Value::Bool(true));
            if let Some(Value::Object(items)) = element.get("items") {
                if let Some(type_name) = items.get("type").and_then(Value::as_str)
                    && let Some((type_name, _)) = self.csn.definitions.get_key_value(type_name)
                    && matches!(self.csn.resolve(&location, items)?, Resolved::Structured(_))
                {
                    let complex = type_name.replace('.', "_");
                    let mut used = self.used_types.borrow_mut();
                    if !used.iter().any(|(name, _)| *name == complex) {
                        used.push((complex.clone(), type_name.as_str()));
                    }
                    out.push(Flat {
                        name,
                        element,
                        key,
                        not_null,
                        shape: Shape::ComplexCollection(self.qualified(&complex)),
                        annotations: annotations::rewrite_element(element),
                    });
                    continue;
                }
                let Resolved::Scalar(scalar) = self.csn.resolve(&location, items)? else {
                    return Err(EdmxError::Unsupported {
                        location,
                        construct: "an arrayed element of structures".into(),
                    });
                };
                out.push(Flat {
                    name,
                    element,
                    key,
                    not_null,
                    shape: Shape::ScalarCollection(scalar),
                    annotations: annotations::rewrite_element(element),
                });
                continue;
            }
            match self.csn.resolve(&location, element)? {
                Resolved::Scalar(scalar)
                    if matches!(scalar.builtin, Builtin::Map | Builtin::Vector) =>
                {
                    // the compiler maps these to an open complex type / leaves them out
                    return Err(EdmxError::Unsupported {
                        location,
                        construct: format!("a {:?} element", scalar.builtin),
                    });
                }
                Resolved::Scalar(scalar) => {
                    let mut annotations = annotations::rewrite_element(element);
                    self.generated_annotations(&location, element, key, &scalar, &mut annotations)?;
                    out.push(Flat {
                        name,
                        element,
                        key,
                        not_null,
                        shape: Shape::Scalar(scalar),
                        annotations,
                    });
                }
                Resolved::Structured(sub) => {
                    out.extend(self.flatten_with(
                        &location,
                        sub.iter(),
                        &format!("{name}_"),
                        key,
                        all_associations,
                    )?);
                }
                Resolved::Association(_) if !all_associations && !key => {}
                Resolved::Association(association) => {
                    let composition =
                        element.get("type").and_then(Value::as_str) == Some("cds.Composition");
                    let on = element.get("on").and_then(Value::as_array);
                    let mut foreign_keys = Vec::new();
                    let mut fk_elements = Vec::new();
                    if on.is_none() {
                        for (fk, target_key, fk_flat) in self.foreign_keys(
                            &location,
                            association.target,
                            association.keys,
                            &name,
                        )? {
                            foreign_keys.push((fk, target_key));
                            fk_elements.push(fk_flat);
                        }
                    }
                    let annotations = annotations::rewrite_element(element);
                    for fk in &mut fk_elements {
                        let mut merged = annotations.clone();
                        for (k, v) in &fk.annotations {
                            merged.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                        if on.is_none()
                            && element.get("@odata.navigable") != Some(&Value::Bool(false))
                        {
                            self.value_list_via_association(
                                association.target,
                                &fk.name,
                                &mut merged,
                            );
                        }
                        fk.annotations = merged;
                        fk.key = key;
                        fk.not_null = fk.not_null || key || not_null;
                    }
                    out.push(Flat {
                        name,
                        element,
                        key,
                        not_null,
                        shape: Shape::Association {
                            target: association.target,
                            to_many: association.to_many,
                            composition,
                            contained: crate::csn::is_set(
                                element.get(super::draft::CONTAINS_TARGET),
                            ),
                            on,
                            foreign_keys,
                        },
                        annotations,
                    });
                    out.extend(fk_elements);
                }
            }
        }
        Ok(out)
    }

    /// The foreign keys of a managed association named `name`: (foreign key, target key, the
    /// foreign key as a flat element), following keys that are themselves associations or
    /// structures.
    fn foreign_keys(
        &self,
        location: &str,
        target: &'a str,
        keys: Option<&'a Vec<Value>>,
        name: &str,
    ) -> Result<Vec<(String, String, Flat<'a>)>, EdmxError> {
        let target_def = self.defined(target, location, "an association to the unknown entity")?;
        let target_elements = target_def
            .get("elements")
            .and_then(Value::as_object)
            .into_iter()
            .flatten();
        let target_flat = self.flatten_with(target, target_elements, "", false, false)?;
        let key_refs: Vec<(String, String)> = match keys {
            Some(keys) => keys
                .iter()
                .map(|k| {
                    let path: Vec<&str> = k
                        .get("ref")
                        .and_then(Value::as_array)
                        .map(|r| r.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    let alias = k
                        .get("as")
                        .and_then(Value::as_str)
                        .map_or_else(|| path.join("_"), str::to_owned);
                    (path.join("_"), alias)
                })
                .collect(),
            None => target_flat
                .iter()
                .filter(|f| f.key && !matches!(f.shape, Shape::Association { .. }))
                .map(|f| (f.name.clone(), f.name.clone()))
                .collect(),
        };
        let mut out = Vec::new();
        for (path, alias) in key_refs {
            let matching: Vec<&Flat<'a>> = target_flat
                .iter()
                .filter(|f| !matches!(f.shape, Shape::Association { .. }))
                .filter(|f| f.name == path || f.name.starts_with(&format!("{path}_")))
                .collect();
            if matching.is_empty() {
                return Err(EdmxError::Unsupported {
                    location: location.to_owned(),
                    construct: format!("a foreign key '{path}' not found in '{target}'"),
                });
            }
            for target_key in matching {
                let suffix = &target_key.name[path.len()..];
                let fk_name = format!("{name}_{alias}{suffix}");
                let mut fk = target_key.clone();
                fk.name = fk_name.clone();
                fk.annotations = Map::new();
                fk.not_null = false;
                out.push((fk_name, target_key.name.clone(), fk));
            }
        }
        Ok(out)
    }

    /// The value help the compiler derives for the foreign key `foreign_key` of a managed
    /// association to a `@cds.odata.valuelist` entity (`@Common.ValueList.viaAssociation`):
    /// the target as collection, its key as in/out parameter, its text as display parameter.
    fn value_list_via_association(
        &self,
        target: &str,
        foreign_key: &str,
        annotations: &mut Map<String, Value>,
    ) {
        let Some(value_list) = self.csn.definition(target) else {
            return;
        };
        if !crate::csn::is_set(value_list.get("@cds.odata.valuelist"))
            || annotations.contains_key("@Common.ValueList.CollectionPath")
        {
            return;
        }
        let elements = value_list.get("elements").and_then(Value::as_object);
        let Some(key) = elements.into_iter().flatten().find_map(|(name, e)| {
            let is_key = e.get("key") == Some(&Value::Bool(true)) && e.get("target").is_none();
            let draft_key = name == "IsActiveEntity"
                && crate::csn::is_set(value_list.get("@odata.draft.enabled"));
            (is_key && !draft_key).then_some(name)
        }) else {
            return;
        };
        let identification = value_list
            .get("@UI.Identification")
            .and_then(|i| i.get(0))
            .and_then(|first| {
                first
                    .get("=")
                    .or_else(|| first.get("Value").and_then(|v| v.get("=")))
            })
            .and_then(Value::as_str);
        let texts: Vec<&str> = match identification {
            Some(text) => vec![text],
            None => elements
                .into_iter()
                .flatten()
                .filter(|(_, e)| {
                    e.get("key").is_none()
                        && e.get("type").and_then(Value::as_str) == Some("cds.String")
                })
                .map(|(name, _)| name.as_str())
                .collect(),
        };
        let short_name = target.rsplit('.').next().unwrap_or(target);
        let label = annotations
            .get("@Common.Label")
            .or_else(|| value_list.get("@Common.Label"))
            .or_else(|| value_list.get("@title"))
            .cloned()
            .unwrap_or_else(|| Value::String(short_name.to_owned()));
        let mut parameters = vec![serde_json::json!({
            "$Type": "Common.ValueListParameterInOut",
            "LocalDataProperty": {"=": foreign_key},
            "ValueListProperty": key,
        })];
        parameters.extend(texts.iter().map(|text| {
            serde_json::json!({"$Type": "Common.ValueListParameterDisplayOnly", "ValueListProperty": text})
        }));
        annotations.insert("@Common.ValueList.Label".into(), label);
        annotations.insert(
            "@Common.ValueList.CollectionPath".into(),
            Value::String(short_name.to_owned()),
        );
        annotations.insert(
            "@Common.ValueList.Parameters".into(),
            Value::Array(parameters),
        );
    }

    /// Annotations the compiler adds to a scalar property: computed default values, allowed
    /// values of enums.
    fn generated_annotations(
        &self,
        location: &str,
        element: &'a Map<String, Value>,
        key: bool,
        scalar: &Scalar,
        annotations: &mut Map<String, Value>,
    ) -> Result<(), EdmxError> {
        let computed_default = element
            .get("default")
            .is_some_and(|d| d.get("val").is_none() && d.get("#").is_none());
        if (key
            && scalar.builtin == Builtin::Uuid
            && element.get("type").and_then(Value::as_str) == Some("cds.UUID"))
            || computed_default
        {
            annotations
                .entry("@Core.ComputedDefaultValue")
                .or_insert(Value::Bool(true));
        }
        if let Some(enumeration) = self.enum_of(location, element)? {
            let values: Vec<Value> = enumeration
                .iter()
                .map(|(symbol, entry)| {
                    let value = entry
                        .get("val")
                        .cloned()
                        .unwrap_or_else(|| Value::String(symbol.clone()));
                    serde_json::json!({"$symbol": symbol, "Value": value})
                })
                .collect();
            annotations
                .entry("@Validation.AllowedValues")
                .or_insert(Value::Array(values));
        }
        Ok(())
    }

    /// The `enum` of an element, from itself or the types it derives from.
    fn enum_of(
        &self,
        location: &str,
        element: &'a Map<String, Value>,
    ) -> Result<Option<&'a Map<String, Value>>, EdmxError> {
        let mut current = element;
        for _ in 0..32 {
            if let Some(Value::Object(e)) = current.get("enum") {
                return Ok(Some(e));
            }
            match current.get("type").and_then(Value::as_str) {
                Some(t) if !t.starts_with("cds.") => {
                    current = self.defined(t, location, "the unknown type")?;
                }
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// The generated `texts` and `localized` associations of an entity with localized
    /// elements whose texts entity the service exposes.
    fn add_localized(
        &self,
        name: &str,
        def: &'a Map<String, Value>,
        flat: &mut Vec<Flat<'a>>,
    ) -> Result<(), EdmxError> {
        let has_localized = def
            .get("elements")
            .and_then(Value::as_object)
            .is_some_and(|e| {
                e.values()
                    .any(|el| el.get("localized") == Some(&Value::Bool(true)))
            });
        let texts = format!("{name}.texts");
        let Some((texts_name, _)) = self.csn.definitions.get_key_value(&texts) else {
            return Ok(());
        };
        if !has_localized
            || flat
                .iter()
                .any(|f| f.name == "texts" || f.name == "localized")
        {
            return Ok(());
        }
        let keys: Vec<String> = flat
            .iter()
            .filter(|f| f.key && !matches!(f.shape, Shape::Association { .. }))
            .map(|f| f.name.clone())
            .collect();
        for (element_name, to_many) in [("texts", true), ("localized", false)] {
            let constraints = if to_many {
                Vec::new()
            } else {
                keys.iter().map(|k| (k.clone(), k.clone())).collect()
            };
            flat.push(Flat {
                name: element_name.into(),
                element: def,
                key: false,
                not_null: false,
                shape: Shape::Association {
                    target: texts_name.as_str(),
                    to_many,
                    composition: to_many,
                    contained: false,
                    on: None,
                    foreign_keys: constraints,
                },
                annotations: Map::new(),
            });
        }
        Ok(())
    }

    fn members_of(&self, flat: &[Flat<'a>]) -> Result<Vec<Member>, EdmxError> {
        let mut members = Vec::new();
        for element in flat {
            match &element.shape {
                Shape::Scalar(scalar) | Shape::ScalarCollection(scalar) => {
                    let collection = matches!(element.shape, Shape::ScalarCollection(_));
                    let type_definition = self.type_definition_of(element.element);
                    let mut attributes = match &type_definition {
                        Some(local) => vec![("Type", collection_of(local, collection))],
                        None => scalar_attributes(scalar, collection),
                    };
                    if crate::csn::is_set(element.annotations.get("@Core.MediaType")) {
                        // a stream keeps only the length of a Binary
                        attributes = vec![("Type", "Edm.Stream".into())];
                        if scalar.builtin == Builtin::Binary
                            && let Some(length) = scalar.length
                        {
                            attributes.push(("MaxLength", length.to_string()));
                        }
                    }
                    if collection {
                        attributes.push(("Nullable", (!element.not_null).to_string()));
                    } else if (element.key
                        && element.element.get("notNull") != Some(&Value::Bool(false)))
                        || element.not_null
                    {
                        attributes.push(("Nullable", "false".into()));
                    }
                    if let Some(default) = default_value(element)
                        && !element
                            .annotations
                            .contains_key("@Core.ComputedDefaultValue")
                    {
                        attributes.push(("DefaultValue", default));
                    }
                    if scalar.builtin == Builtin::Decimal
                        && scalar.precision.is_none()
                        && scalar.scale.is_none()
                        && type_definition.is_none()
                    {
                        attributes.push(("Scale", "variable".into()));
                    }
                    members.push(Member::Property(TypedItem {
                        name: element.name.clone(),
                        attributes,
                    }));
                }
                Shape::ComplexCollection(complex) => {
                    members.push(Member::Property(TypedItem {
                        name: element.name.clone(),
                        attributes: vec![
                            ("Type", format!("Collection({complex})")),
                            ("Nullable", (!element.not_null).to_string()),
                        ],
                    }));
                }
                Shape::Association {
                    target,
                    to_many,
                    composition,
                    contained,
                    on,
                    foreign_keys,
                } => {
                    // the compiler leaves out navigation to entities the service does not expose,
                    // and navigation switched off with `@odata.navigable: false`
                    let Some(local) = self.local_name(target) else {
                        continue;
                    };
                    if element.element.get("@odata.navigable") == Some(&Value::Bool(false)) {
                        continue;
                    }
                    let partner = self.partner(element, target, *on);
                    let constraints = if *to_many || *contained {
                        Vec::new()
                    } else if let Some(on) = on {
                        if *composition && partner.is_none() {
                            Vec::new()
                        } else {
                            expand_foreign_keys(on_condition_pairs(&element.name, on), flat)
                        }
                    } else {
                        foreign_keys.clone()
                    };
                    members.push(Member::Navigation(NavigationProperty {
                        name: element.name.clone(),
                        target_type: self.qualified(&local),
                        collection: *to_many,
                        not_null: !*to_many && element.not_null,
                        partner,
                        contains_target: *contained,
                        constraints,
                        cascade: *composition,
                    }));
                }
            }
        }
        Ok(members)
    }

    /// The partner of an association: the target's association that is this one's backlink
    /// (`on target.back = $self`), or whose backlink this one is.
    fn partner(&self, element: &Flat<'a>, target: &str, on: Option<&Vec<Value>>) -> Option<String> {
        if let Some(back) = on.and_then(|on| self_backlink(&element.name, on)) {
            return Some(back);
        }
        // the other direction: a target association whose on condition is `<it>.<me> = $self`
        let owner = self.owner_of(element)?;
        let target_def = self.csn.definition(target)?;
        target_def
            .get("elements")
            .and_then(Value::as_object)?
            .iter()
            .find(|(other, el)| {
                el.get("target").and_then(Value::as_str) == Some(owner)
                    && el
                        .get("on")
                        .and_then(Value::as_array)
                        .and_then(|on| self_backlink(other, on))
                        .as_deref()
                        == Some(element.name.as_str())
            })
            .map(|(other, _)| other.clone())
    }

    /// The definition owning a flat element (by identity of its element map).
    fn owner_of(&self, element: &Flat<'a>) -> Option<&'a str> {
        self.csn.definitions.iter().find_map(|(name, def)| {
            def.get("elements")
                .and_then(Value::as_object)?
                .values()
                .any(|e| {
                    e.as_object()
                        .is_some_and(|e| std::ptr::eq(e, element.element))
                })
                .then_some(name.as_str())
        })
    }
}

/// A named CSN member.
type Named<'v> = (&'v String, &'v Map<String, Value>);

/// The members of `def[dictionary]` (`actions`, `params`), each an object.
fn objects_in<'v>(
    def: &'v Map<String, Value>,
    dictionary: &str,
    location: &str,
) -> Result<Vec<Named<'v>>, EdmxError> {
    let Some(Value::Object(members)) = def.get(dictionary) else {
        return Ok(Vec::new());
    };
    members
        .iter()
        .map(|(name, member)| {
            let at = format!("{location}.{dictionary}.{name}");
            object_at(member, &at, "a member").map(|m| (name, m))
        })
        .collect()
}

/// A CSN member that must be an object (an element, action or parameter).
fn object_at<'v>(
    value: &'v Value,
    location: &str,
    what: &str,
) -> Result<&'v Map<String, Value>, EdmxError> {
    value.as_object().ok_or_else(|| EdmxError::Unsupported {
        location: location.to_owned(),
        construct: format!("{what} that is not an object"),
    })
}

/// Overloads of one name stay together, at the place of the first (the compiler keeps its
/// actions in a dictionary by name).
fn group_overloads(operations: &mut Vec<Operation>) {
    let mut names: Vec<String> = Vec::new();
    for operation in operations.iter() {
        if !names.contains(&operation.name) {
            names.push(operation.name.clone());
        }
    }
    let mut grouped = Vec::with_capacity(operations.len());
    for name in names {
        let (same, rest): (Vec<Operation>, Vec<Operation>) = std::mem::take(operations)
            .into_iter()
            .partition(|o| o.name == name);
        grouped.extend(same);
        *operations = rest;
    }
    *operations = grouped;
}

/// Constraint pairs naming a managed association on both sides (`localized.up_ = up_`) stand
/// for the pairs of its foreign keys (`up__ID = up__ID`).
fn expand_foreign_keys(pairs: Vec<(String, String)>, flat: &[Flat<'_>]) -> Vec<(String, String)> {
    let mut expanded = Vec::new();
    for (local, target) in pairs {
        let foreign_keys = flat.iter().find_map(|f| match &f.shape {
            Shape::Association {
                foreign_keys,
                on: None,
                ..
            } if f.name == local => Some(foreign_keys),
            _ => None,
        });
        match foreign_keys {
            Some(foreign_keys) if !foreign_keys.is_empty() => {
                for (fk, _) in foreign_keys {
                    let suffix = &fk[local.len()..];
                    expanded.push((fk.clone(), format!("{target}{suffix}")));
                }
            }
            _ => expanded.push((local, target)),
        }
    }
    expanded
}

/// The literal default of an element, as the compiler writes it into `DefaultValue`.
fn default_value(element: &Flat<'_>) -> Option<String> {
    let default = element.element.get("default")?;
    match default.get("val")? {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Translates the annotations of the construct at `location`, naming it in any error.
fn translate_at(
    rewritten: &Map<String, Value>,
    location: &str,
) -> Result<Vec<Annotation>, EdmxError> {
    annotations::translate(rewritten).map_err(|e| EdmxError::Unsupported {
        location: format!("{location}: {}", e.annotation),
        construct: e.reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn edmx_of(entity_elements: Value) -> Result<String, EdmxError> {
        let csn = Csn::from_value(json!({"definitions": {
            "S": {"kind": "service"},
            "S.E": {"kind": "entity", "elements": entity_elements},
        }}))
        .expect("valid CSN");
        super::super::edmx(&csn, "S")
    }

    #[test]
    fn unconstrained_decimals_get_a_variable_scale_after_their_default() {
        let edmx = edmx_of(json!({"ID": {"key": true, "type": "cds.Integer"},
            "d": {"type": "cds.Decimal", "default": {"val": 1.25}}}))
        .expect("edmx");
        assert!(edmx.contains(
            r#"<Property Name="d" Type="Edm.Decimal" DefaultValue="1.25" Scale="variable"/>"#
        ));
    }

    #[test]
    fn computed_defaults_and_uuid_keys_are_marked_instead_of_written() {
        let edmx = edmx_of(json!({"ID": {"key": true, "type": "cds.UUID"},
            "at": {"type": "cds.Timestamp", "default": {"ref": ["$now"]}}}))
        .expect("edmx");
        assert!(edmx.contains(r#"<Property Name="at" Type="Edm.DateTimeOffset" Precision="7"/>"#));
        assert!(edmx.contains(r#"<Annotations Target="S.E/ID">"#));
        assert!(edmx.contains(r#"<Annotations Target="S.E/at">"#));
        assert_eq!(edmx.matches("Core.ComputedDefaultValue").count(), 2);
    }

    #[test]
    fn derived_scalar_types_of_the_service_are_type_definitions_referenced_by_name() {
        let csn = Csn::from_value(json!({"definitions": {
            "S": {"kind": "service"},
            "S.Code": {"kind": "type", "type": "cds.String", "length": 5},
            "S.E": {"kind": "entity", "elements": {
                "ID": {"key": true, "type": "cds.Integer"}, "c": {"type": "S.Code"}}},
        }}))
        .expect("valid CSN");
        let edmx = super::super::edmx(&csn, "S").expect("edmx");
        assert!(
            edmx.contains(r#"<Property Name="c" Type="S.Code"/>"#),
            "{edmx}"
        );
        assert!(edmx.contains(
            r#"<TypeDefinition Name="Code" UnderlyingType="Edm.String" MaxLength="5"/>"#
        ));
    }

    #[test]
    fn streams_and_switched_off_navigation_follow_the_compiler() {
        let csn = Csn::from_value(json!({"definitions": {
            "S": {"kind": "service"},
            "S.C": {"kind": "entity", "elements": {"ID": {"key": true, "type": "cds.Integer"}}},
            "S.E": {"kind": "entity", "elements": {
                "ID": {"key": true, "type": "cds.Integer"},
                "img": {"type": "cds.LargeBinary", "@Core.MediaType": "image/png"},
                "c": {"type": "cds.Association", "target": "S.C", "keys": [{"ref": ["ID"]}],
                      "@odata.navigable": false}}},
        }}))
        .expect("valid CSN");
        let edmx = super::super::edmx(&csn, "S").expect("edmx");
        assert!(
            edmx.contains(r#"<Property Name="img" Type="Edm.Stream"/>"#),
            "{edmx}"
        );
        assert!(!edmx.contains(r#"NavigationProperty Name="c""#), "{edmx}");
        assert!(
            edmx.contains(r#"<Property Name="c_ID" Type="Edm.Int32"/>"#),
            "{edmx}"
        );
    }

    #[test]
    fn constructs_we_cannot_map_are_errors_naming_their_place() {
        let err = edmx_of(json!({"ID": {"key": true, "type": "cds.Integer"},
            "lines": {"items": {"elements": {"a": {"type": "cds.String"}}}}}))
        .expect_err("inline arrayed structure");
        assert_eq!(
            err.to_string(),
            "S.E.lines: cannot map an arrayed element of structures to EDMX"
        );
        let err = edmx_of(json!({"x": {"type": "my.Nope"}})).expect_err("unknown type");
        assert!(err.to_string().contains("S.E.x"), "{err}");
    }
}
