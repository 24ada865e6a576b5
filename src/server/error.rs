//! Lavalink's error JSON (spec §3) and the control plane's error type.

use serde_json::{json, Value};

/// A failed REST call. The variant picks the status; the text becomes `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Internal(String),
    /// 503: the node is draining (no new players or tracks).
    #[error("{0}")]
    ServiceUnavailable(String),
}

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::BadRequest(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError::NotFound(msg.into())
    }
    pub fn internal(msg: impl Into<String>) -> ApiError {
        ApiError::Internal(msg.into())
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::PayloadTooLarge(_) => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Internal(_) => 500,
            ApiError::ServiceUnavailable(_) => 503,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ApiError::BadRequest(m)
            | ApiError::NotFound(m)
            | ApiError::MethodNotAllowed(m)
            | ApiError::PayloadTooLarge(m)
            | ApiError::UnsupportedMediaType(m)
            | ApiError::Internal(m)
            | ApiError::ServiceUnavailable(m) => m,
        }
    }

    /// The body Lavalink sends: timestamp, status, error, trace (only when asked), message, path.
    pub fn to_json(&self, path: &str, with_trace: bool) -> Value {
        let status = self.status();
        let mut v = json!({
            "timestamp": crate::server::now_ms(),
            "status": status,
            "error": reason_phrase(status),
        });
        let map = v.as_object_mut().expect("object literal");
        if with_trace {
            // No JVM stack here; a trace-like text saying where the error was raised.
            let trace = format!(
                "basalt::server::ApiError: {}\n\tat {} {}",
                self.message(),
                reason_phrase(status),
                path
            );
            map.insert("trace".into(), Value::String(trace));
        }
        map.insert("message".into(), Value::String(self.message().to_string()));
        map.insert("path".into(), Value::String(path.to_string()));
        v
    }
}

/// HTTP reason phrase as the servlet container writes it into `error`.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}
