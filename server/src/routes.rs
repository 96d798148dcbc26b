//! The HTTP API: accounts and health. The chat itself travels over `/ws`.

use crate::auth::{self, session_cookie};
use crate::error::{Error, Result};
use crate::hub::CloseReason;
use crate::state::AppState;
use app::model::{validate_password, validate_username, User};
use app::protocol::{close_code, Credentials, Session};
use axum::{
    extract::{rejection::JsonRejection, ConnectInfo, FromRequest, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use std::net::SocketAddr;

/// A JSON body whose rejections (wrong content type, malformed JSON, missing fields) answer in the
/// API's error shape instead of axum's plain text.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(Error))]
struct Body<T>(T);

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        Error::Invalid(rejection.body_text())
    }
}

pub fn api() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/me", get(me))
}

pub async fn health(State(state): State<AppState>) -> Response {
    match state.db.users_count().await {
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        Err(error) => {
            error.log();
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

async fn register(
    State(state): State<AppState>,
    Body(credentials): Body<Credentials>,
) -> Result<Response> {
    let username = credentials.username.trim();
    validate_username(username).map_err(Error::Invalid)?;
    validate_password(&credentials.password).map_err(Error::Invalid)?;
    let hash = state.hasher.hash(credentials.password).await?;
    let user = state
        .db
        .create_user(username, &hash, crate::now_ms())
        .await?;
    tracing::info!(user = %user.id, "registered");
    start_session(&state, user, StatusCode::CREATED).await
}

/// Checks a password, throttled per account and per client address; unknown usernames cost the same
/// hash as known ones and get the same answer.
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Body(credentials): Body<Credentials>,
) -> Result<Response> {
    let username = credentials.username.trim();
    let address = peer.ip().to_string();
    if let Err(wait) = state.login_throttle.check(username, &address) {
        return Err(Error::RateLimited {
            message: format!(
                "Too many failed logins. Try again in {} minutes.",
                wait.as_secs().div_ceil(60)
            ),
            retry_after: wait,
        });
    }
    let (user, stored) = match state.db.find_credentials(username).await? {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let valid = state.hasher.verify(credentials.password, stored).await?;
    match user.filter(|_| valid) {
        Some(user) => {
            state.login_throttle.succeeded(username);
            start_session(&state, user, StatusCode::OK).await
        }
        None => {
            state.login_throttle.failed(username, &address);
            Err(Error::Unauthorized("Wrong username or password.".into()))
        }
    }
}

async fn start_session(state: &AppState, user: User, status: StatusCode) -> Result<Response> {
    let token = auth::new_token();
    let now = crate::now_ms();
    let lifetime_secs = u64::from(state.settings.session_days) * 24 * 3600;
    state
        .db
        .create_session(
            user.id,
            &auth::token_hash(&token),
            now,
            now + lifetime_secs as i64 * 1000,
        )
        .await?;
    let cookie = session_cookie(Some(&token), lifetime_secs, state.settings.secure_cookies);
    Ok((
        status,
        [(header::SET_COOKIE, cookie)],
        Json(Session { user, token }),
    )
        .into_response())
}

/// Ends the presented session and closes its sockets. Idempotent: without a session it only clears
/// the cookie.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    if let Some(session) = auth::optional_session(&state.db, &headers).await? {
        state.db.delete_session(session.id).await?;
        state.hub.close_session(
            session.id,
            CloseReason {
                code: close_code::UNAUTHORIZED,
                reason: "logged out",
            },
        );
    }
    let cookie = session_cookie(None, 0, state.settings.secure_cookies);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

async fn me(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<User>> {
    Ok(Json(auth::authenticate(&state.db, &headers).await?.user))
}
