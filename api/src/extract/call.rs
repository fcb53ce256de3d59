//! OData-style function calls in a path segment (`pollJob(ID='…')`, `pollJob(ID=…)`,
//! `getTenants()`, a bare name) and their arguments as a typed struct ([`Args`]).

use std::fmt;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::value::MapDeserializer;
use serde::de::{self, DeserializeOwned};

use crate::error::ApiError;

/// An OData-style function call in a path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub name: String,
    /// The arguments in the call's parentheses (quotes removed, `''` unescaped), in order.
    pub args: Vec<(String, String)>,
}

impl Call {
    pub(crate) fn parse(segment: &str) -> Result<Self, ApiError> {
        let Some(open) = segment.find('(') else {
            return Ok(Call {
                name: segment.to_owned(),
                args: Vec::new(),
            });
        };
        let name = &segment[..open];
        let inner = segment[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| ApiError::BadRequest(format!("Malformed function call '{segment}'")))?;
        let mut args = Vec::new();
        for part in inner.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                ApiError::BadRequest(format!("Malformed parameter '{part}' in '{segment}'"))
            })?;
            let value = value.trim();
            let value = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(value)
                .replace("''", "'");
            args.push((key.trim().to_owned(), value));
        }
        Ok(Call {
            name: name.to_owned(),
            args,
        })
    }
}

/// The arguments of the call being dispatched, in precedence order (the parentheses, then the
/// query string where the service reads it). Put into the request by the dispatcher
/// (`routing::Service`), read by [`Args`].
#[derive(Debug, Clone, Default)]
pub(crate) struct CallArgs(pub Vec<(String, String)>);

/// The arguments of an OData-style call as `T` (a struct of `String` / `Option<String>` fields,
/// renamed to the argument names). The first value of an argument given twice wins; an absent
/// mandatory argument is `ASSERT_MANDATORY`.
#[derive(Debug)]
pub(crate) struct Args<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Args<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let CallArgs(args) = parts.extensions.get::<CallArgs>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "Args extracted outside a dispatched operation"
            ))
        })?;
        parse_args(args).map(Args)
    }
}

/// Deserializes call arguments as `T`, keeping the first value of each name.
pub(crate) fn parse_args<T: DeserializeOwned>(args: Vec<(String, String)>) -> Result<T, ApiError> {
    let mut first = Vec::with_capacity(args.len());
    for (key, value) in args {
        if !first.iter().any(|(k, _): &(String, String)| *k == key) {
            first.push((key, value));
        }
    }
    let entries = first.into_iter().map(|(key, value)| (key, ArgValue(value)));
    T::deserialize(MapDeserializer::<_, ArgError>::new(entries)).map_err(|e| match e {
        ArgError::Missing(name) => ApiError::mandatory(name),
        ArgError::Other(message) => ApiError::BadRequest(message),
    })
}

/// The value of an argument: a string, for a `String` or an `Option<String>` field.
struct ArgValue(String);

impl<'de> de::IntoDeserializer<'de, ArgError> for ArgValue {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for ArgValue {
    type Error = ArgError;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        visitor.visit_string(self.0)
    }

    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, ArgError> {
        visitor.visit_some(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// Why call arguments do not fit their struct.
#[derive(Debug)]
enum ArgError {
    Missing(&'static str),
    Other(String),
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::Missing(name) => write!(f, "missing argument {name}"),
            ArgError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ArgError {}

impl de::Error for ArgError {
    fn custom<M: fmt::Display>(message: M) -> Self {
        ArgError::Other(message.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        ArgError::Missing(field)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[test]
    fn parses_quoted_unquoted_and_bare_calls() {
        let c = Call::parse("pollJob(ID='abc')").expect("parses");
        assert_eq!(c.name, "pollJob");
        assert_eq!(c.args, vec![("ID".into(), "abc".into())]);
        let c = Call::parse("pollJob(ID=abc)").expect("parses");
        assert_eq!(c.args, vec![("ID".into(), "abc".into())]);
        let c = Call::parse("getTenants()").expect("parses");
        assert_eq!((c.name.as_str(), c.args.len()), ("getTenants", 0));
        assert_eq!(Call::parse("Jobs").expect("parses").name, "Jobs");
        assert!(Call::parse("pollJob(ID='abc'").is_err());
    }

    #[derive(Debug, Deserialize)]
    struct JobRef {
        #[serde(rename = "ID")]
        id: String,
        #[serde(rename = "$top")]
        top: Option<String>,
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn arguments_become_a_struct_and_the_first_value_wins() {
        let args: JobRef =
            parse_args(pairs(&[("ID", "a"), ("other", "x"), ("ID", "b")])).expect("parses");
        assert_eq!((args.id.as_str(), args.top), ("a", None));
        let args: JobRef = parse_args(pairs(&[("$top", "5"), ("ID", "a")])).expect("parses");
        assert_eq!(args.top.as_deref(), Some("5"));
    }

    #[test]
    fn a_missing_argument_is_assert_mandatory() {
        let e = parse_args::<JobRef>(pairs(&[("$top", "5")])).expect_err("refused");
        assert!(
            matches!(&e, ApiError::Invalid { code: "ASSERT_MANDATORY", target, .. } if target == "ID"),
            "{e:?}"
        );
    }
}
