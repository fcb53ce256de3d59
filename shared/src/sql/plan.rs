//! Rendering an evolution plan.

use super::Dialect;
use crate::evolve::Plan;

/// The statements that carry out an evolution plan.
pub fn plan_statements(_plan: &Plan, _dialect: Dialect, _schema: Option<&str>) -> Vec<String> {
    Vec::new()
}
