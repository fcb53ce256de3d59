//! Tenant metadata: the subscription payloads a tenant was (re-)subscribed with, kept the way
//! cds-mtxs keeps them.
//!
//! Pure functions, shared by both control-plane stores so they cannot drift apart.

use serde_json::{Map, Value};

/// Turns a subscription body into the object cds-mtxs stores.
///
/// cds spreads the body into an object, so an object stays as it is, an array becomes an object
/// of its indices (`[1,2]` → `{"0":1,"1":2}`), a string becomes an object of its characters, and
/// any other value (number, boolean, null) contributes nothing (`{}`).
pub fn normalize(body: &Value) -> Map<String, Value> {
    match body {
        Value::Object(map) => map.clone(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v.clone()))
            .collect(),
        Value::String(s) => s
            .chars()
            .enumerate()
            .map(|(i, c)| (i.to_string(), Value::String(c.to_string())))
            .collect(),
        Value::Null | Value::Bool(_) | Value::Number(_) => Map::new(),
    }
}

/// Deep-merges `update` into `stored`: objects are merged key by key, recursively; any other
/// value in `update` (arrays included) replaces the stored one. Keys keep their first position,
/// new keys are appended.
pub fn merge(stored: &mut Map<String, Value>, update: &Map<String, Value>) {
    for (key, new) in update {
        match (stored.get_mut(key), new) {
            (Some(Value::Object(old)), Value::Object(new)) => merge(old, new),
            (Some(old), _) => *old = new.clone(),
            (None, _) => {
                stored.insert(key.clone(), new.clone());
            }
        }
    }
}

/// The metadata to store when `body` arrives for a tenant whose stored metadata is `stored`
/// (`None` for a new tenant).
pub fn merged(stored: Option<&Value>, body: &Value) -> Value {
    let mut base = stored.map(normalize).unwrap_or_default();
    merge(&mut base, &normalize(body));
    Value::Object(base)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn objects_are_kept_as_they_are() {
        let body = json!({"subscribedTenantId": "t1", "nested": {"a": 1}});
        assert_eq!(merged(None, &body), body);
    }

    #[test]
    fn arrays_become_objects_of_their_indices() {
        assert_eq!(merged(None, &json!([1, 2])), json!({"0": 1, "1": 2}));
    }

    #[test]
    fn strings_become_objects_of_their_characters() {
        assert_eq!(merged(None, &json!("ab")), json!({"0": "a", "1": "b"}));
    }

    #[test]
    fn scalars_and_null_contribute_nothing() {
        for body in [json!(null), json!(true), json!(42)] {
            assert_eq!(merged(None, &body), json!({}), "{body}");
        }
        let stored = json!({"keep": 1});
        assert_eq!(merged(Some(&stored), &json!(7)), stored);
    }

    #[test]
    fn nested_objects_merge_recursively_and_other_values_are_replaced() {
        let stored = json!({
            "subscribedSubdomain": "t1",
            "app": {"name": "bookshop", "plan": {"id": "std", "seats": 5}},
            "tags": ["a", "b"],
            "gone": {"x": 1}
        });
        let body = json!({
            "subscribedSubdomain": "t1-renamed",
            "app": {"plan": {"seats": 10}, "region": "eu10"},
            "tags": ["c"],
            "gone": null,
            "extra": "x"
        });
        let want = json!({
            "subscribedSubdomain": "t1-renamed",
            "app": {"name": "bookshop", "plan": {"id": "std", "seats": 10}, "region": "eu10"},
            "tags": ["c"],
            "gone": null,
            "extra": "x"
        });
        assert_eq!(merged(Some(&stored), &body), want);
    }

    #[test]
    fn an_object_replaces_a_scalar_and_a_scalar_replaces_an_object() {
        let stored = json!({"a": 1, "b": {"c": 2}});
        let body = json!({"a": {"x": 1}, "b": 3});
        assert_eq!(merged(Some(&stored), &body), json!({"a": {"x": 1}, "b": 3}));
    }

    #[test]
    fn key_order_follows_first_insertion() {
        let stored = json!({"b": 1, "a": 2});
        let merged = merged(Some(&stored), &json!({"c": 3, "b": 4}));
        let keys: Vec<&str> = merged
            .as_object()
            .expect("merged metadata is an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["b", "a", "c"]);
    }
}
