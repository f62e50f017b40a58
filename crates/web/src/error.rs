//! What a request can get wrong, and how each answer looks: a status and a
//! JSON body `{"error": "...", "field": "ctx"}` that the page shows next to
//! the field.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Why a request got no result.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A value that does not parse or is out of range (400).
    #[error("{field}: {message}")]
    Invalid {
        /// The parameter, as the page and the API name it.
        field: String,
        /// What is wrong and what to give instead.
        message: String,
    },
    /// A model reference this server does not fetch: a local path, http://,
    /// or a host that resolves to loopback, private or link-local (403).
    #[error("{field}: {message}")]
    Forbidden {
        /// The parameter.
        field: String,
        /// Why.
        message: String,
    },
    /// The remote header could not be read (502).
    #[error("model: {0}")]
    Upstream(String),
    /// The computation took longer than the server allows (504).
    #[error("{0}")]
    Timeout(String),
    /// A bug or a broken embedded catalog (500).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 for `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// A 403 for `field`.
    pub fn forbidden(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::Forbidden {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ApiError::Invalid { field, .. } | ApiError::Forbidden { field, .. } => Some(field),
            ApiError::Upstream(_) => Some("model"),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.to_string(),
            "field": self.field(),
            "status": self.status().as_u16(),
        });
        (self.status(), Json(body)).into_response()
    }
}
