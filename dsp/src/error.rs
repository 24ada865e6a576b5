//! The dsp layer's error: a `filters` object the control plane must answer with 400.

/// Why a `filters` object was rejected. Every variant names the offending JSON field
/// (e.g. `filters.timescale.speed`) so the 400 message tells the client what to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    #[error("{field} must be a JSON {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("{field} must not be null")]
    Null { field: String },
    #[error("{field} is required")]
    Missing { field: String },
    #[error("{field}: band {band} is out of range, must be 0 to 14")]
    BandOutOfRange { field: String, band: i64 },
    #[error("{field} must be greater than 0, got {value}")]
    NotPositive { field: String, value: f64 },
    #[error("{field} is out of range: {value}")]
    OutOfRange { field: String, value: f64 },
}

impl FilterError {
    /// The JSON path of the field at fault.
    pub fn field(&self) -> &str {
        match self {
            FilterError::WrongType { field, .. }
            | FilterError::Null { field }
            | FilterError::Missing { field }
            | FilterError::BandOutOfRange { field, .. }
            | FilterError::NotPositive { field, .. }
            | FilterError::OutOfRange { field, .. } => field,
        }
    }
}
