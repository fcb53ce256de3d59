//! Which definitions reach the database, and as what.
//!
//! `cds compile --to sql` first minifies the model (`cds.minify`): it keeps services and
//! their children, every other entity except those marked `@cds.persistence.skip:
//! 'if-unused'` and `.texts` entities, and then everything the kept definitions reference
//! (association targets, types, view sources, includes, and each kept entity's `.texts`).
//! That is why `sap.common.Currencies` gets a table as soon as some entity uses the
//! `Currency` type, and not otherwise. The compiler then leaves out entities marked
//! `@cds.persistence.skip` (any other value than `'if-unused'`) and emits no DDL for
//! `@cds.persistence.exists`.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::SchemaError;
use crate::csn::{Csn, is_set};

/// The entities of a model sorted by what they become, each list in model order.
#[derive(Debug, Default)]
pub(super) struct Classified {
    /// Entities stored in a table (plain entities and `@cds.persistence.table` projections).
    pub tables: Vec<String>,
    /// Projections and selects that become views (before checking their sources exist).
    pub views: Vec<String>,
    /// `@cds.persistence.exists` entities: in the database, not ours.
    pub existing: Vec<String>,
}

impl Classified {
    /// Whether `name` is a table or a pre-existing object (something a view can read).
    pub(super) fn is_stored(&self, name: &str) -> bool {
        self.tables.iter().any(|t| t == name) || self.existing.iter().any(|t| t == name)
    }
}

const SKIP: &str = "@cds.persistence.skip";
const IF_UNUSED: &str = "if-unused";

pub(super) fn classify(csn: &Csn) -> Result<Classified, SchemaError> {
    let kept = Minifier::run(csn);
    let mut out = Classified::default();
    for (name, def) in &csn.definitions {
        let Some(def) = def.as_object() else { continue };
        if !kept.contains(name.as_str())
            || def.get("kind").and_then(Value::as_str) != Some("entity")
        {
            continue;
        }
        if def.get("abstract") == Some(&Value::Bool(true)) || is_skipped(def) {
            continue;
        }
        check_supported(name, def)?;
        if is_set(def.get("@cds.persistence.exists"))
            || is_set(def.get("@cds.persistence.udf"))
            || is_set(def.get("@cds.persistence.calcview"))
        {
            out.existing.push(name.clone());
        } else if (def.contains_key("query") || def.contains_key("projection"))
            && !is_set(def.get("@cds.persistence.table"))
        {
            out.views.push(name.clone());
        } else {
            out.tables.push(name.clone());
        }
    }
    Ok(out)
}

/// `@cds.persistence.skip` with any value other than `false` and `'if-unused'`.
pub(super) fn is_skipped(def: &Map<String, Value>) -> bool {
    let skip = def.get(SKIP);
    is_set(skip) && skip.and_then(Value::as_str) != Some(IF_UNUSED)
}

/// Refuses constructs that change the DDL in ways we do not reproduce.
fn check_supported(name: &str, def: &Map<String, Value>) -> Result<(), SchemaError> {
    for annotation in ["@sql.append", "@sql.prepend"] {
        if def.contains_key(annotation) {
            return Err(SchemaError::unsupported(name, annotation));
        }
    }
    if def.contains_key("params") {
        return Err(SchemaError::unsupported(name, "an entity with parameters"));
    }
    Ok(())
}

/// A port of `cds.minify` (the part `cds compile --to sql` uses).
struct Minifier<'a> {
    csn: &'a Csn,
    kept: HashSet<&'a str>,
}

impl<'a> Minifier<'a> {
    fn run(csn: &'a Csn) -> HashSet<&'a str> {
        let mut m = Self {
            csn,
            kept: HashSet::new(),
        };
        let kinds = ["entity", "type", "event", "action", "function"];
        let mut skipped: HashSet<&str> = HashSet::new();
        for (service, def) in &csn.definitions {
            if kind(def) != Some("service") {
                continue;
            }
            m.keep(service);
            let prefix = format!("{service}.");
            for (child, def) in &csn.definitions {
                if child.starts_with(&prefix) {
                    if kind(def).is_some_and(|k| kinds.contains(&k)) {
                        m.keep(child);
                    } else {
                        skipped.insert(child);
                    }
                }
            }
        }
        for (name, def) in &csn.definitions {
            if kind(def) != Some("entity")
                || skipped.contains(name.as_str())
                || m.kept.contains(name.as_str())
                || def.get(SKIP).and_then(Value::as_str) == Some(IF_UNUSED)
                || name.ends_with(".texts")
            {
                continue;
            }
            m.keep(name);
        }
        m.kept
    }

    fn keep(&mut self, name: &str) {
        let Some((name, def)) = self.csn.definitions.get_key_value(name) else {
            return;
        };
        if !self.kept.insert(name.as_str()) {
            return;
        }
        if let Some(def) = def.as_object() {
            self.walk(def);
        }
        let texts = format!("{name}.texts");
        if self.csn.definitions.contains_key(&texts) {
            self.keep(&texts);
        }
    }

    fn walk(&mut self, d: &'a Map<String, Value>) {
        if let Some(target) = d.get("target").and_then(Value::as_str) {
            self.keep(target);
        }
        match d.get("type") {
            Some(Value::String(t)) if self.csn.definitions.contains_key(t) => {
                return self.keep(t);
            }
            Some(Value::Object(t)) => {
                if let Some(first) = t.get("ref").and_then(|r| r.get(0)).and_then(Value::as_str) {
                    return self.keep(first);
                }
            }
            _ => {}
        }
        for key in ["projection", "query"] {
            if let Some(q) = d.get(key) {
                self.view(q);
            }
        }
        for key in ["items", "returns"] {
            if let Some(Value::Object(inner)) = d.get(key) {
                self.walk(inner);
            }
        }
        for key in ["elements", "actions", "params"] {
            if let Some(Value::Object(members)) = d.get(key) {
                for member in members.values().filter_map(Value::as_object) {
                    self.walk(member);
                }
            }
        }
        if let Some(Value::Array(includes)) = d.get("includes") {
            for include in includes.iter().filter_map(Value::as_str) {
                self.keep(include);
            }
        }
    }

    fn view(&mut self, q: &'a Value) {
        let q = q.get("SELECT").unwrap_or(q);
        if let Some(Value::Object(mixin)) = q.get("mixin") {
            for member in mixin.values().filter_map(Value::as_object) {
                self.walk(member);
            }
        }
        if let Some(from) = q.get("from") {
            return self.from(from);
        }
        if let Some(Value::Array(args)) = q.get("SET").and_then(|s| s.get("args")) {
            for arg in args {
                self.view(arg);
            }
        }
    }

    fn from(&mut self, from: &'a Value) {
        if let Some(first) = from.get("ref").and_then(|r| r.get(0)) {
            let name = first
                .as_str()
                .or_else(|| first.get("id").and_then(Value::as_str));
            if let Some(name) = name {
                self.keep(name);
            }
        } else if let Some(Value::Array(args)) = from.get("args") {
            for arg in args {
                self.from(arg);
            }
        }
    }
}

fn kind(def: &Value) -> Option<&str> {
    def.get("kind").and_then(Value::as_str)
}
