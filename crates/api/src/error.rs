//! Engine errors as Docker's JSON error responses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_engine::EngineError;

/// An API error: a status and `{"message": ...}` (304 has no body).
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    pub fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, m.into())
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let code = match &e {
            EngineError::NotFound(_) => StatusCode::NOT_FOUND,
            EngineError::Conflict(_) => StatusCode::CONFLICT,
            EngineError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            EngineError::Forbidden(_) => StatusCode::FORBIDDEN,
            EngineError::NotModified(_) => StatusCode::NOT_MODIFIED,
            EngineError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.0 == StatusCode::NOT_MODIFIED {
            return self.0.into_response();
        }
        if self.0.is_server_error() {
            tracing::warn!(status = self.0.as_u16(), message = %self.1, "request failed");
        } else {
            tracing::debug!(status = self.0.as_u16(), message = %self.1, "request refused");
        }
        (self.0, Json(serde_json::json!({ "message": self.1 }))).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
