//! JSON request bodies as `#[derive(Deserialize)]` structs, answering bad input with our error
//! envelope and messages that name the field (never serde's own text).
//!
//! A body is read as a JSON object first, then deserialized field by field through
//! [`ObjectDeserializer`], which knows which field and value each error is about. The fields
//! are visited in the order the struct declares them, so when several fields are wrong the
//! first declared one is reported, as a hand-written check in that order would.

use std::fmt;

use axum::extract::{FromRequest, Request};
use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};

use super::RawJson;
use crate::error::ApiError;

/// A request body type: how it answers input that does not fit.
pub(crate) trait JsonRequest: DeserializeOwned {
    /// The message for a body that is not a JSON object.
    const NOT_AN_OBJECT: &'static str = "The request body must be a JSON object";
    /// The message for an empty body; `None`: an empty body is read as `{}`.
    const WHEN_EMPTY: Option<&'static str> = None;
    /// Whether a field that is `null` counts as absent (else `null` is a value of the wrong
    /// type).
    const NULL_IS_ABSENT: bool = true;

    /// The answer to a field that does not fit; [`FieldError::into_api_error`] unless a body
    /// words it differently.
    fn field_error(error: FieldError) -> ApiError {
        error.into_api_error()
    }

    /// Deserializes `object` as this body.
    fn from_object(object: &Map<String, Value>) -> Result<Self, ApiError> {
        Self::deserialize(ObjectDeserializer {
            object,
            null_is_absent: Self::NULL_IS_ABSENT,
        })
        .map_err(Self::field_error)
    }
}

/// A JSON object request body, deserialized as `T`; the object itself stays available for the
/// operations that pass the payload on or read it as a second type.
#[derive(Debug)]
pub(crate) struct Body<T> {
    pub fields: T,
    pub object: Map<String, Value>,
}

impl<T: JsonRequest> Body<T> {
    /// The body `json` (already read as JSON) as `T`.
    pub(crate) fn from_json(json: RawJson) -> Result<Self, ApiError> {
        let object = match json.0 {
            None => match T::WHEN_EMPTY {
                Some(message) => return Err(ApiError::BadRequest(message.into())),
                None => Map::new(),
            },
            Some(Value::Object(object)) => object,
            Some(_) => return Err(ApiError::BadRequest(T::NOT_AN_OBJECT.into())),
        };
        Ok(Body {
            fields: T::from_object(&object)?,
            object,
        })
    }

    /// The same object read as another body type.
    pub(crate) fn read_as<U: JsonRequest>(&self) -> Result<U, ApiError> {
        U::from_object(&self.object)
    }
}

impl<S: Send + Sync, T: JsonRequest> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Self::from_json(RawJson::from_request(req, state).await?)
    }
}

/// Deserializes a string field with `parse`: anything but a string is "{expecting}" in the
/// error, a string `parse` refuses gets `parse`'s message.
pub(crate) fn parsed_str<'de, D, T, E>(
    deserializer: D,
    expecting: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, D::Error>
where
    D: de::Deserializer<'de>,
    E: fmt::Display,
{
    struct Parsed<F> {
        expecting: &'static str,
        parse: F,
    }
    impl<T, E: fmt::Display, F: FnOnce(&str) -> Result<T, E>> Visitor<'_> for Parsed<F> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<Er: de::Error>(self, raw: &str) -> Result<T, Er> {
            (self.parse)(raw).map_err(Er::custom)
        }
    }
    deserializer.deserialize_str(Parsed { expecting, parse })
}

/// A field that does not fit its declared type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldError {
    /// The JSON name of the field ("" when the error is about no field).
    pub field: String,
    /// The offending value (`None` when the field is absent); for an element of a list, that
    /// element. (Boxed: the error travels through every deserializer call.)
    pub value: Option<Box<Value>>,
    pub problem: Problem,
}

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Problem {
    /// Absent, or `null` where that means absent.
    Missing,
    /// A value of the wrong type; `expected` in serde's words ("a string", "a boolean", "a map",
    /// "a sequence", or what a field type of ours says it expects).
    Expected { expected: String, in_list: bool },
    /// A field the body does not know (only for bodies that refuse unknown fields).
    Unknown { known: &'static [&'static str] },
    /// A message a field type worded itself (an invalid tenant id, a malformed model hash).
    Message(String),
}

impl FieldError {
    /// The standard wording: mandatory fields are `ASSERT_MANDATORY`, lists `ASSERT_ARRAY`,
    /// and a wrong value names field, expectation and value.
    pub(crate) fn into_api_error(self) -> ApiError {
        let FieldError {
            field,
            value,
            problem,
        } = self;
        let got = value.map_or_else(|| "nothing".to_owned(), |v| v.to_string());
        match problem {
            Problem::Missing => ApiError::mandatory(&field),
            Problem::Message(message) => ApiError::BadRequest(message),
            Problem::Unknown { known } => ApiError::BadRequest(format!(
                "Unknown field '{field}' (known: {})",
                known.join(", ")
            )),
            Problem::Expected {
                expected,
                in_list: true,
            } => ApiError::BadRequest(format!("Field '{field}' must hold {expected}, got {got}")),
            // serde's words for a JSON object and a JSON array.
            Problem::Expected { expected, .. } if expected == "a map" => {
                ApiError::BadRequest(format!("Field '{field}' must be an object"))
            }
            Problem::Expected { expected, .. } if expected == "a sequence" => ApiError::Invalid {
                message: "Value must be an array".into(),
                code: "ASSERT_ARRAY",
                target: field,
            },
            Problem::Expected { expected, .. } => {
                ApiError::BadRequest(format!("Field '{field}' must be {expected}, got {got}"))
            }
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field '{}': {:?}", self.field, self.problem)
    }
}

impl std::error::Error for FieldError {}

impl de::Error for FieldError {
    fn custom<M: fmt::Display>(message: M) -> Self {
        FieldError {
            field: String::new(),
            value: None,
            problem: Problem::Message(message.to_string()),
        }
    }

    fn invalid_type(_: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        FieldError {
            field: String::new(),
            value: None,
            problem: Problem::Expected {
                expected: expected.to_string(),
                in_list: false,
            },
        }
    }

    fn invalid_value(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        Self::invalid_type(unexpected, expected)
    }

    fn missing_field(field: &'static str) -> Self {
        FieldError {
            field: field.to_owned(),
            value: None,
            problem: Problem::Missing,
        }
    }

    fn unknown_field(field: &str, known: &'static [&'static str]) -> Self {
        FieldError {
            field: field.to_owned(),
            value: None,
            problem: Problem::Unknown { known },
        }
    }
}

/// The top-level object of a body.
struct ObjectDeserializer<'a> {
    object: &'a Map<String, Value>,
    null_is_absent: bool,
}

impl<'de, 'a> de::Deserializer<'de> for ObjectDeserializer<'a> {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.deserialize_struct("", &[], visitor)
    }

    /// Unknown fields first (a body that refuses them says so before anything else), then the
    /// declared fields in their order, absent ones included, so that a missing mandatory
    /// field is reported where it is declared.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        let unknown = self
            .object
            .iter()
            .filter(|(name, _)| !fields.contains(&name.as_str()))
            .map(|(name, value)| (name.as_str(), Some(value)));
        let declared = fields.iter().map(|name| (*name, self.object.get(*name)));
        let null_is_absent = self.null_is_absent;
        let entries = unknown.chain(declared).map(move |(name, value)| {
            let value = value.filter(|v| !(null_is_absent && v.is_null()));
            (name, FieldValue::top(name, value))
        });
        let mut map = MapDeserializer::new(entries);
        let value = visitor.visit_map(&mut map)?;
        map.end()?;
        Ok(value)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// The value of one field (or an element or entry inside it), which names the field in its
/// errors.
struct FieldValue<'a> {
    field: &'a str,
    value: Option<&'a Value>,
    in_list: bool,
}

impl<'a> FieldValue<'a> {
    fn top(field: &'a str, value: Option<&'a Value>) -> Self {
        FieldValue {
            field,
            value,
            in_list: false,
        }
    }

    /// Fills in field and value of an error raised by a type's visitor, unless an inner value
    /// already did.
    fn locate(&self, mut error: FieldError) -> FieldError {
        if error.field.is_empty() {
            error.field = self.field.to_owned();
            error.value = self.value.cloned().map(Box::new);
            if let Problem::Expected { in_list, .. } = &mut error.problem {
                *in_list = self.in_list;
            }
        }
        error
    }

    fn visit<'de, V: Visitor<'de>>(
        &self,
        value: &'a Value,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        match value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_str(s),
            Value::Array(items) => {
                let mut seq = SeqDeserializer::new(items.iter().map(|item| FieldValue {
                    field: self.field,
                    value: Some(item),
                    in_list: true,
                }));
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            Value::Object(entries) => {
                let mut map = MapDeserializer::new(entries.iter().map(|(k, v)| {
                    (
                        k.as_str(),
                        FieldValue {
                            field: self.field,
                            value: Some(v),
                            in_list: false,
                        },
                    )
                }));
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
        }
    }
}

impl<'de, 'a> IntoDeserializer<'de, FieldError> for FieldValue<'a> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de, 'a> de::Deserializer<'de> for FieldValue<'a> {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        let Some(value) = self.value else {
            return Err(FieldError {
                field: self.field.to_owned(),
                value: None,
                problem: Problem::Missing,
            });
        };
        self.visit(value, visitor).map_err(|e| self.locate(e))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        match self.value {
            None => visitor.visit_none(),
            Some(_) => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct enum identifier
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        name: String,
        flag: Option<bool>,
        options: Option<Map<String, Value>>,
        list: Option<Vec<String>>,
    }
    impl JsonRequest for Sample {}

    fn error(body: Value) -> ApiError {
        let Value::Object(object) = body else {
            panic!("test bodies are objects")
        };
        Sample::from_object(&object).expect_err("refused")
    }

    fn message(e: ApiError) -> String {
        match e {
            ApiError::BadRequest(m) => m,
            ApiError::Invalid { code, target, .. } => format!("{code} {target}"),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field_and_the_value() {
        assert_eq!(
            message(error(json!({"name": 5}))),
            "Field 'name' must be a string, got 5"
        );
        assert_eq!(
            message(error(json!({"name": "x", "flag": "yes"}))),
            "Field 'flag' must be a boolean, got \"yes\""
        );
        assert_eq!(
            message(error(json!({"name": "x", "options": []}))),
            "Field 'options' must be an object"
        );
        assert_eq!(
            message(error(json!({"name": "x", "list": "a"}))),
            "ASSERT_ARRAY list"
        );
        assert_eq!(
            message(error(json!({"name": "x", "list": ["a", 1]}))),
            "Field 'list' must hold a string, got 1"
        );
    }

    #[test]
    fn absent_and_null_mandatory_fields_are_assert_mandatory() {
        assert_eq!(message(error(json!({}))), "ASSERT_MANDATORY name");
        assert_eq!(
            message(error(json!({"name": null}))),
            "ASSERT_MANDATORY name"
        );
    }

    #[test]
    fn the_first_declared_field_is_reported_first() {
        // `options` sorts before `name`, but `name` is declared first.
        assert_eq!(
            message(error(json!({"options": 1, "flag": 2}))),
            "ASSERT_MANDATORY name"
        );
    }

    #[test]
    fn unknown_fields_are_ignored_and_nested_values_kept() {
        let Value::Object(object) = json!({"name": "x", "other": [1], "options": {"a": null}})
        else {
            unreachable!()
        };
        let sample = Sample::from_object(&object).expect("accepted");
        assert_eq!(sample.name, "x");
        assert_eq!(
            sample.options,
            Some(json!({"a": null}).as_object().cloned().unwrap_or_default())
        );
        assert_eq!((sample.flag, sample.list), (None, None));
    }
}
