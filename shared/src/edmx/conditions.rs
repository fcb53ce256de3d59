//! What the EDM needs of an association's `on` condition: the backlink it names (for
//! `Partner`) and the element pairs it equates (for `ReferentialConstraint`).

use serde_json::Value;

/// The path of a reference in an expression (`{"ref": ["a", "b"]}` → `[a, b]`).
fn ref_path(term: &Value) -> Option<Vec<String>> {
    term.get("ref")?
        .as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// `[{ref:[me, back]}, "=", {ref:["$self"]}]` → `back`.
pub(super) fn self_backlink(me: &str, on: &[Value]) -> Option<String> {
    let [left, Value::String(op), right] = on else {
        return None;
    };
    let (left, right) = (ref_path(left)?, ref_path(right)?);
    let (path, this) = if right == ["$self"] {
        (left, right)
    } else {
        (right, left)
    };
    (op == "=" && this == ["$self"] && path.len() == 2 && path[0] == me).then(|| path[1].clone())
}

/// Referential constraints of an unmanaged to-one association: `me.x = y` → (y, x).
pub(super) fn on_condition_pairs(me: &str, on: &[Value]) -> Vec<(String, String)> {
    // a condition on a value (`latest.isLatest = true`) is no referential constraint at all
    if on.iter().any(|term| term.get("val").is_some()) {
        return Vec::new();
    }
    let mut pairs = Vec::new();
    for window in on.windows(3) {
        let [left, Value::String(op), right] = window else {
            continue;
        };
        if op != "=" {
            continue;
        }
        let (Some(left), Some(right)) = (ref_path(left), ref_path(right)) else {
            continue;
        };
        let (target, local) = if left.first().map(String::as_str) == Some(me) {
            (left, right)
        } else {
            (right, left)
        };
        if target.first().map(String::as_str) != Some(me)
            || local.first().is_some_and(|s| s.starts_with('$'))
        {
            continue;
        }
        pairs.push((local.join("_"), target[1..].join("_")));
    }
    pairs
}
