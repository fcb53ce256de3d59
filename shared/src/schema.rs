//! The persistence model: tables, columns, keys and views derived from CSN the way the CAP
//! compiler does (stub: being filled in).

use crate::csn::Csn;

/// Everything a tenant's database holds for one model version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersistenceModel {
    pub tables: Vec<Table>,
    pub views: Vec<View>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub name: String,
}

/// Why a persistence model could not be derived.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("{0}")]
    Unsupported(String),
}

impl PersistenceModel {
    pub fn from_csn(_csn: &Csn) -> Result<Self, SchemaError> {
        Ok(Self::default())
    }
}
