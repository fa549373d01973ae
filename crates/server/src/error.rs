//! One error type for every handler: 4xx with a useful JSON message, 5xx generic and logged.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What went wrong in a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// 400: the request is well formed but its content is not acceptable; the message says
    /// what to change.
    #[error("{0}")]
    BadRequest(String),
    /// 401 with `WWW-Authenticate: Bearer`: no token, or an unknown or expired one.
    #[error("sign in first: send Authorization: Bearer TOKEN (POST /api/login gives one)")]
    Unauthorized,
    /// 401: the user name or password is wrong (the answer does not say which).
    #[error("wrong username or password")]
    BadLogin,
    /// 429: sign-ins from this client or for this user name are throttled after failures.
    #[error("too many failed sign-ins; wait a few minutes")]
    TooManyAttempts,
    /// 429: too many requests from this client or for this thing (the public self-report
    /// page); also the answer for an unknown plate, so that plates cannot be found by trying.
    #[error("too many requests; try again later")]
    TooManyRequests,
    /// 403: what was asked for lies outside the user's scope, or the role may not do it.
    #[error("outside your part of the organisation")]
    Forbidden,
    /// 403 with the reason (what the request reaches that the user may not).
    #[error("{0}")]
    ForbiddenBecause(String),
    /// A request the framework could not take apart (bad JSON, a wrong type, a missing
    /// content type, a body too large, a bad path or query), with its status.
    #[error("{1}")]
    Rejected(StatusCode, String),
    /// 404: the thing named (e.g. `grid G001`) does not exist, or not in the user's scope.
    #[error("{0} not found")]
    NotFound(String),
    /// 409: the request clashes with the data (a grid that exists, an edit that would create
    /// overlaps without `force`); the message says how to proceed.
    #[error("{0}")]
    Conflict(String),
    /// 412: an edit without the `If-Match` version it needs, or with a stale one.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The store failed: 412 for a version conflict, 404 for a missing grid, 501 with the
    /// message for what the store does not do yet ([`gridmap_store::StoreError::Unsupported`]:
    /// accounts, registers… on PostgreSQL), else 500 with the details logged and not sent.
    #[error("store error")]
    Store(#[from] gridmap_store::StoreError),
    /// 500: a bug or an unexpected failure; the detail is logged, the client gets none.
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    /// A stable code for the kind of error, sent beside the message (`{"error", "code"}`) so
    /// that clients can word it in their user's language: `bad_request`, `unauthorized`,
    /// `bad_login`, `too_many_attempts`, `too_many_requests`, `forbidden`, `invalid_request`, `not_found`,
    /// `conflict`, `stale` (a newer version was saved), `not_implemented` (the store does not do
    /// it yet), `unavailable` (the database cannot be reached: try again) or `internal`.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthorized => "unauthorized",
            AppError::BadLogin => "bad_login",
            AppError::TooManyAttempts => "too_many_attempts",
            AppError::TooManyRequests => "too_many_requests",
            AppError::Forbidden | AppError::ForbiddenBecause(_) => "forbidden",
            AppError::Rejected(..) => "invalid_request",
            AppError::NotFound(_)
            | AppError::Store(gridmap_store::StoreError::NoSuchGrid { .. }) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::PreconditionFailed(_)
            | AppError::Store(gridmap_store::StoreError::VersionConflict { .. }) => "stale",
            AppError::Store(gridmap_store::StoreError::Unsupported { .. }) => "not_implemented",
            AppError::Store(gridmap_store::StoreError::Backend(_)) => "unavailable",
            AppError::Store(_) | AppError::Internal(_) => "internal",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized | AppError::BadLogin => StatusCode::UNAUTHORIZED,
            AppError::TooManyAttempts | AppError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            AppError::Forbidden | AppError::ForbiddenBecause(_) => StatusCode::FORBIDDEN,
            AppError::Rejected(status, _) => *status,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            AppError::Store(gridmap_store::StoreError::VersionConflict { .. }) => {
                StatusCode::PRECONDITION_FAILED
            }
            AppError::Store(gridmap_store::StoreError::NoSuchGrid { .. }) => StatusCode::NOT_FOUND,
            AppError::Store(gridmap_store::StoreError::Unsupported { .. }) => {
                StatusCode::NOT_IMPLEMENTED
            }
            // The database server is down or restarting: the request may be tried again.
            AppError::Store(gridmap_store::StoreError::Backend(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Store(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A register operation's failure: what the store does not do yet keeps its 501 (see
/// [`AppError::Store`]); anything else is internal.
impl From<gridmap_store::registers::RegisterError> for AppError {
    fn from(e: gridmap_store::registers::RegisterError) -> Self {
        use gridmap_store::registers::RegisterError;
        match e {
            RegisterError::Store(
                e @ (gridmap_store::StoreError::Unsupported { .. }
                | gridmap_store::StoreError::Backend(_)),
            ) => AppError::Store(e),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message =
            if status == StatusCode::SERVICE_UNAVAILABLE && matches!(self, AppError::Store(_)) {
                // The driver's message stays in the log (it may name the server); the client is
                // told what happened and that trying again is the remedy.
                tracing::warn!(error = ?self, "the database is unavailable");
                "the database is unavailable: try again in a moment".to_string()
            } else if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
                // Logged once here, inside the request's span; the client gets no internals.
                tracing::error!(error = ?self, "request failed");
                "internal error; see the server log".to_string()
            } else {
                match &self {
                    AppError::Store(e) => e.to_string(),
                    other => other.to_string(),
                }
            };
        let mut response =
            (status, Json(json!({"error": message, "code": self.code()}))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_a_503_to_try_again_without_the_driver_message() {
        let driver = std::io::Error::other("connection to db.internal:5432 refused");
        let e = AppError::Store(gridmap_store::StoreError::Backend(Box::new(driver)));
        assert_eq!(e.code(), "unavailable");
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            r.headers()
                .get(axum::http::header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"5"[..])
        );
        let body = futures_body(r);
        assert!(
            body.contains("the database is unavailable: try again in a moment"),
            "{body}"
        );
        assert!(!body.contains("db.internal"), "{body}");
    }

    #[test]
    fn an_internal_error_still_hides_its_message() {
        let r = AppError::Internal("secret detail".into()).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = futures_body(r);
        assert!(!body.contains("secret detail"), "{body}");
    }

    fn futures_body(r: Response) -> String {
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|rt| rt.block_on(axum::body::to_bytes(r.into_body(), 1 << 20)))
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}
