//! The server's one error type. It becomes the protocol's [`ApiError`] on the way out, over HTTP
//! (status and JSON body) and over the socket alike.

use app::protocol::{ApiError, ErrorCode, Refusal};
use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A domain rule refused the request; the refusal carries its code, text and data.
    #[error(transparent)]
    Refused(#[from] Refusal),
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
    /// The password hashing queue is full.
    #[error("the server is busy")]
    Busy,
    /// The client holds as many connections as one address may, across the cluster.
    #[error("too many connections from one address")]
    TooManyConnections,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the sync position is not one the log can answer from")]
    ResyncRequired,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The media store failed: a full disk, or a bucket out of reach.
    #[error("media store error: {0}")]
    Store(#[from] object_store::Error),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn api(&self) -> ApiError {
        let (code, message, retry_after_secs) = match self {
            Error::Refused(refusal) => return ApiError::from(*refusal),
            Error::Invalid(m) => (ErrorCode::Invalid, m.clone(), None),
            Error::Unauthorized(m) => (ErrorCode::Unauthorized, m.clone(), None),
            Error::Forbidden(m) => (ErrorCode::Forbidden, m.clone(), None),
            Error::NotFound(m) => (ErrorCode::NotFound, m.clone(), None),
            Error::Conflict(m) => (ErrorCode::Conflict, m.clone(), None),
            Error::TooLarge(m) => (ErrorCode::TooLarge, m.clone(), None),
            Error::RateLimited {
                message,
                retry_after,
            } => (
                ErrorCode::RateLimited,
                message.clone(),
                Some(retry_after.as_secs().max(1)),
            ),
            Error::Busy => (
                ErrorCode::Unavailable,
                "The server is busy; nothing was done. Try again in a moment.".into(),
                Some(1),
            ),
            Error::TooManyConnections => (
                ErrorCode::Unavailable,
                "Too many connections from your address; close some and try again.".into(),
                Some(5),
            ),
            Error::MethodNotAllowed => (
                ErrorCode::MethodNotAllowed,
                "That endpoint does not take this method.".into(),
                None,
            ),
            Error::ResyncRequired => (
                ErrorCode::ResyncRequired,
                "That sync position cannot be answered from: load everything afresh.".into(),
                None,
            ),
            Error::Database(e) if crate::db::is_transient(e) => (
                ErrorCode::Unavailable,
                "The database is unavailable; nothing was saved. Try again.".into(),
                Some(1),
            ),
            Error::Store(_) => (
                ErrorCode::Unavailable,
                "The file store is unavailable; nothing was stored. Try again.".into(),
                Some(5),
            ),
            Error::Database(_) | Error::Internal(_) => (
                ErrorCode::Internal,
                "Something went wrong on the server.".into(),
                None,
            ),
        };
        ApiError {
            retry_after_secs,
            ..ApiError::new(code, message)
        }
    }

    /// Logs what the client will not see: the cause of internal and unavailable errors.
    pub fn log(&self) {
        match self {
            Error::Database(e) if crate::db::is_transient(e) => {
                tracing::warn!(error = %self, "the database is unavailable");
            }
            Error::Database(_) | Error::Internal(_) => {
                tracing::error!(error = %self, "request failed");
            }
            Error::Store(_) => tracing::warn!(error = %self, "the media store failed"),
            _ => {}
        }
    }
}

/// A serde error message as a person reads it: without the line and column of a one-line frame, and
/// with Rust's integer type names said plainly.
pub fn plain_json_error(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => &message[..at],
        _ => message,
    };
    let mut plain = message.to_string();
    for integer in ["i64", "u64", "u32", "i32", "u16", "u8"] {
        plain = plain.replace(&format!("expected {integer}"), "expected an integer");
    }
    let mut chars = plain.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => "The request could not be read.".into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_read_plainly() {
        assert_eq!(
            plain_json_error("invalid type: string \"one\", expected i64 at line 1 column 40"),
            "Invalid type: string \"one\", expected an integer."
        );
        assert_eq!(
            plain_json_error("missing field `body`"),
            "Missing field `body`."
        );
    }
}
