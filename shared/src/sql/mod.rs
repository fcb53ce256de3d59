//! Rendering the persistence model and evolution steps as SQL, per dialect (stub: being filled
//! in). Every identifier goes through [`quote_ident`].

use crate::evolve::Plan;
use crate::schema::PersistenceModel;

/// The SQL dialects tenant storage speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

/// Quotes an identifier for both dialects (`"` doubled inside).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `CREATE TABLE` / `CREATE VIEW` statements for a whole model, schema-qualified when `schema`
/// is given.
pub fn create_statements(
    _model: &PersistenceModel,
    _dialect: Dialect,
    _schema: Option<&str>,
) -> Vec<String> {
    Vec::new()
}

/// The statements that carry out an evolution plan.
pub fn plan_statements(_plan: &Plan, _dialect: Dialect, _schema: Option<&str>) -> Vec<String> {
    Vec::new()
}
