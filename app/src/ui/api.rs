//! The browser's calls to the HTTP API.

use crate::protocol::{ApiError, Credentials, ErrorCode, Session};
use gloo_net::http::{Request, Response};

async fn post<T: serde::Serialize>(path: &str, body: &T) -> Result<Response, ApiError> {
    let offline = |e: gloo_net::Error| {
        ApiError::new(
            ErrorCode::Unavailable,
            format!("Could not reach the server: {e}"),
        )
    };
    let response = Request::post(path)
        .json(body)
        .map_err(offline)?
        .send()
        .await
        .map_err(offline)?;
    if response.ok() {
        return Ok(response);
    }
    Err(response.json::<ApiError>().await.unwrap_or_else(|_| {
        ApiError::new(
            ErrorCode::Internal,
            format!("The server answered {}.", response.status()),
        )
    }))
}

pub async fn authenticate(register: bool, credentials: &Credentials) -> Result<Session, ApiError> {
    let path = if register {
        "/api/auth/register"
    } else {
        "/api/auth/login"
    };
    post(path, credentials)
        .await?
        .json::<Session>()
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("Unexpected answer: {e}")))
}

pub async fn logout() -> Result<(), ApiError> {
    post("/api/auth/logout", &serde_json::json!({}))
        .await
        .map(drop)
}
