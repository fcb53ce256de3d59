//! What an operation was asked to do: the typed arguments of a job and of each of its tasks.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::job::Op;

/// The arguments of a job and of each of its tasks, one variant per operation.
///
/// On the wire and in the control plane they keep the shape cds-mtxs echoes: `{"data":…}` for a
/// subscribe, `{}` for an unsubscribe, `{"options":…}` for an upgrade (the options as the request
/// sent them, unknown keys included).
#[derive(Debug, Clone, PartialEq)]
pub enum TaskArgs {
    /// The subscription payload, deep-merged into the tenant's stored metadata.
    Subscribe {
        metadata: Value,
    },
    Unsubscribe,
    /// The request's `options` object, as sent; [`TaskArgs::upgrade_options`] reads the flags.
    Upgrade {
        options: Map<String, Value>,
    },
}

impl TaskArgs {
    /// The operation these arguments belong to.
    pub fn op(&self) -> Op {
        match self {
            TaskArgs::Subscribe { .. } => Op::Subscribe,
            TaskArgs::Unsubscribe => Op::Unsubscribe,
            TaskArgs::Upgrade { .. } => Op::Upgrade,
        }
    }

    /// The flags of an upgrade (defaults for other operations).
    pub fn upgrade_options(&self) -> UpgradeOptions {
        match self {
            TaskArgs::Upgrade { options } => UpgradeOptions::from_request(options),
            TaskArgs::Subscribe { .. } | TaskArgs::Unsubscribe => UpgradeOptions::default(),
        }
    }

    /// Reads stored arguments back for `op`; the message names what does not fit.
    pub fn from_stored(op: Op, stored: Value) -> Result<Self, String> {
        let Value::Object(mut fields) = stored else {
            return Err(format!("arguments of {op} are not a JSON object"));
        };
        match op {
            Op::Subscribe => Ok(TaskArgs::Subscribe {
                metadata: fields
                    .remove("data")
                    .unwrap_or_else(|| Value::Object(Map::new())),
            }),
            Op::Unsubscribe => Ok(TaskArgs::Unsubscribe),
            Op::Upgrade => match fields.remove("options") {
                None | Some(Value::Null) => Ok(TaskArgs::Upgrade {
                    options: Map::new(),
                }),
                Some(Value::Object(options)) => Ok(TaskArgs::Upgrade { options }),
                Some(_) => Err("upgrade options are not a JSON object".to_owned()),
            },
        }
    }
}

impl Serialize for TaskArgs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            TaskArgs::Subscribe { metadata } => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("data", metadata)?;
                map.end()
            }
            TaskArgs::Unsubscribe => serializer.serialize_map(Some(0))?.end(),
            TaskArgs::Upgrade { options } => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("options", options)?;
                map.end()
            }
        }
    }
}

/// Options of an upgrade, from the request's `options`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpgradeOptions {
    /// Apply destructive changes (drop tables/columns, narrow types) instead of refusing them.
    pub allow_destructive: bool,
    /// Only report what would be done (the dry-run planner); create no job, change nothing.
    pub dry_run: bool,
}

impl UpgradeOptions {
    /// Reads the cds-style options object (`{"autoUndeploy": true, "dryRun": true}`); flags
    /// that are absent or not booleans are off.
    pub fn from_request(options: &Map<String, Value>) -> Self {
        let flag = |name: &str| options.get(name).and_then(Value::as_bool).unwrap_or(false);
        Self {
            allow_destructive: flag("autoUndeploy"),
            dry_run: flag("dryRun"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn stored_arguments_round_trip_in_the_shape_cds_mtxs_echoes() {
        let cases = [
            (Op::Subscribe, json!({"data": {"subscribedSubdomain": "s"}})),
            (Op::Unsubscribe, json!({})),
            (
                Op::Upgrade,
                json!({"options": {"autoUndeploy": true, "note": "kept"}}),
            ),
        ];
        for (op, stored) in cases {
            let args = TaskArgs::from_stored(op, stored.clone()).expect("decodes");
            assert_eq!(args.op(), op);
            assert_eq!(serde_json::to_value(&args).ok(), Some(stored));
        }
    }

    #[test]
    fn upgrade_flags_are_read_from_the_options() {
        let args = TaskArgs::from_stored(Op::Upgrade, json!({"options": {"autoUndeploy": true}}))
            .expect("decodes");
        let options = args.upgrade_options();
        assert!(options.allow_destructive);
        assert!(!options.dry_run);
        assert!(TaskArgs::from_stored(Op::Upgrade, json!({"options": []})).is_err());
        assert!(TaskArgs::from_stored(Op::Subscribe, json!([])).is_err());
    }
}
