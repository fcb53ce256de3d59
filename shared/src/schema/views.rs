//! Projections and selects → views, and the `localized_…` convenience views.
//!
//! A view's columns follow the view's inferred `elements` (which already reflect `*`,
//! `excluding` and aliases); each element is rendered from its explicit column (an alias, an
//! expression) or, when it comes from `*`, from the source element of the same name. Like
//! the compiler, a view whose source is not in the database (`@cds.persistence.skip`) is left
//! out, and the source gets the alias `<name>_0`. Paths that leave the source through an
//! association become joins or `EXISTS` subqueries ([`paths`]).

mod paths;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::reach::Classified;
use super::tables::{element_columns, element_object, elements_of, literal};
use super::{Expr, From, OrderBy, SchemaError, Source, View, ViewColumn, sql_name};
use crate::csn::{Csn, Resolved, is_set};
use paths::{Join, Side, on_condition};

/// All views of the model in creation order (each after the views it reads).
pub(super) fn views(csn: &Csn, classified: &Classified) -> Result<Vec<View>, SchemaError> {
    let sources = view_sources(csn, &classified.views)?;
    let persisted = persisted_views(classified, &sources);

    let mut derived = Vec::new();
    for name in &classified.views {
        if persisted.contains(name.as_str()) {
            derived.push(view(csn, name, &sources[name.as_str()])?);
        }
    }

    let mut all: Vec<View> = Vec::new();
    // Direct convenience views of entities with localized elements (`L_0 LEFT JOIN texts`).
    let mut localized_for: HashMap<String, String> = HashMap::new();
    for name in classified.tables.iter().chain(&classified.existing) {
        if let Some(view) = direct_localized_view(csn, classified, name)? {
            localized_for.insert(name.clone(), view.name.clone());
            all.push(view);
        }
    }
    // Views with localized elements get a copy reading the localized variant of the source.
    let localized_views: Vec<&View> = derived
        .iter()
        .filter(|v| has_localized_elements(csn, &v.entity))
        .collect();
    for v in &localized_views {
        localized_for.insert(v.entity.clone(), format!("localized_{}", v.name));
    }
    // The copy reads the localized variant of every table it reads that has one, joined
    // ones included (the compiler redirects the associations behind joins to them too).
    let localized_sql: HashMap<String, &String> = localized_for
        .iter()
        .map(|(entity, localized)| (sql_name(entity), localized))
        .collect();
    let mut copies = Vec::new();
    for original in localized_views {
        let mut view = original.clone();
        view.name = format!("localized_{}", original.name);
        view.entity = format!("localized.{}", original.entity);
        for name in view.from.sources_mut() {
            if let Some(localized) = localized_sql.get(name.as_str()) {
                name.clone_from(localized);
            }
        }
        copies.push(view);
    }
    all.extend(derived);
    all.extend(copies);
    Ok(dependency_order(all))
}

/// The single source of every view (`from: {ref: [name]}`); joins, unions and infix filters
/// are refused.
fn view_sources<'a>(
    csn: &'a Csn,
    views: &'a [String],
) -> Result<HashMap<&'a str, (String, String)>, SchemaError> {
    let mut sources = HashMap::new();
    for name in views {
        let def = csn
            .definition(name)
            .ok_or_else(|| SchemaError::invalid(name, "not defined"))?;
        let select = select_of(name, def)?;
        let from = select
            .get("from")
            .ok_or_else(|| SchemaError::invalid(name, "query without 'from'"))?;
        let r = from.get("ref").and_then(Value::as_array);
        let source = match r.map(Vec::as_slice) {
            Some([Value::String(source)]) => source.clone(),
            Some(_) => {
                return Err(SchemaError::unsupported(
                    name,
                    "a 'from' with a path or an infix filter",
                ));
            }
            None => {
                return Err(SchemaError::unsupported(
                    name,
                    "a query on more than one source (join)",
                ));
            }
        };
        let alias = from.get("as").and_then(Value::as_str).map_or_else(
            || source.rsplit('.').next().unwrap_or(&source).to_owned(),
            str::to_owned,
        );
        sources.insert(name.as_str(), (source, alias));
    }
    Ok(sources)
}

/// The `SELECT` of a view: `projection`, or `query.SELECT`.
fn select_of<'a>(
    name: &str,
    def: &'a Map<String, Value>,
) -> Result<&'a Map<String, Value>, SchemaError> {
    if let Some(Value::Object(p)) = def.get("projection") {
        return Ok(p);
    }
    let query = def
        .get("query")
        .and_then(Value::as_object)
        .ok_or_else(|| SchemaError::invalid(name, "view without a query"))?;
    if query.contains_key("SET") {
        return Err(SchemaError::unsupported(name, "UNION/set queries"));
    }
    query
        .get("SELECT")
        .and_then(Value::as_object)
        .ok_or_else(|| SchemaError::unsupported(name, "a query that is not a SELECT"))
}

/// Views whose source chain ends in a table (or an existing object).
fn persisted_views<'a>(
    classified: &'a Classified,
    sources: &HashMap<&'a str, (String, String)>,
) -> HashSet<&'a str> {
    let mut persisted: HashSet<&str> = HashSet::new();
    loop {
        let before = persisted.len();
        for name in &classified.views {
            let source = &sources[name.as_str()].0;
            if classified.is_stored(source) || persisted.contains(source.as_str()) {
                persisted.insert(name);
            }
        }
        if persisted.len() == before {
            return persisted;
        }
    }
}

fn view(csn: &Csn, name: &str, (source, alias): &(String, String)) -> Result<View, SchemaError> {
    let def = csn
        .definition(name)
        .ok_or_else(|| SchemaError::invalid(name, "not defined"))?;
    let select = select_of(name, def)?;
    if select.contains_key("limit") {
        return Err(SchemaError::unsupported(name, "'limit' in a view"));
    }
    // A mixin association the view only exposes has no column (like any unmanaged
    // association); following one would need a join we do not derive.
    let mixins: Vec<&str> = select
        .get("mixin")
        .and_then(Value::as_object)
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let source_def = csn
        .definition(source)
        .ok_or_else(|| SchemaError::invalid(name, format!("source '{source}' is not defined")))?;
    let next_alias = Cell::new(1);
    let scope = Scope {
        csn,
        view: name,
        source_elements: elements_of(source, source_def)?,
        alias: format!("{alias}_0"),
        from_alias: alias,
        next_alias: &next_alias,
        joins: RefCell::new(Vec::new()),
        mixins,
    };

    let explicit: Vec<&Map<String, Value>> = match select.get("columns") {
        Some(Value::Array(columns)) => columns.iter().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    };
    let mut columns = Vec::new();
    for (element_name, element) in elements_of(name, def)? {
        let element = element_object(name, element_name, element)?;
        if element.get("virtual") == Some(&Value::Bool(true)) {
            continue;
        }
        let column = explicit
            .iter()
            .find(|c| scope.column_name(c).as_deref() == Some(element_name.as_str()));
        // A calculated element read through the view: the compiler writes its expression
        // (`$calc`, in terms of the source's elements) in place of a column, unless the
        // source stores it (a generated column).
        let source_name = match column.and_then(|c| c.get("ref")) {
            Some(r) => scope.ref_path(r)?.first().copied(),
            None => Some(element_name.as_str()),
        };
        let stored_in_source = source_name
            .and_then(|n| scope.source_elements.get(n))
            .and_then(|e| e.get("value"))
            .is_some_and(|v| v.get("stored") == Some(&Value::Bool(true)));
        if let Some(calc) = element.get("$calc").and_then(Value::as_object)
            && column.is_none_or(|c| c.contains_key("ref"))
            && !stored_in_source
        {
            columns.push(ViewColumn {
                name: element_name.clone(),
                expr: scope.top_level(calc)?,
            });
            continue;
        }
        match column {
            Some(c) if !c.contains_key("ref") => {
                if c.contains_key("expand") || c.contains_key("inline") {
                    return Err(SchemaError::unsupported(
                        name,
                        format!("expand/inline column '{element_name}'"),
                    ));
                }
                columns.push(ViewColumn {
                    name: element_name.clone(),
                    expr: scope.top_level(c)?,
                });
            }
            _ => {
                let path: Vec<&str> = match column.and_then(|c| c.get("ref")) {
                    Some(r) => scope.ref_path(r)?,
                    None => vec![element_name.as_str()],
                };
                if path.first().is_some_and(|p| p.starts_with('$')) {
                    columns.push(ViewColumn {
                        name: element_name.clone(),
                        expr: vec![Expr::Variable(path.join("."))],
                    });
                    continue;
                }
                // An unmanaged association in the view has no column even if the source
                // element has (a redirected or re-defined association).
                if let Ok(Resolved::Association(a)) =
                    csn.resolve(&format!("{name}.{element_name}"), element)
                    && (a.unmanaged || a.to_many)
                {
                    continue;
                }
                for (column, suffix) in scope.columns(&path)? {
                    columns.push(ViewColumn {
                        name: format!("{element_name}{suffix}"),
                        expr: vec![column],
                    });
                }
            }
        }
    }

    let tokens = |key: &str| -> Result<Option<Vec<Expr>>, SchemaError> {
        match select.get(key) {
            Some(Value::Array(xpr)) => Ok(Some(scope.tokens(xpr)?)),
            Some(other) => Err(SchemaError::unsupported(name, format!("{key}: {other}"))),
            None => Ok(None),
        }
    };
    let filter = with_time_slice(def, &columns, tokens("where")?)?;
    let having = tokens("having")?;
    let mut group_by = Vec::new();
    if let Some(Value::Array(items)) = select.get("groupBy") {
        for item in items {
            group_by.push(vec![scope.token(item)?]);
        }
    }
    let mut order_by = Vec::new();
    if let Some(Value::Array(items)) = select.get("orderBy") {
        for item in items {
            order_by.push(OrderBy {
                expr: vec![scope.token(item)?],
                descending: item.get("sort").and_then(Value::as_str) == Some("desc"),
            });
        }
    }
    Ok(View {
        name: sql_name(name),
        entity: name.into(),
        distinct: select.get("distinct") == Some(&Value::Bool(true)),
        columns,
        from: scope.from(source),
        filter,
        group_by,
        having,
        order_by,
    })
}

/// A view exposing a temporal entity's `@cds.valid.from` / `@cds.valid.to` elements shows only
/// the rows valid in the session's time slice: the compiler adds `(from < $valid.to AND to >
/// $valid.from)` to its `WHERE`.
fn with_time_slice(
    def: &Map<String, Value>,
    columns: &[ViewColumn],
    filter: Option<Vec<Expr>>,
) -> Result<Option<Vec<Expr>>, SchemaError> {
    let elements = def.get("elements").and_then(Value::as_object);
    let annotated = |annotation: &str| {
        let name = elements?
            .iter()
            .find(|(_, e)| is_set(e.get(annotation)))
            .map(|(n, _)| n)?;
        columns
            .iter()
            .find(|c| c.name == *name)
            .map(|c| c.expr.clone())
    };
    let (Some(from), Some(to)) = (annotated("@cds.valid.from"), annotated("@cds.valid.to")) else {
        return Ok(filter);
    };
    let mut slice = from;
    slice.extend([
        Expr::Keyword("<".into()),
        Expr::Variable("$valid.to".into()),
    ]);
    slice.push(Expr::Keyword("AND".into()));
    slice.extend(to);
    slice.extend([
        Expr::Keyword(">".into()),
        Expr::Variable("$valid.from".into()),
    ]);
    Ok(Some(match filter {
        None => vec![Expr::Group(slice)],
        // Not in the corpus yet: both conditions parenthesised and joined.
        Some(own) => vec![
            Expr::Group(own),
            Expr::Keyword("AND".into()),
            Expr::Group(slice),
        ],
    }))
}

/// What expressions in one view (or one `EXISTS` subquery of it) can refer to.
struct Scope<'a> {
    csn: &'a Csn,
    view: &'a str,
    source_elements: &'a Map<String, Value>,
    /// The alias in SQL (`Books_0`).
    alias: String,
    /// The alias in CDS (`Books`, or the explicit `as`).
    from_alias: &'a str,
    /// The number the next generated alias gets (`author_1`, `_books_exists_2`): the compiler
    /// counts joins and subqueries of one view together, in the order it meets them.
    next_alias: &'a Cell<usize>,
    /// The joins path expressions have needed so far, in alias order.
    joins: RefCell<Vec<Join>>,
    /// The names of the query's `mixin` associations.
    mixins: Vec<&'a str>,
}

impl<'a> Scope<'a> {
    /// The element name an explicit column defines.
    fn column_name(&self, column: &Map<String, Value>) -> Option<String> {
        if let Some(alias) = column.get("as").and_then(Value::as_str) {
            return Some(alias.to_owned());
        }
        let path = self.ref_path(column.get("ref")?).ok()?;
        path.last().map(|s| (*s).to_owned())
    }

    /// A `ref` as a path into the source, without a leading table alias.
    fn ref_path<'v>(&self, r: &'v Value) -> Result<Vec<&'v str>, SchemaError> {
        let segments = r
            .as_array()
            .map(|r| r.iter().map(Value::as_str).collect::<Option<Vec<&str>>>());
        let Some(Some(mut segments)) = segments else {
            return Err(SchemaError::unsupported(
                self.view,
                format!("reference {r} (with arguments or a filter)"),
            ));
        };
        if segments.len() > 1 && segments[0] == self.from_alias {
            segments.remove(0);
        }
        Ok(segments)
    }

    /// A column's expression: the column itself is one token, an `xpr` is rendered without
    /// parentheses; a top-level `cast` is only the element's CDS type (not rendered).
    fn top_level(&self, column: &Map<String, Value>) -> Result<Vec<Expr>, SchemaError> {
        if let Some(Value::Array(xpr)) = column.get("xpr") {
            return self.tokens(xpr);
        }
        let mut bare = column.clone();
        bare.remove("cast");
        bare.remove("as");
        bare.remove("key");
        Ok(vec![self.token(&Value::Object(bare))?])
    }

    fn tokens(&self, xpr: &[Value]) -> Result<Vec<Expr>, SchemaError> {
        let mut tokens = Vec::with_capacity(xpr.len());
        let mut rest = xpr.iter();
        while let Some(token) = rest.next() {
            if token
                .as_str()
                .is_some_and(|w| w.eq_ignore_ascii_case("exists"))
            {
                let reference = rest.next().and_then(|r| r.get("ref")).ok_or_else(|| {
                    SchemaError::unsupported(self.view, "'exists' without an association")
                })?;
                tokens.push(self.exists(reference)?);
            } else {
                tokens.push(self.token(token)?);
            }
        }
        Ok(tokens)
    }

    fn token(&self, token: &Value) -> Result<Expr, SchemaError> {
        let object = match token {
            Value::String(word) => return Ok(keyword(word)),
            Value::Object(o) => o,
            other => {
                return Err(SchemaError::unsupported(
                    self.view,
                    format!("expression token {other}"),
                ));
            }
        };
        let expr = if let Some(r) = object.get("ref") {
            let path = self.ref_path(r)?;
            if path.first().is_some_and(|p| p.starts_with('$')) {
                Expr::Variable(path.join("."))
            } else {
                let mut columns = self.columns(&path)?;
                match columns.pop() {
                    Some((column, suffix)) if columns.is_empty() && suffix.is_empty() => column,
                    _ => {
                        return Err(SchemaError::unsupported(
                            self.view,
                            format!(
                                "'{}' in an expression (a structure or association)",
                                path.join(".")
                            ),
                        ));
                    }
                }
            }
        } else if let Some(val) = object.get("val") {
            Expr::Literal(
                literal(token)
                    .ok_or_else(|| SchemaError::unsupported(self.view, format!("literal {val}")))?,
            )
        } else if let Some(Value::Array(xpr)) = object.get("xpr") {
            Expr::Group(self.tokens(xpr)?)
        } else if let Some(Value::String(func)) = object.get("func") {
            let args = match object.get("args") {
                Some(Value::Array(args)) => args
                    .iter()
                    .map(|a| match a {
                        Value::Object(o) if o.contains_key("xpr") => self.top_level(o),
                        other => Ok(vec![self.token(other)?]),
                    })
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
                Some(other) => {
                    return Err(SchemaError::unsupported(
                        self.view,
                        format!("named function arguments {other}"),
                    ));
                }
            };
            Expr::Func {
                name: func.clone(),
                args,
            }
        } else if let Some(Value::Array(list)) = object.get("list") {
            Expr::List(
                list.iter()
                    .map(|t| Ok(vec![self.token(t)?]))
                    .collect::<Result<_, SchemaError>>()?,
            )
        } else {
            return Err(SchemaError::unsupported(
                self.view,
                format!("expression {token}"),
            ));
        };
        let Some(Value::Object(cast)) = object.get("cast") else {
            return Ok(expr);
        };
        let owner = format!("{}.cast", self.view);
        let Resolved::Scalar(scalar) = self.csn.resolve(&owner, cast)? else {
            return Err(SchemaError::unsupported(
                self.view,
                "cast to a non-scalar type",
            ));
        };
        Ok(Expr::Cast {
            expr: match expr {
                Expr::Group(inner) => inner,
                other => vec![other],
            },
            ty: super::tables::column_type(&owner, scalar)?,
        })
    }
}

/// CSN operators and keywords; words are rendered upper case like the compiler does.
pub(super) fn keyword(word: &str) -> Expr {
    if word.chars().all(|c| c.is_ascii_alphabetic() || c == ' ') {
        Expr::Keyword(word.to_ascii_uppercase())
    } else {
        Expr::Keyword(word.to_owned())
    }
}

/// `localized_<entity>`: the entity left-joined with its texts for the session's locale,
/// localized elements taken from the texts when present (`coalesce`).
fn direct_localized_view(
    csn: &Csn,
    classified: &Classified,
    name: &str,
) -> Result<Option<View>, SchemaError> {
    let Some(def) = csn.definition(name) else {
        return Ok(None);
    };
    if def.contains_key("query") || def.contains_key("projection") {
        return Ok(None);
    }
    let elements = elements_of(name, def)?;
    let Some(texts) = elements
        .get("localized")
        .and_then(|l| l.get("target"))
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    let Some(texts_elements) = csn
        .definition(texts)
        .and_then(|t| t.get("elements"))
        .and_then(Value::as_object)
    else {
        return Ok(None);
    };
    let localized: Vec<&str> = elements
        .iter()
        .filter(|(n, e)| is_localized(e) && texts_elements.contains_key(n.as_str()))
        .map(|(n, _)| n.as_str())
        .collect();
    if localized.is_empty() || !classified.is_stored(texts) {
        return Ok(None);
    }
    let (base, joined) = ("L_0".to_owned(), "localized_1".to_owned());
    let mut columns = Vec::new();
    for (element_name, element) in elements {
        let element = element_object(name, element_name, element)?;
        if localized.contains(&element_name.as_str()) {
            let column = |alias: &str| {
                vec![Expr::Column {
                    alias: alias.into(),
                    name: element_name.clone(),
                }]
            };
            columns.push(ViewColumn {
                name: element_name.clone(),
                expr: vec![Expr::Func {
                    name: "coalesce".into(),
                    args: vec![column(&joined), column(&base)],
                }],
            });
            continue;
        }
        for leaf in element_columns(csn, name, element_name, element_name, element, 0)? {
            columns.push(ViewColumn {
                name: leaf.column.name.clone(),
                expr: vec![Expr::Column {
                    alias: base.clone(),
                    name: leaf.column.name,
                }],
            });
        }
    }
    let on = elements
        .get("localized")
        .and_then(|l| l.get("on"))
        .and_then(Value::as_array)
        .ok_or_else(|| SchemaError::invalid(name, "'localized' association without 'on'"))?;
    let on = on_condition(
        csn,
        name,
        on,
        "localized",
        Side {
            alias: &base,
            elements,
        },
        Side {
            alias: &joined,
            elements: texts_elements,
        },
    )?;
    Ok(Some(View {
        name: format!("localized_{}", sql_name(name)),
        entity: format!("localized.{name}"),
        distinct: false,
        columns,
        from: From::LeftJoin {
            left: Box::new(From::Table {
                name: sql_name(name),
                alias: base,
            }),
            right: Source {
                name: sql_name(texts),
                alias: joined,
            },
            on,
        },
        filter: None,
        group_by: Vec::new(),
        having: None,
        order_by: Vec::new(),
    }))
}

fn is_localized(element: &Value) -> bool {
    element.get("localized") == Some(&Value::Bool(true))
        && element.get("key") != Some(&Value::Bool(true))
}

/// Whether a view has a non-key `localized` element (also inside structures).
fn has_localized_elements(csn: &Csn, name: &str) -> bool {
    fn any(elements: &Map<String, Value>) -> bool {
        elements.values().any(|e| {
            is_localized(e)
                || e.get("elements")
                    .and_then(Value::as_object)
                    .is_some_and(any)
        })
    }
    csn.definition(name)
        .and_then(|d| d.get("elements"))
        .and_then(Value::as_object)
        .is_some_and(any)
}

/// Orders views so each comes after the views it reads (stable otherwise).
fn dependency_order(views: Vec<View>) -> Vec<View> {
    let index: HashMap<String, usize> = views
        .iter()
        .enumerate()
        .map(|(i, v)| (v.name.clone(), i))
        .collect();
    let mut placed = vec![false; views.len()];
    let mut order = Vec::with_capacity(views.len());
    fn visit(
        i: usize,
        views: &[View],
        index: &HashMap<String, usize>,
        placed: &mut [bool],
        order: &mut Vec<usize>,
    ) {
        if placed[i] {
            return;
        }
        placed[i] = true;
        for source in views[i].sources() {
            if let Some(&j) = index.get(source) {
                visit(j, views, index, placed, order);
            }
        }
        order.push(i);
    }
    for i in 0..views.len() {
        visit(i, &views, &index, &mut placed, &mut order);
    }
    let mut slots: Vec<Option<View>> = views.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

#[cfg(test)]
mod tests;
