//! Entities → tables: the columns each element contributes.

use serde_json::{Map, Value};

use super::{
    Column, ColumnType, DefaultValue, Expr, Literal, SchemaError, Table, UniqueConstraint,
};
use crate::csn::{Builtin, Csn, Resolved, Scalar, is_set};

/// The compiler's default length for `String` without one (`cds.compile.to.sql`, all SQL
/// dialects but HANA).
const DEFAULT_STRING_LENGTH: u32 = 255;
/// The compiler's default length for `Binary` without one.
const DEFAULT_BINARY_LENGTH: u32 = 5000;
/// Associations whose keys are associations nest; real models stay far below this.
const MAX_KEY_DEPTH: usize = 16;

/// A column an element contributes, before it is placed in a table or a view.
#[derive(Debug, Clone)]
pub(super) struct Leaf {
    pub column: Column,
    pub key: bool,
}

/// The table of entity `name`.
pub(super) fn table(csn: &Csn, name: &str) -> Result<Table, SchemaError> {
    let def = csn
        .definition(name)
        .ok_or_else(|| SchemaError::invalid(name, "not defined"))?;
    let elements = elements_of(name, def)?;
    if let Some(key) = elements
        .keys()
        .find(|n| is_set(elements[*n].get("@cds.valid.key")))
    {
        return Err(SchemaError::unsupported(
            name,
            format!("a temporal time-slice key (@cds.valid.key on '{key}')"),
        ));
    }
    let mut columns = Vec::new();
    let mut primary_key = Vec::new();
    for (element_name, element) in elements {
        let element = element_object(name, element_name, element)?;
        // The compiler makes a temporal entity's `@cds.valid.from` part of the primary key,
        // so one row per time slice.
        let valid_from = is_set(element.get("@cds.valid.from"));
        for mut leaf in element_columns(csn, name, element_name, element_name, element, 0)? {
            if valid_from {
                leaf.key = true;
                leaf.column.not_null = true;
            }
            if leaf.key {
                primary_key.push(leaf.column.name.clone());
            }
            columns.push(leaf.column);
        }
    }
    // The compiler writes generated columns after all others.
    columns.sort_by_key(|c| c.generated.is_some());
    let table_name = super::sql_name(name);
    let unique = unique_constraints(csn, name, &table_name, def, elements)?;
    Ok(Table {
        name: table_name,
        entity: name.into(),
        columns,
        primary_key,
        unique,
    })
}

pub(super) fn elements_of<'a>(
    name: &str,
    def: &'a Map<String, Value>,
) -> Result<&'a Map<String, Value>, SchemaError> {
    def.get("elements")
        .and_then(Value::as_object)
        .ok_or_else(|| SchemaError::invalid(name, "entity without elements"))
}

pub(super) fn element_object<'a>(
    entity: &str,
    name: &str,
    element: &'a Value,
) -> Result<&'a Map<String, Value>, SchemaError> {
    element
        .as_object()
        .ok_or_else(|| SchemaError::invalid(entity, format!("element '{name}' is not an object")))
}

/// The columns element `path` (CDS path, for messages) contributes under the SQL name
/// `column`: none for virtual elements, unmanaged or to-many associations; one for a scalar;
/// one per leaf for structures (`address_city`); one per foreign key for managed to-one
/// associations (`author_ID`, recursively for keys that are structures or associations).
pub(super) fn element_columns(
    csn: &Csn,
    entity: &str,
    path: &str,
    column: &str,
    element: &Map<String, Value>,
    depth: usize,
) -> Result<Vec<Leaf>, SchemaError> {
    if element.get("virtual") == Some(&Value::Bool(true)) {
        return Ok(Vec::new());
    }
    let mut generated = None;
    if let Some(value) = element.get("value") {
        if value.get("stored") != Some(&Value::Bool(true)) {
            // Calculated on read: replaced in queries, no column.
            return Ok(Vec::new());
        }
        generated = Some(generation_expression(entity, path, value)?);
    }
    if depth > MAX_KEY_DEPTH {
        return Err(SchemaError::invalid(
            entity,
            format!("foreign keys of '{path}' nest too deep (circular key associations?)"),
        ));
    }
    let key = element.get("key") == Some(&Value::Bool(true));
    let not_null = key || element.get("notNull") == Some(&Value::Bool(true));
    let owner = format!("{entity}.{path}");
    // The compiler stores an arrayed element (`many String`, `array of Phone`, or a type that
    // is one) as JSON text in a LargeString column.
    if is_arrayed(csn, element) {
        return Ok(vec![Leaf {
            column: Column {
                name: column.into(),
                element: path.into(),
                ty: ColumnType::LargeString,
                not_null,
                default: default_value(&owner, element.get("default"))?,
                generated,
            },
            key,
        }]);
    }
    match csn.resolve(&owner, element)? {
        Resolved::Scalar(scalar) => Ok(vec![Leaf {
            column: Column {
                name: column.into(),
                element: path.into(),
                ty: column_type(&owner, scalar)?,
                not_null,
                default: default_value(&owner, element.get("default"))?,
                generated,
            },
            key,
        }]),
        _ if generated.is_some() => Err(SchemaError::unsupported(
            entity,
            format!("stored calculated element '{path}' of a structured or association type"),
        )),
        Resolved::Structured(elements) => {
            let mut leaves = Vec::new();
            for (sub, sub_element) in elements {
                let sub_element = element_object(entity, sub, sub_element)?;
                for mut leaf in element_columns(
                    csn,
                    entity,
                    &format!("{path}.{sub}"),
                    &format!("{column}_{sub}"),
                    sub_element,
                    depth,
                )? {
                    // `key` and `not null` on a structure apply to all its leaves.
                    leaf.key |= key;
                    leaf.column.not_null |= not_null;
                    leaves.push(leaf);
                }
            }
            Ok(leaves)
        }
        Resolved::Association(assoc) => {
            if assoc.unmanaged || assoc.to_many {
                return Ok(Vec::new());
            }
            let mut leaves = Vec::new();
            for foreign_key in foreign_key_elements(csn, entity, path, &assoc)? {
                for leaf in element_columns(
                    csn,
                    assoc.target,
                    &foreign_key.ref_path.join("."),
                    &format!("{column}_{}", foreign_key.alias),
                    foreign_key.element,
                    depth + 1,
                )? {
                    leaves.push(Leaf {
                        column: Column {
                            name: leaf.column.name,
                            element: path.into(),
                            ty: leaf.column.ty,
                            not_null,
                            default: None,
                            generated: None,
                        },
                        key,
                    });
                }
            }
            Ok(leaves)
        }
    }
}

/// One foreign key of a managed association: the target element it refers to.
struct ForeignKey<'a> {
    ref_path: Vec<String>,
    /// The name the key gets in the foreign-key column (`<assoc>_<alias>`).
    alias: String,
    element: &'a Map<String, Value>,
}

/// The keys of a managed association: its explicit `keys`, or the target's primary key.
fn foreign_key_elements<'a>(
    csn: &'a Csn,
    entity: &str,
    path: &str,
    assoc: &crate::csn::Association<'a>,
) -> Result<Vec<ForeignKey<'a>>, SchemaError> {
    let target = csn.definition(assoc.target).ok_or_else(|| {
        SchemaError::invalid(
            entity,
            format!("'{path}' targets unknown '{}'", assoc.target),
        )
    })?;
    let target_elements = elements_of(assoc.target, target)?;
    let keys = match assoc.keys {
        Some(keys) => explicit_keys(entity, path, keys)?,
        None => target_elements
            .iter()
            .filter(|(_, e)| e.get("key") == Some(&Value::Bool(true)))
            .map(|(n, _)| (vec![n.clone()], n.clone()))
            .collect(),
    };
    keys.into_iter()
        .map(|(ref_path, alias)| {
            let element = find_element(target_elements, &ref_path).ok_or_else(|| {
                SchemaError::invalid(
                    entity,
                    format!(
                        "foreign key '{}' of '{path}' is not an element of '{}'",
                        ref_path.join("."),
                        assoc.target
                    ),
                )
            })?;
            Ok(ForeignKey {
                ref_path,
                alias,
                element,
            })
        })
        .collect()
}

/// The column pairs a managed to-one association stands for: (foreign-key column under the
/// SQL prefix `column`, the target's column it refers to), in key order. `author` →
/// `[("author_ID", "ID")]`; keys that are structures or associations give one pair per leaf.
pub(super) fn foreign_key_columns(
    csn: &Csn,
    entity: &str,
    path: &str,
    column: &str,
    assoc: &crate::csn::Association<'_>,
) -> Result<Vec<(String, String)>, SchemaError> {
    let mut pairs = Vec::new();
    for key in foreign_key_elements(csn, entity, path, assoc)? {
        let key_path = key.ref_path.join(".");
        let ours = element_columns(
            csn,
            assoc.target,
            &key_path,
            &format!("{column}_{}", key.alias),
            key.element,
            1,
        )?;
        let theirs = element_columns(
            csn,
            assoc.target,
            &key_path,
            &key.ref_path.join("_"),
            key.element,
            1,
        )?;
        pairs.extend(
            ours.into_iter()
                .zip(theirs)
                .map(|(o, t)| (o.column.name, t.column.name)),
        );
    }
    Ok(pairs)
}

/// Whether an element is arrayed (`items`), directly or through its chain of named types.
fn is_arrayed(csn: &Csn, element: &Map<String, Value>) -> bool {
    let mut current = element;
    for _ in 0..MAX_KEY_DEPTH {
        if current.contains_key("items") {
            return true;
        }
        if current.contains_key("elements") || current.contains_key("target") {
            return false;
        }
        match current
            .get("type")
            .and_then(Value::as_str)
            .and_then(|t| csn.definition(t))
        {
            Some(def) => current = def,
            None => return false,
        }
    }
    false
}

/// `keys: [{ref: ["a", "b"], as: "x"}]` → (path, flattened name).
fn explicit_keys(
    entity: &str,
    path: &str,
    keys: &[Value],
) -> Result<Vec<(Vec<String>, String)>, SchemaError> {
    keys.iter()
        .map(|k| {
            let segments: Option<Vec<String>> = k.get("ref").and_then(Value::as_array).map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            });
            let segments = segments
                .filter(|s| !s.is_empty())
                .ok_or_else(|| SchemaError::invalid(entity, format!("bad key in '{path}'")))?;
            let alias = k
                .get("as")
                .and_then(Value::as_str)
                .map_or_else(|| segments.join("_"), str::to_owned);
            Ok((segments, alias))
        })
        .collect()
}

fn find_element<'a>(
    elements: &'a Map<String, Value>,
    path: &[String],
) -> Option<&'a Map<String, Value>> {
    let (first, rest) = path.split_first()?;
    let element = elements.get(first)?.as_object()?;
    if rest.is_empty() {
        return Some(element);
    }
    find_element(element.get("elements")?.as_object()?, rest)
}

/// The SQL type of a scalar, with the compiler's default lengths.
pub(super) fn column_type(owner: &str, s: Scalar) -> Result<ColumnType, SchemaError> {
    Ok(match s.builtin {
        Builtin::Uuid => ColumnType::String { length: 36 },
        Builtin::String => ColumnType::String {
            length: s.length.unwrap_or(DEFAULT_STRING_LENGTH),
        },
        Builtin::LargeString => ColumnType::LargeString,
        Builtin::Boolean => ColumnType::Boolean,
        Builtin::UInt8 => ColumnType::UInt8,
        Builtin::Int16 => ColumnType::Int16,
        Builtin::Int32 | Builtin::Integer => ColumnType::Integer,
        Builtin::Int64 => ColumnType::Int64,
        Builtin::Decimal => ColumnType::Decimal {
            precision: s.precision,
            scale: s.scale,
        },
        Builtin::Double => ColumnType::Double,
        Builtin::Date => ColumnType::Date,
        Builtin::Time => ColumnType::Time,
        Builtin::DateTime => ColumnType::DateTime,
        Builtin::Timestamp => ColumnType::Timestamp,
        Builtin::Binary => ColumnType::Binary {
            length: s.length.unwrap_or(DEFAULT_BINARY_LENGTH),
        },
        Builtin::LargeBinary => ColumnType::LargeBinary,
        Builtin::Vector => ColumnType::Vector {
            dimensions: s.length.ok_or_else(|| SchemaError::Unsupported {
                entity: owner.into(),
                construct: "Vector without dimensions".into(),
            })?,
        },
        Builtin::Map => ColumnType::Map,
    })
}

fn default_value(
    owner: &str,
    default: Option<&Value>,
) -> Result<Option<DefaultValue>, SchemaError> {
    let Some(default) = default else {
        return Ok(None);
    };
    if let Some(val) = default.get("val") {
        return literal(default)
            .map(|l| Some(DefaultValue::Literal(l)))
            .ok_or_else(|| SchemaError::unsupported(owner, format!("default {val}")));
    }
    if default.get("ref") == Some(&serde_json::json!(["$now"])) {
        return Ok(Some(DefaultValue::CurrentTimestamp));
    }
    Err(SchemaError::unsupported(
        owner,
        format!("default {default}"),
    ))
}

/// The expression of a stored calculated element (`fullName = firstName || ' ' || lastName
/// stored`) in terms of the row's own columns, as the compiler writes it after `GENERATED
/// ALWAYS AS`: the top-level `xpr` unparenthesised, nested ones in parentheses.
fn generation_expression(
    entity: &str,
    path: &str,
    value: &Value,
) -> Result<Vec<Expr>, SchemaError> {
    let unsupported = |what: &Value| {
        SchemaError::unsupported(
            entity,
            format!("{what} in the stored calculated element '{path}'"),
        )
    };
    fn tokens(
        xpr: &[Value],
        unsupported: &dyn Fn(&Value) -> SchemaError,
    ) -> Result<Vec<Expr>, SchemaError> {
        xpr.iter().map(|t| token(t, unsupported)).collect()
    }
    fn token(t: &Value, unsupported: &dyn Fn(&Value) -> SchemaError) -> Result<Expr, SchemaError> {
        if let Some(word) = t.as_str() {
            return Ok(super::views::keyword(word));
        }
        if let Some(Value::Array(segments)) = t.get("ref") {
            // A sibling element, possibly inside a structure: its flattened column name.
            let names: Option<Vec<&str>> = segments.iter().map(Value::as_str).collect();
            return match names {
                Some(names) if !names.iter().any(|n| n.starts_with('$')) => {
                    Ok(Expr::OwnColumn(names.join("_")))
                }
                _ => Err(unsupported(t)),
            };
        }
        if t.get("val").is_some() {
            return literal(t).map(Expr::Literal).ok_or_else(|| unsupported(t));
        }
        if let Some(Value::Array(xpr)) = t.get("xpr") {
            return Ok(Expr::Group(tokens(xpr, unsupported)?));
        }
        if let Some(Value::String(name)) = t.get("func") {
            let args = match t.get("args") {
                Some(Value::Array(args)) => args
                    .iter()
                    .map(|a| match a.get("xpr") {
                        Some(Value::Array(xpr)) => tokens(xpr, unsupported),
                        _ => Ok(vec![token(a, unsupported)?]),
                    })
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
                Some(_) => return Err(unsupported(t)),
            };
            return Ok(Expr::Func {
                name: name.clone(),
                args,
            });
        }
        Err(unsupported(t))
    }
    match value.get("xpr") {
        Some(Value::Array(xpr)) => tokens(xpr, &unsupported),
        _ => Ok(vec![token(value, &unsupported)?]),
    }
}

/// A CSN literal (`{val: …}`) as a literal. Numbers too large or too precise for JSON come
/// as strings marked `literal: 'number'`; the compiler writes them unquoted, the exponent
/// upper case (`2.5e3` → `2.5E3`).
pub(super) fn literal(token: &Value) -> Option<Literal> {
    let number_text = token.get("literal").and_then(Value::as_str) == Some("number");
    Some(match token.get("val")? {
        Value::Null => Literal::Null,
        Value::Bool(b) => Literal::Bool(*b),
        Value::Number(n) => Literal::Number(n.to_string()),
        Value::String(s) if number_text => Literal::Number(s.to_ascii_uppercase()),
        Value::String(s) => Literal::String(s.clone()),
        _ => return None,
    })
}

/// The columns a path (`title`, `address.city`, `author`, `author.ID`) in an entity stands
/// for, as (column name, suffix after the path's own name) pairs: `author` → `[("author_ID",
/// "_ID")]`, `author.ID` → `[("author_ID", "")]`. A path that leaves the entity through an
/// association is refused (views follow it with [`resolve_path`]).
pub(super) fn path_columns(
    csn: &Csn,
    entity: &str,
    elements: &Map<String, Value>,
    path: &[&str],
) -> Result<Vec<(Leaf, String)>, SchemaError> {
    match resolve_path(csn, entity, elements, path)? {
        PathEnd::Columns(columns) => Ok(columns),
        PathEnd::Association { .. } => Err(needs_join(entity, path)),
    }
}

fn needs_join(entity: &str, path: &[&str]) -> SchemaError {
    SchemaError::unsupported(
        entity,
        format!(
            "path expression '{}' (it would need a join)",
            path.join(".")
        ),
    )
}

/// Where a path in an entity ends.
pub(super) enum PathEnd<'a> {
    /// In columns of the entity itself, as [`path_columns`] describes them.
    Columns(Vec<(Leaf, String)>),
    /// At the association `path[..=at]`, which the rest of the path follows into its target.
    Association {
        at: usize,
        /// The SQL prefix of the association's own columns (`address_country`).
        column: String,
        element: &'a Map<String, Value>,
        assoc: crate::csn::Association<'a>,
    },
}

/// Follows a path through structures and foreign keys; stops at the first association the
/// path must leave the entity through.
pub(super) fn resolve_path<'a>(
    csn: &'a Csn,
    entity: &str,
    elements: &'a Map<String, Value>,
    path: &[&str],
) -> Result<PathEnd<'a>, SchemaError> {
    let mut current = elements;
    let mut prefix = String::new();
    for (i, segment) in path.iter().enumerate() {
        let element = current
            .get(*segment)
            .and_then(Value::as_object)
            .ok_or_else(|| {
                SchemaError::invalid(
                    entity,
                    format!("'{}' does not name an element", path.join(".")),
                )
            })?;
        if !prefix.is_empty() {
            prefix.push('_');
        }
        prefix.push_str(segment);
        let cds_path = path[..=i].join(".");
        if i + 1 == path.len() {
            let leaves = element_columns(csn, entity, &cds_path, &prefix, element, 0)?;
            return Ok(PathEnd::Columns(
                leaves
                    .into_iter()
                    .map(|l| {
                        let suffix = l.column.name[prefix.len()..].to_owned();
                        (l, suffix)
                    })
                    .collect(),
            ));
        }
        match csn.resolve(&format!("{entity}.{cds_path}"), element)? {
            Resolved::Structured(sub) => current = sub,
            Resolved::Association(assoc) => {
                if !assoc.unmanaged && !assoc.to_many {
                    // A path to one of the foreign keys stays on this table.
                    let wanted = format!("{prefix}_{}", path[i + 1..].join("_"));
                    let leaves = element_columns(csn, entity, &cds_path, &prefix, element, 0)?;
                    let matching: Vec<_> = leaves
                        .into_iter()
                        .filter(|l| {
                            l.column.name == wanted
                                || l.column.name.starts_with(&format!("{wanted}_"))
                        })
                        .map(|l| {
                            let suffix = l.column.name[wanted.len()..].to_owned();
                            (l, suffix)
                        })
                        .collect();
                    if !matching.is_empty() {
                        return Ok(PathEnd::Columns(matching));
                    }
                }
                return Ok(PathEnd::Association {
                    at: i,
                    column: prefix,
                    element,
                    assoc,
                });
            }
            Resolved::Scalar(_) => break,
        }
    }
    Err(needs_join(entity, path))
}

/// `@assert.unique.<name>: [paths]` on the entity → `CONSTRAINT <table>_<name> UNIQUE (…)`.
fn unique_constraints(
    csn: &Csn,
    entity: &str,
    table: &str,
    def: &Map<String, Value>,
    elements: &Map<String, Value>,
) -> Result<Vec<UniqueConstraint>, SchemaError> {
    let mut constraints = Vec::new();
    for (annotation, value) in def {
        let Some(name) = annotation.strip_prefix("@assert.unique.") else {
            continue;
        };
        if !is_set(Some(value)) {
            continue;
        }
        let Some(paths) = value.as_array() else {
            return Err(SchemaError::unsupported(
                entity,
                format!("{annotation} with a value that is not a list of elements"),
            ));
        };
        let mut columns = Vec::new();
        for p in paths {
            let path = p
                .get("=")
                .and_then(Value::as_str)
                .map(|s| s.split('.').map(str::to_owned).collect::<Vec<_>>())
                .or_else(|| {
                    p.get("ref").and_then(Value::as_array).map(|r| {
                        r.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                })
                .ok_or_else(|| {
                    SchemaError::unsupported(entity, format!("{annotation} entry {p}"))
                })?;
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            for (leaf, _) in path_columns(csn, entity, elements, &path)? {
                columns.push(leaf.column.name);
            }
        }
        constraints.push(UniqueConstraint {
            name: format!("{table}_{name}"),
            columns,
        });
    }
    Ok(constraints)
}
