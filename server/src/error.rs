//! The server's one error type. It becomes the protocol's [`ApiError`] on the way out, over HTTP
//! (status and JSON body) and over the socket alike.

use app::protocol::{ApiError, ErrorCode};
use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Duration,
    },
    #[error("the stream position {0} is not one this user has")]
    ResyncRequired(i64),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn api(&self) -> ApiError {
        if let Error::RateLimited {
            message,
            retry_after,
        } = self
        {
            return ApiError {
                retry_after_secs: Some(retry_after.as_secs().max(1)),
                ..ApiError::new(ErrorCode::RateLimited, message.clone())
            };
        }
        let (code, message) = match self {
            Error::Invalid(m) => (ErrorCode::Invalid, m.clone()),
            Error::Unauthorized(m) => (ErrorCode::Unauthorized, m.clone()),
            Error::Forbidden(m) => (ErrorCode::Forbidden, m.clone()),
            Error::NotFound(m) => (ErrorCode::NotFound, m.clone()),
            Error::Conflict(m) => (ErrorCode::Conflict, m.clone()),
            Error::TooLarge(m) => (ErrorCode::TooLarge, m.clone()),
            Error::ResyncRequired(_) => (
                ErrorCode::ResyncRequired,
                "That stream position is unknown: load everything afresh.".into(),
            ),
            Error::Database(e) if is_transient(e) => (
                ErrorCode::Unavailable,
                "The database is busy; nothing was saved. Try again.".into(),
            ),
            Error::Database(_) | Error::Internal(_) | Error::RateLimited { .. } => (
                ErrorCode::Internal,
                "Something went wrong on the server.".into(),
            ),
        };
        ApiError::new(code, message)
    }

    /// Logs what the client will not see: the cause of internal and unavailable errors.
    pub fn log(&self) {
        if matches!(self, Error::Database(_) | Error::Internal(_)) {
            tracing::error!(error = %self, "request failed");
        }
    }
}

/// Busy, locked or unreachable databases and exhausted pools pass; the client may retry.
fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => {
            // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
            let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
            matches!(code & 0xff, 5 | 6)
        }
        _ => false,
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log();
        let body = self.api();
        let status = StatusCode::from_u16(body.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = body
            .retry_after_secs
            .map(|secs| [(header::RETRY_AFTER, secs.to_string())]);
        (status, retry_after, Json(body)).into_response()
    }
}
