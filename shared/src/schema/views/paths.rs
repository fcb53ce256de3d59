//! Path expressions in views: the joins and `EXISTS` subqueries the compiler writes for
//! associations a query follows, and association conditions (`on`, foreign keys) as SQL.

use std::cell::RefCell;

use serde_json::{Map, Value};

use super::{Scope, keyword};
use crate::csn::{Association, Csn, Resolved};
use crate::schema::tables::{
    PathEnd, element_columns, element_object, elements_of, foreign_key_columns, literal,
    path_columns, resolve_path,
};
use crate::schema::{Expr, From, SchemaError, Source, sql_name};

/// A `LEFT JOIN` a path expression needs: the compiler turns each association a path follows
/// (`author.name`, `book.author.country.name`, `count(items.ID)`) into one join per distinct
/// association path, aliased `<association>_<n>`, and reuses it for every path through it.
pub(super) struct Join {
    /// The alias of the table the association starts from, and its path there.
    parent: String,
    path: String,
    source: Source,
    on: Vec<Expr>,
}

/// One side of an association condition: an aliased table or view and its elements.
#[derive(Clone, Copy)]
pub(super) struct Side<'s, 'a> {
    pub alias: &'s str,
    pub elements: &'a Map<String, Value>,
}

impl<'a> Scope<'a> {
    fn fresh_alias(&self, name: &str) -> String {
        let n = self.next_alias.get();
        self.next_alias.set(n + 1);
        format!("{name}_{n}")
    }

    /// The `FROM` clause: the source, left-joined with every join in alias order.
    pub(super) fn from(&self, source: &str) -> From {
        let root = From::Table {
            name: sql_name(source),
            alias: self.alias.clone(),
        };
        self.joins
            .borrow()
            .iter()
            .fold(root, |left, join| From::LeftJoin {
                left: Box::new(left),
                right: join.source.clone(),
                on: join.on.clone(),
            })
    }

    /// The columns a path stands for (with their suffix after the path's own name, see
    /// [`path_columns`]), following associations through joins.
    pub(super) fn columns(&self, path: &[&str]) -> Result<Vec<(Expr, String)>, SchemaError> {
        if let Some(mixin) = path.first().filter(|p| self.mixins.contains(p)) {
            return Err(SchemaError::unsupported(
                self.view,
                format!("a path through the mixin association '{mixin}'"),
            ));
        }
        let root = Side {
            alias: &self.alias,
            elements: self.source_elements,
        };
        self.columns_in(root, path)
    }

    fn columns_in(
        &self,
        side: Side<'_, 'a>,
        path: &[&str],
    ) -> Result<Vec<(Expr, String)>, SchemaError> {
        match resolve_path(self.csn, self.view, side.elements, path)? {
            PathEnd::Columns(columns) => Ok(columns
                .into_iter()
                .map(|(leaf, suffix)| {
                    let column = Expr::Column {
                        alias: side.alias.to_owned(),
                        name: leaf.column.name,
                    };
                    (column, suffix)
                })
                .collect()),
            PathEnd::Association {
                at,
                column,
                element,
                assoc,
            } => {
                let hop = Hop {
                    path: &path[..=at],
                    column: &column,
                    element,
                    assoc: &assoc,
                };
                let (alias, elements) = self.join(side, &hop)?;
                self.columns_in(
                    Side {
                        alias: &alias,
                        elements,
                    },
                    &path[at + 1..],
                )
            }
        }
    }

    /// The alias of the join for `hop` from `parent` (an existing one, or a new one).
    fn join(
        &self,
        parent: Side<'_, 'a>,
        hop: &Hop<'_, 'a>,
    ) -> Result<(String, &'a Map<String, Value>), SchemaError> {
        let target = target_elements(self.csn, self.view, hop.assoc)?;
        let path = hop.path.join(".");
        let existing = self
            .joins
            .borrow()
            .iter()
            .find(|j| j.parent == parent.alias && j.path == path)
            .map(|j| j.source.alias.clone());
        if let Some(alias) = existing {
            return Ok((alias, target));
        }
        let alias = self.fresh_alias(hop.name());
        let on = hop.condition(
            self.csn,
            self.view,
            parent,
            Side {
                alias: &alias,
                elements: target,
            },
            Orientation::SourceFirst,
        )?;
        self.joins.borrow_mut().push(Join {
            parent: parent.alias.to_owned(),
            path,
            source: Source {
                name: sql_name(hop.assoc.target),
                alias: alias.clone(),
            },
            on,
        });
        Ok((alias, target))
    }

    /// `exists <association>[filter]` → `EXISTS (SELECT 1 AS dummy FROM target AS
    /// _<association>_exists_<n> WHERE <association condition> AND <filter>)`, as the compiler
    /// writes it.
    pub(super) fn exists(&self, reference: &Value) -> Result<Expr, SchemaError> {
        let segments = reference.as_array().map(Vec::as_slice).unwrap_or_default();
        let [segment] = segments else {
            return Err(SchemaError::unsupported(
                self.view,
                format!("'exists' on a path of several associations {reference}"),
            ));
        };
        let (name, filter) = match segment {
            Value::String(name) => (name.as_str(), None),
            Value::Object(o) => (
                o.get("id").and_then(Value::as_str).unwrap_or_default(),
                o.get("where").and_then(Value::as_array),
            ),
            _ => ("", None),
        };
        let path = [name];
        if self.mixins.contains(&name) {
            return Err(SchemaError::unsupported(
                self.view,
                format!("'exists' on the mixin association '{name}'"),
            ));
        }
        let element = self
            .source_elements
            .get(name)
            .and_then(Value::as_object)
            .ok_or_else(|| {
                SchemaError::invalid(self.view, format!("'exists {name}': no such element"))
            })?;
        let Resolved::Association(assoc) = self
            .csn
            .resolve(&format!("{}.{name}", self.view), element)?
        else {
            return Err(SchemaError::unsupported(
                self.view,
                format!("'exists' on '{name}', which is not an association"),
            ));
        };
        let alias = self.fresh_alias(&format!("_{name}_exists"));
        let target = target_elements(self.csn, self.view, &assoc)?;
        let hop = Hop {
            path: &path,
            column: name,
            element,
            assoc: &assoc,
        };
        let here = Side {
            alias: &self.alias,
            elements: self.source_elements,
        };
        let there = Side {
            alias: &alias,
            elements: target,
        };
        let mut condition =
            hop.condition(self.csn, self.view, here, there, Orientation::TargetFirst)?;
        if let Some(filter) = filter {
            let inner = Scope {
                csn: self.csn,
                view: self.view,
                source_elements: target,
                alias: alias.clone(),
                from_alias: "",
                next_alias: self.next_alias,
                joins: RefCell::new(Vec::new()),
                mixins: Vec::new(),
            };
            let filter = inner.tokens(filter)?;
            if !inner.joins.borrow().is_empty() {
                return Err(SchemaError::unsupported(
                    self.view,
                    format!("a path expression in the filter of 'exists {name}'"),
                ));
            }
            condition.push(Expr::Keyword("AND".into()));
            if filter.iter().any(|t| *t == Expr::Keyword("OR".into())) {
                condition.push(Expr::Group(filter));
            } else {
                condition.extend(filter);
            }
        }
        Ok(Expr::Exists {
            source: Source {
                name: sql_name(assoc.target),
                alias,
            },
            filter: condition,
        })
    }
}

/// An association a path follows out of the table it is in.
struct Hop<'s, 'a> {
    /// The association's path in its table (`author`, `address.country`).
    path: &'s [&'s str],
    /// The SQL prefix of its foreign-key columns (`author`, `address_country`).
    column: &'s str,
    element: &'a Map<String, Value>,
    assoc: &'s Association<'a>,
}

/// Which side of a managed association's key comparison comes first: the compiler writes
/// `Books_0.author_ID = author_1.ID` in joins and `_author_exists_1.ID = Books_0.author_ID` in
/// `EXISTS` subqueries.
#[derive(Clone, Copy, PartialEq)]
enum Orientation {
    SourceFirst,
    TargetFirst,
}

impl Hop<'_, '_> {
    /// The association's name, the stem of the alias the compiler generates for it.
    fn name(&self) -> &str {
        self.path.last().copied().unwrap_or_default()
    }

    /// The condition linking `source` (where the association is) to `target`: the foreign
    /// keys of a managed association, the `on` of an unmanaged one.
    fn condition(
        &self,
        csn: &Csn,
        view: &str,
        source: Side<'_, '_>,
        target: Side<'_, '_>,
        orientation: Orientation,
    ) -> Result<Vec<Expr>, SchemaError> {
        if self.assoc.unmanaged {
            let on = self
                .element
                .get("on")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    SchemaError::invalid(view, format!("'{}' has no 'on' condition", self.name()))
                })?;
            return on_condition(csn, view, on, self.name(), source, target);
        }
        let pairs = foreign_key_columns(csn, view, &self.path.join("."), self.column, self.assoc)?;
        let mut condition = Vec::new();
        for (foreign_key, key) in pairs {
            if !condition.is_empty() {
                condition.push(Expr::Keyword("AND".into()));
            }
            let ours = Expr::Column {
                alias: source.alias.into(),
                name: foreign_key,
            };
            let theirs = Expr::Column {
                alias: target.alias.into(),
                name: key,
            };
            let (left, right) = match orientation {
                Orientation::SourceFirst => (ours, theirs),
                Orientation::TargetFirst => (theirs, ours),
            };
            condition.extend([left, Expr::Keyword("=".into()), right]);
        }
        Ok(condition)
    }
}

/// The elements of an association's target.
fn target_elements<'a>(
    csn: &'a Csn,
    view: &str,
    assoc: &Association<'a>,
) -> Result<&'a Map<String, Value>, SchemaError> {
    let target = csn.definition(assoc.target).ok_or_else(|| {
        SchemaError::invalid(
            view,
            format!("association target '{}' is not defined", assoc.target),
        )
    })?;
    elements_of(assoc.target, target)
}

/// An unmanaged association's `on` as SQL: references starting with the association's name
/// are columns of `target`, other references columns of `source`. Like the compiler, a
/// comparison of two managed associations (`localized.up_ = up_`) or of one with `$self`
/// (`items.order = $self`) becomes one comparison per foreign key, joined with `AND`.
pub(super) fn on_condition(
    csn: &Csn,
    view: &str,
    on: &[Value],
    association: &str,
    source: Side<'_, '_>,
    target: Side<'_, '_>,
) -> Result<Vec<Expr>, SchemaError> {
    let operand = |token: &Value| -> Result<Option<Vec<Expr>>, SchemaError> {
        let Some(path) = token
            .get("ref")
            .and_then(Value::as_array)
            .and_then(|r| r.iter().map(Value::as_str).collect::<Option<Vec<&str>>>())
        else {
            return Ok(None);
        };
        let (side, path) = match path.as_slice() {
            ["$self"] => {
                // `$self` stands for the source's primary key, which a backlink's foreign
                // keys follow in order.
                let mut keys = Vec::new();
                for (name, element) in source.elements {
                    let element = element_object(view, name, element)?;
                    if element.get("key") == Some(&Value::Bool(true)) {
                        for leaf in element_columns(csn, view, name, name, element, 0)? {
                            keys.push(Expr::Column {
                                alias: source.alias.into(),
                                name: leaf.column.name,
                            });
                        }
                    }
                }
                return Ok(Some(keys));
            }
            [first, ..] if first.starts_with('$') => {
                return Ok(Some(vec![Expr::Variable(path.join("."))]));
            }
            [first, rest @ ..] if *first == association && !rest.is_empty() => (target, rest),
            all => (source, all),
        };
        let columns = path_columns(csn, view, side.elements, path)?;
        Ok(Some(
            columns
                .into_iter()
                .map(|(leaf, _)| Expr::Column {
                    alias: side.alias.into(),
                    name: leaf.column.name,
                })
                .collect(),
        ))
    };
    let mut condition = Vec::new();
    let mut i = 0;
    while i < on.len() {
        let comparison = match on.get(i..i + 3) {
            Some([left, Value::String(op), right]) if op == "=" => {
                match (operand(left)?, operand(right)?) {
                    (Some(left), Some(right)) => Some((left, right)),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some((left, right)) = comparison {
            if left.len() != right.len() || left.is_empty() {
                return Err(SchemaError::invalid(
                    view,
                    format!(
                        "'{association}' compares operands of different shapes in its condition"
                    ),
                ));
            }
            let several = left.len() > 1;
            let mut pairs = Vec::new();
            for (n, (l, r)) in left.into_iter().zip(right).enumerate() {
                if n > 0 {
                    pairs.push(Expr::Keyword("AND".into()));
                }
                pairs.extend([l, Expr::Keyword("=".into()), r]);
            }
            // The compiler parenthesises a comparison it expands to several.
            if several {
                condition.push(Expr::Group(pairs));
            } else {
                condition.extend(pairs);
            }
            i += 3;
            continue;
        }
        let token = &on[i];
        let expr = match token {
            Value::String(word) => keyword(word),
            Value::Object(o) if o.contains_key("xpr") => {
                let xpr = o.get("xpr").and_then(Value::as_array).map(Vec::as_slice);
                Expr::Group(on_condition(
                    csn,
                    view,
                    xpr.unwrap_or_default(),
                    association,
                    source,
                    target,
                )?)
            }
            Value::Object(o) if o.contains_key("val") => {
                let val = &o["val"];
                Expr::Literal(
                    literal(token)
                        .ok_or_else(|| SchemaError::unsupported(view, format!("literal {val}")))?,
                )
            }
            _ => match operand(token)?.as_deref() {
                Some([single]) => single.clone(),
                _ => {
                    return Err(SchemaError::unsupported(
                        view,
                        format!("'{association}' condition token {token}"),
                    ));
                }
            },
        };
        condition.push(expr);
        i += 1;
    }
    Ok(condition)
}
