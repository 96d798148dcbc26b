//! The HTTP API: accounts and health. The chat itself travels over `/ws`.

use crate::auth::{self, token_hash, Authenticated};
use crate::client_address::ClientAddress;
use crate::error::{plain_json_error, Error, Result};
use crate::state::{AppState, LiveState, Settings};
use crate::throttle::LoginBudget;
use app::model::{limits, validate_password, validate_username, User, UserId};
use app::protocol::{Credentials, Refusal, Session};
use axum::{
    extract::{rejection::JsonRejection, DefaultBodyLimit, FromRequest, State},
    http::{header, HeaderMap, StatusCode},
    response::{AppendHeaders, IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// A JSON body whose rejections (wrong content type, malformed JSON, missing fields) answer in the
/// API's error shape instead of axum's plain text.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(Error))]
struct Body<T>(T);

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::BytesRejection(_)
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Error::TooLarge(format!(
                    "A request body has at most {} KiB.",
                    limits::HTTP_BODY_MAX_BYTES / 1024
                ))
            }
            JsonRejection::BytesRejection(_) => {
                Error::Invalid("The request body could not be read in time.".into())
            }
            JsonRejection::MissingJsonContentType(_) => {
                Error::Invalid("Send the request body as application/json.".into())
            }
            JsonRejection::JsonSyntaxError(_) => {
                Error::Invalid("The request body is not valid JSON.".into())
            }
            other => {
                let text = other.body_text();
                let detail = text
                    .split_once(": ")
                    .map_or(text.as_str(), |(_, detail)| detail);
                Error::Invalid(plain_json_error(detail))
            }
        }
    }
}

pub fn api() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/me", get(me))
        .layer(DefaultBodyLimit::max(limits::HTTP_BODY_MAX_BYTES))
        .fallback(no_such_endpoint)
        .method_not_allowed_fallback(wrong_method)
}

pub async fn no_such_endpoint() -> Error {
    Error::NotFound("There is no such API endpoint.".into())
}

pub async fn wrong_method() -> Error {
    Error::MethodNotAllowed
}

/// 200 while the database answers: "ok", or "degraded" while the node cannot reach NATS and
/// delivers by reading the log instead. 503 when the database does not answer.
pub async fn health(State(live): State<LiveState>) -> Response {
    match live.db.users_count().await {
        Ok(_) if live.cluster.degraded() => (
            StatusCode::OK,
            "degraded: NATS is unreachable; delivering by reading the log",
        )
            .into_response(),
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        Err(error) => {
            error.log();
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Refuses over-long credentials at login before anything else is done with them: they would only
/// cost memory and hashing time. (Registration checks them with the rest of its rules.)
fn check_lengths(credentials: &Credentials) -> Result<(), Refusal> {
    if credentials.username.chars().count() > limits::USERNAME_MAX_CHARS {
        return Err(Refusal::UsernameLength {
            min_chars: limits::USERNAME_MIN_CHARS,
            max_chars: limits::USERNAME_MAX_CHARS,
        });
    }
    if credentials.password.len() > limits::PASSWORD_MAX_BYTES {
        return Err(Refusal::PasswordTooLong {
            max_bytes: limits::PASSWORD_MAX_BYTES,
        });
    }
    Ok(())
}

fn too_many(what: &str, wait: Duration) -> Error {
    Error::RateLimited {
        message: format!(
            "Too many {what}. Try again in {} minutes.",
            wait.as_secs().div_ceil(60).max(1)
        ),
        retry_after: wait,
    }
}

async fn register(
    State(state): State<AppState>,
    client: ClientAddress,
    Body(credentials): Body<Credentials>,
) -> Result<Response> {
    validate_username(&credentials.username)?;
    validate_password(&credentials.password)?;
    let address = client.network;
    state
        .throttles
        .reserve_registration(address)
        .await?
        .map_err(|wait| too_many("new accounts from your address", wait))?;
    let hash = match state.hasher.hash(credentials.password).await {
        Err(Error::Busy) => {
            state.throttles.registration_not_attempted(address).await?;
            return Err(Error::Busy);
        }
        hashed => hashed?,
    };
    let user = state
        .live
        .db
        .create_user(&credentials.username, &hash, crate::now_ms())
        .await?;
    tracing::info!(user = %user.id, "registered");
    start_session(&state, user, None, StatusCode::CREATED).await
}

/// Checks a password. Unknown usernames cost the same hash as known ones and get the same answer.
/// The attempt is counted before the hash (see `throttle` for whose budget it spends).
async fn login(
    State(state): State<AppState>,
    client: ClientAddress,
    headers: HeaderMap,
    Body(credentials): Body<Credentials>,
) -> Result<Response> {
    check_lengths(&credentials)?;
    let found = state
        .live
        .db
        .find_credentials(&credentials.username)
        .await?;
    let device = known_device(&state, &headers, found.as_ref().map(|(user, _)| user.id)).await?;
    let budget = login_budget(device.as_deref(), &credentials.username, client.network);
    state
        .throttles
        .reserve_login(&budget)
        .await?
        .map_err(|wait| too_many("failed logins", wait))?;
    let (user, stored) = found.map_or((None, None), |(user, hash)| (Some(user), Some(hash)));
    let valid = match state.hasher.verify(credentials.password, stored).await {
        Err(Error::Busy) => {
            state.throttles.login_not_checked(&budget).await?;
            return Err(Error::Busy);
        }
        verified => verified?,
    };
    match user.filter(|_| valid) {
        Some(user) => {
            state.throttles.login_succeeded(&budget).await?;
            start_session(&state, user, device, StatusCode::OK).await
        }
        None => Err(Error::Unauthorized("Wrong username or password.".into())),
    }
}

fn login_budget(device: Option<&str>, username: &str, address: IpAddr) -> LoginBudget {
    match device {
        Some(device) => LoginBudget::KnownDevice(device.to_string()),
        None => LoginBudget::Unknown {
            account: username.to_lowercase(),
            address,
        },
    }
}

/// The hash of the device cookie the request presents, if it belongs to `account`.
async fn known_device(
    state: &AppState,
    headers: &HeaderMap,
    account: Option<UserId>,
) -> Result<Option<String>> {
    let (Some(account), Some(token)) = (
        account,
        auth::single_cookie(headers, state.settings.cookies.device_name()),
    ) else {
        return Ok(None);
    };
    let hash = token_hash(token);
    let max_age_ms = (auth::DEVICE_COOKIE_DAYS * 24 * 3600 * 1000) as i64;
    let owner = state
        .live
        .db
        .device_owner(&hash, crate::now_ms(), max_age_ms)
        .await?;
    Ok((owner == Some(account)).then_some(hash))
}

/// Opens a session for `user`, and remembers the browser as one of theirs unless it already is.
async fn start_session(
    state: &AppState,
    user: User,
    known_device: Option<String>,
    status: StatusCode,
) -> Result<Response> {
    let token = auth::new_token();
    let now = crate::now_ms();
    let lifetime_secs = u64::from(state.settings.session_days) * 24 * 3600;
    state
        .live
        .db
        .create_session(
            user.id,
            &token_hash(&token),
            now,
            now + lifetime_secs as i64 * 1000,
        )
        .await?;
    let cookies = &state.settings.cookies;
    let mut set_cookies = vec![(header::SET_COOKIE, cookies.session(&token, lifetime_secs))];
    if known_device.is_none() {
        let device = auth::new_token();
        state
            .live
            .db
            .remember_device(&token_hash(&device), user.id, now)
            .await?;
        set_cookies.push((header::SET_COOKIE, cookies.device(&device)));
    }
    Ok((
        status,
        AppendHeaders(set_cookies),
        Json(Session { user, token }),
    )
        .into_response())
}

/// Ends the presented session and closes its sockets. Idempotent: without a session it only clears
/// the cookie.
async fn logout(
    State(live): State<LiveState>,
    State(settings): State<Arc<Settings>>,
    session: Option<Authenticated>,
) -> Result<Response> {
    if let Some(Authenticated(session)) = session {
        live.db.delete_session(session.id).await?;
        live.end_session(session.id);
    }
    let cookie = settings.cookies.cleared_session();
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

async fn me(Authenticated(session): Authenticated) -> Json<User> {
    Json(session.user)
}
