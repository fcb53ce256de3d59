//! How domain values become column values and back, and how database errors are classified: the
//! one place where a `sqlx` error becomes a [`ControlError`].
//!
//! Rows are decoded leniently by the driver (text, integers) and validated here, so a row that
//! does not hold a valid domain value is reported as [`ControlError::Corrupt`] naming the column,
//! never as a panic.

use chrono::{DateTime, SubsecRound, Utc};

use super::ControlError;
use crate::tenant::StorageLocation;
use crate::vocab::{
    CallbackState, DatabaseId, ModelHash, NextStep, Op, Status, TaskArgs, TenantId,
};

/// The unfinished states as a SQL list. A literal rather than a bind parameter so that the
/// planner can use the partial indexes declared with the same predicate; a unit test checks it
/// against [`Status`].
macro_rules! unfinished_sql {
    () => {
        "('QUEUED', 'RUNNING')"
    };
}
pub(crate) use unfinished_sql;

/// Timestamps are kept with millisecond precision (what cds-mtxs reports, and what SQLite's
/// ISO-8601 text holds), so both stores read back exactly what they wrote.
pub(crate) fn at_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

/// The current time at the stores' precision.
pub(crate) fn now() -> DateTime<Utc> {
    at_millis(Utc::now())
}

pub(crate) fn status(raw: &str) -> Result<Status, ControlError> {
    raw.parse()
        .map_err(|e: String| ControlError::Corrupt(format!("status: {e}")))
}

pub(crate) fn op(raw: &str) -> Result<Op, ControlError> {
    raw.parse()
        .map_err(|e: String| ControlError::Corrupt(format!("op: {e}")))
}

pub(crate) fn tenant(raw: &str) -> Result<TenantId, ControlError> {
    TenantId::parse(raw).map_err(|e| ControlError::Corrupt(format!("tenant id '{raw}': {e}")))
}

pub(crate) fn database(raw: &str) -> Result<DatabaseId, ControlError> {
    DatabaseId::parse(raw).map_err(|e| ControlError::Corrupt(format!("database id: {e}")))
}

pub(crate) fn model(raw: Option<&str>) -> Result<Option<ModelHash>, ControlError> {
    raw.map(|h| ModelHash::parse(h).map_err(|e| ControlError::Corrupt(format!("model: {e}"))))
        .transpose()
}

pub(crate) fn attempt(raw: i64) -> Result<u32, ControlError> {
    u32::try_from(raw).map_err(|_| ControlError::Corrupt(format!("attempt {raw} out of range")))
}

pub(crate) fn callback_state(raw: &str) -> Result<CallbackState, ControlError> {
    raw.parse()
        .map_err(|e: String| ControlError::Corrupt(format!("callback state: {e}")))
}

pub(crate) fn http_status(raw: Option<i64>) -> Result<Option<u16>, ControlError> {
    raw.map(|s| {
        u16::try_from(s).map_err(|_| ControlError::Corrupt(format!("http_status {s} out of range")))
    })
    .transpose()
}

/// The callback's state, next attempt time (`None`: unchanged) and delivery time after an
/// attempt made at `at`.
pub(crate) fn after_attempt(
    next: NextStep,
    at: DateTime<Utc>,
) -> (CallbackState, Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    match next {
        NextStep::Delivered => (CallbackState::Delivered, None, Some(at_millis(at))),
        NextStep::RetryAt(when) => (CallbackState::Pending, Some(at_millis(when)), None),
        NextStep::GiveUp => (CallbackState::Expired, None, None),
    }
}

pub(crate) fn json(column: &str, raw: &str) -> Result<serde_json::Value, ControlError> {
    serde_json::from_str(raw).map_err(|e| ControlError::Corrupt(format!("{column}: {e}")))
}

/// A job's or task's arguments, from its `op` and `args` columns.
pub(crate) fn args(op_raw: &str, args_raw: &str) -> Result<TaskArgs, ControlError> {
    TaskArgs::from_stored(op(op_raw)?, json("args", args_raw)?)
        .map_err(|e| ControlError::Corrupt(format!("args: {e}")))
}

pub(crate) fn json_text(value: &impl serde::Serialize) -> Result<String, ControlError> {
    serde_json::to_string(value).map_err(|e| ControlError::Corrupt(format!("JSON: {e}")))
}

pub(crate) fn location(raw: &str) -> Result<StorageLocation, ControlError> {
    serde_json::from_str(raw).map_err(|e| ControlError::Corrupt(format!("location: {e}")))
}

pub(crate) fn location_text(location: &StorageLocation) -> Result<String, ControlError> {
    serde_json::to_string(location).map_err(|e| ControlError::Corrupt(format!("location: {e}")))
}

/// Every database error of the control plane comes through here (`?` on a `sqlx` call):
/// lost connections, exhausted pools and a busy database become [`ControlError::Unavailable`]
/// (a retryable 503 at the API), everything else [`ControlError::Database`].
impl From<sqlx::Error> for ControlError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            ControlError::Unavailable(e.to_string())
        } else {
            ControlError::Database(Box::new(e))
        }
    }
}

impl From<sqlx::migrate::MigrateError> for ControlError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        ControlError::Migration(Box::new(e))
    }
}

fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6): the busy timeout ran out.
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("5" | "6")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn unfinished_list_names_exactly_the_non_terminal_states() {
        let all = Status::ALL;
        let listed: Vec<Status> = unfinished_sql!()
            .trim_matches(|c| c == '(' || c == ')')
            .split(", ")
            .map(|s| status(s.trim_matches('\'')).expect("a status name"))
            .collect();
        let non_terminal: Vec<Status> = all.into_iter().filter(|s| !s.is_terminal()).collect();
        assert_eq!(listed, non_terminal);
    }

    #[test]
    fn timestamps_are_truncated_to_milliseconds() {
        let t = Utc
            .timestamp_opt(1_700_000_000, 123_456_789)
            .single()
            .expect("valid timestamp");
        assert_eq!(at_millis(t).timestamp_subsec_nanos(), 123_000_000);
    }

    #[test]
    fn corrupt_values_name_the_column() {
        let err = status("DONE").expect_err("not a status");
        assert!(err.to_string().contains("status"), "{err}");
        assert!(attempt(-1).is_err());
        assert!(model(Some("xyz")).is_err());
        assert_eq!(model(None).ok(), Some(None));
    }

    #[test]
    fn connection_loss_is_unavailable() {
        assert!(matches!(
            ControlError::from(sqlx::Error::PoolTimedOut),
            ControlError::Unavailable(_)
        ));
        assert!(matches!(
            ControlError::from(sqlx::Error::RowNotFound),
            ControlError::Database(_)
        ));
    }
}
