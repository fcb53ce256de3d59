//! CSN, the CAP compiler's JSON model format (stub: being filled in).

/// A parsed CSN document.
#[derive(Debug, Clone)]
pub struct Csn {
    pub definitions: serde_json::Map<String, serde_json::Value>,
}

/// Why a CSN document could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum CsnError {
    #[error("{0}")]
    Invalid(String),
}

impl Csn {
    pub fn from_value(value: serde_json::Value) -> Result<Self, CsnError> {
        let definitions = value
            .get("definitions")
            .and_then(|d| d.as_object())
            .cloned()
            .ok_or_else(|| CsnError::Invalid("no 'definitions' object".into()))?;
        Ok(Self { definitions })
    }
}
