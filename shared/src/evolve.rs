//! Schema evolution: the ordered steps from a deployed model to a target model (stub: being
//! filled in).

use crate::schema::PersistenceModel;

/// What it takes to go from one persistence model to another.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Changes that would lose data; a plan with findings is refused unless explicitly allowed.
    pub destructive: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Computes the plan from `deployed` (`None`: nothing deployed yet) to `target`.
pub fn diff(_deployed: Option<&PersistenceModel>, _target: &PersistenceModel) -> Plan {
    Plan::default()
}
