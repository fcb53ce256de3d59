//! The OData V4 `$metadata` document (EDMX) of one service, generated from the CSN the way the
//! CAP compiler (`cds compile --to edmx`, flat format) writes it.
//!
//! Layout, in the order data flows: [`draft`] adds the draft parts to a copy of the CSN when the
//! service has draft roots; [`model`] derives the EDM of the service (entity types, sets,
//! navigation, operations, and which annotations go where), with [`edm_types`] for the
//! primitive types and facets and [`conditions`] for partners and referential constraints read
//! from `on` conditions; [`annotations`] translates CSN
//! annotations into vocabulary terms; this module lays the EDM out as elements and [`xml`]
//! writes them. Texts stay as the compiler writes them (`{i18n>Key}`): [`localize`] is the
//! separate pass for one language.
//!
//! Definitions come in the order of the CSN given, as the compiler orders them when it reads
//! that CSN (a CSN compiled from sources can list some in another order).

mod annotations;
mod conditions;
mod draft;
mod edm_types;
mod model;
mod xml;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use annotations::{Annotation, Expr, VOCABULARIES};
use model::{Member, Service, TypedItem};
use xml::Element;

use crate::csn::{Csn, CsnError};

/// Why no EDMX could be generated.
#[derive(Debug, thiserror::Error)]
pub enum EdmxError {
    /// The model has no service of that name.
    #[error("unknown service '{0}'")]
    UnknownService(String),
    /// A construct the generator cannot map (yet), at its place in the model.
    #[error("{location}: cannot map {construct} to EDMX")]
    Unsupported { location: String, construct: String },
    #[error(transparent)]
    Csn(#[from] CsnError),
}

/// The EDMX (OData V4, XML) of `service`, equal to the CAP compiler's output for the
/// constructs supported; every other construct is an error naming it.
pub fn edmx(csn: &Csn, service: &str) -> Result<String, EdmxError> {
    let service = model::build(csn, service)?;
    Ok(xml::document(&document(&service)))
}

/// Replaces `{i18n>Key}` placeholders in attribute values and texts with the text of `Key`,
/// leaving placeholders without a text as they are (as CAP's runtime does).
pub fn localize(edmx: &str, texts: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(edmx.len());
    let mut rest = edmx;
    while let Some(start) = rest.find("{i18n>") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "{i18n>".len()..];
        match after.find('}') {
            Some(end) if texts.contains_key(&after[..end]) => {
                out.push_str(&xml::escape_attribute(&texts[&after[..end]]));
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("{i18n>");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn document(service: &Service) -> Element {
    let mut schema = Element::new("Schema")
        .attr("Namespace", &service.namespace)
        .attr("xmlns", "http://docs.oasis-open.org/odata/ns/edm")
        .child(watermark());
    let mut container = Element::new("EntityContainer").attr("Name", "EntityContainer");
    for set in &service.entity_sets {
        let mut element = Element::new("EntitySet")
            .attr("Name", &set.name)
            .attr("EntityType", &set.entity_type);
        for (path, target) in &set.bindings {
            element = element.child(
                Element::new("NavigationPropertyBinding")
                    .attr("Path", path)
                    .attr("Target", target),
            );
        }
        container = container.child(element);
    }
    for import in &service.imports {
        let (tag, attribute) = if import.is_action {
            ("ActionImport", "Action")
        } else {
            ("FunctionImport", "Function")
        };
        let mut element = Element::new(tag)
            .attr("Name", &import.name)
            .attr(attribute, &import.operation);
        if let Some(set) = &import.entity_set {
            element = element.attr("EntitySet", set);
        }
        container = container.child(element);
    }
    if !container.children.is_empty() {
        schema = schema.child(container);
    }
    for entity in &service.entity_types {
        let mut element = Element::new("EntityType").attr("Name", &entity.name);
        if !entity.keys.is_empty() {
            let mut key = Element::new("Key");
            for name in &entity.keys {
                key = key.child(Element::new("PropertyRef").attr("Name", name));
            }
            element = element.child(key);
        }
        element.children.extend(entity.members.iter().map(member));
        schema = schema.child(element);
    }
    for complex in &service.complex_types {
        let mut element = Element::new("ComplexType").attr("Name", &complex.name);
        element
            .children
            .extend(complex.properties.iter().map(member));
        schema = schema.child(element);
    }
    for definition in &service.type_definitions {
        schema = schema.child(typed("TypeDefinition", Some(definition)));
    }
    for operation in &service.operations {
        let mut element = Element::new(if operation.is_action {
            "Action"
        } else {
            "Function"
        })
        .attr("Name", &operation.name)
        .attr("IsBound", operation.bound.to_string());
        if !operation.is_action {
            element = element.attr("IsComposable", "false");
        }
        if let Some(path) = &operation.entity_set_path {
            element = element.attr("EntitySetPath", path);
        }
        for parameter in &operation.parameters {
            element = element.child(typed("Parameter", Some(parameter)));
        }
        if let Some(returns) = &operation.return_type {
            element = element.child(typed("ReturnType", None).with_attributes(returns));
        }
        schema = schema.child(element);
    }
    for (target, list) in &service.annotations {
        let mut element = Element::new("Annotations").attr("Target", target);
        element.children.extend(list.iter().map(annotation));
        schema = schema.child(element);
    }
    let mut root = Element::new("edmx:Edmx")
        .attr("Version", "4.0")
        .attr("xmlns:edmx", "http://docs.oasis-open.org/odata/ns/edmx");
    let used = used_vocabularies(service);
    for (alias, uri, namespace) in VOCABULARIES {
        if used.contains(alias) {
            root = root.child(
                Element::new("edmx:Reference").attr("Uri", *uri).child(
                    Element::new("edmx:Include")
                        .attr("Alias", *alias)
                        .attr("Namespace", *namespace),
                ),
            );
        }
    }
    root.child(Element::new("edmx:DataServices").child(schema))
}

/// The compiler's mark on every schema: a `Core.Links` to CAP.
fn watermark() -> Element {
    annotation(&Annotation {
        term: "Core.Links".into(),
        qualifier: None,
        value: Expr::Collection(vec![Expr::Record {
            record_type: None,
            annotations: Vec::new(),
            properties: vec![
                ("rel".into(), Expr::String("author".into())),
                ("href".into(), Expr::String("https://cap.cloud.sap".into())),
            ],
        }]),
        inner: Vec::new(),
        applies_to: &[],
    })
}

/// Common and Core always (the runtimes expect them), and every vocabulary a term or record
/// type of the document comes from.
fn used_vocabularies(service: &Service) -> Vec<&'static str> {
    fn alias_of(name: &str) -> Option<&'static str> {
        let alias = name.split('.').next()?;
        VOCABULARIES
            .iter()
            .map(|(a, _, _)| *a)
            .find(|a| *a == alias)
    }
    fn visit_annotation(a: &Annotation, used: &mut Vec<&'static str>) {
        used.extend(alias_of(&a.term));
        visit(&a.value, used);
        for inner in &a.inner {
            visit_annotation(inner, used);
        }
    }
    fn visit(expr: &Expr, used: &mut Vec<&'static str>) {
        match expr {
            Expr::Record {
                record_type,
                annotations,
                properties,
            } => {
                used.extend(record_type.as_deref().and_then(alias_of));
                for a in annotations {
                    visit_annotation(a, used);
                }
                for (_, value) in properties {
                    visit(value, used);
                }
            }
            Expr::Collection(items) => items.iter().for_each(|i| visit(i, used)),
            Expr::EnumMember(member) => used.extend(alias_of(member)),
            _ => {}
        }
    }
    let mut used = vec!["Common", "Core"];
    for (_, list) in &service.annotations {
        for a in list {
            visit_annotation(a, &mut used);
        }
    }
    used
}

fn member(member: &Member) -> Element {
    match member {
        Member::Property(property) => typed("Property", Some(property)),
        Member::Navigation(nav) => {
            let ty = if nav.collection {
                format!("Collection({})", nav.target_type)
            } else {
                nav.target_type.clone()
            };
            let mut element = Element::new("NavigationProperty")
                .attr("Name", &nav.name)
                .attr("Type", ty);
            if nav.not_null {
                element = element.attr("Nullable", "false");
            }
            if let Some(partner) = &nav.partner {
                element = element.attr("Partner", partner);
            }
            if nav.contains_target {
                element = element.attr("ContainsTarget", "true");
            }
            if nav.cascade {
                element = element.child(Element::new("OnDelete").attr("Action", "Cascade"));
            }
            for (property, referenced) in &nav.constraints {
                element = element.child(
                    Element::new("ReferentialConstraint")
                        .attr("Property", property)
                        .attr("ReferencedProperty", referenced),
                );
            }
            element
        }
    }
}

fn typed(tag: &str, item: Option<&TypedItem>) -> Element {
    let element = Element::new(tag);
    match item {
        Some(item) => element.attr("Name", &item.name).with_attributes(item),
        None => element,
    }
}

impl Element {
    fn with_attributes(mut self, item: &TypedItem) -> Self {
        for (name, value) in &item.attributes {
            self = self.attr(*name, value);
        }
        self
    }
}

fn annotation(term: &Annotation) -> Element {
    let mut element = Element::new("Annotation").attr("Term", &term.term);
    if let Some(qualifier) = &term.qualifier {
        element = element.attr("Qualifier", qualifier);
    }
    let mut element = with_value(element, &term.value);
    element.children.extend(term.inner.iter().map(annotation));
    element
}

/// Writes a value as an attribute of `element` where XML allows it (`Bool="true"`), else as
/// a child (`<Record>`, `<Collection>`).
fn with_value(element: Element, value: &Expr) -> Element {
    match value {
        Expr::Bool(b) => element.attr("Bool", b.to_string()),
        Expr::String(s) => element.attr("String", s),
        Expr::Int(i) => element.attr("Int", i.to_string()),
        Expr::Decimal(d) => element.attr("Decimal", d),
        Expr::Path(p) => element.attr("Path", p),
        Expr::PropertyPath(p) => element.attr("PropertyPath", p),
        Expr::NavigationPropertyPath(p) => element.attr("NavigationPropertyPath", p),
        Expr::EnumMember(m) => element.attr("EnumMember", m),
        Expr::Record { .. } | Expr::Collection(_) => element.child(value_element(value)),
    }
}

/// A value as an element of its own (inside a `<Collection>`).
fn value_element(value: &Expr) -> Element {
    match value {
        Expr::Bool(b) => Element::new("Bool").with_text(b.to_string()),
        Expr::String(s) => Element::new("String").with_text(s),
        Expr::Int(i) => Element::new("Int").with_text(i.to_string()),
        Expr::Decimal(d) => Element::new("Decimal").with_text(d),
        Expr::Path(p) => Element::new("Path").with_text(p),
        Expr::PropertyPath(p) => Element::new("PropertyPath").with_text(p),
        Expr::NavigationPropertyPath(p) => Element::new("NavigationPropertyPath").with_text(p),
        Expr::EnumMember(m) => Element::new("EnumMember").with_text(m),
        Expr::Record {
            record_type,
            annotations,
            properties,
        } => {
            let mut record = Element::new("Record");
            if let Some(ty) = record_type {
                record = record.attr("Type", ty);
            }
            record.children.extend(annotations.iter().map(annotation));
            for (name, value) in properties {
                record = record.child(with_value(
                    Element::new("PropertyValue").attr("Property", name),
                    value,
                ));
            }
            record
        }
        Expr::Collection(items) => {
            let mut collection = Element::new("Collection");
            collection.children.extend(items.iter().map(value_element));
            collection
        }
    }
}
