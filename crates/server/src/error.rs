//! One error type for every handler: 4xx with a useful JSON message, 5xx generic and logged.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What went wrong in a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("sign in first: send Authorization: Bearer TOKEN (POST /api/login gives one)")]
    Unauthorized,
    #[error("wrong username or password")]
    BadLogin,
    #[error("too many failed sign-ins; wait a few minutes")]
    TooManyAttempts,
    #[error("outside your part of the organisation")]
    Forbidden,
    /// 403 with the reason (what the request reaches that the user may not).
    #[error("{0}")]
    ForbiddenBecause(String),
    /// A request the framework could not take apart (bad JSON, a wrong type, a missing
    /// content type, a body too large, a bad path or query), with its status.
    #[error("{1}")]
    Rejected(StatusCode, String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("store error")]
    Store(#[from] gridmap_store::StoreError),
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized | AppError::BadLogin => StatusCode::UNAUTHORIZED,
            AppError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            AppError::Forbidden | AppError::ForbiddenBecause(_) => StatusCode::FORBIDDEN,
            AppError::Rejected(status, _) => *status,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            AppError::Store(gridmap_store::StoreError::VersionConflict { .. }) => {
                StatusCode::PRECONDITION_FAILED
            }
            AppError::Store(gridmap_store::StoreError::NoSuchGrid { .. }) => StatusCode::NOT_FOUND,
            AppError::Store(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() {
            // Logged once here, inside the request's span; the client gets no internals.
            tracing::error!(error = ?self, "request failed");
            "internal error; see the server log".to_string()
        } else {
            match &self {
                AppError::Store(e) => e.to_string(),
                other => other.to_string(),
            }
        };
        let mut response = (status, Json(json!({"error": message}))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 9110: a 401 names the scheme that would do.
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
