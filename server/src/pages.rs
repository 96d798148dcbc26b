//! Sends page requests where they belong before rendering: the chat needs a session, the sign-up
//! and log-in forms are for people without one.

use crate::auth;
use crate::state::AppState;
use app::ui::paths;
use axum::{
    extract::{Request, State},
    http::Method,
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};

pub async fn redirect_by_session(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let needs_session = match path {
        p if p == paths::CHAT => true,
        p if p == paths::LOGIN || p == paths::SIGNUP => false,
        _ => return next.run(request).await,
    };
    if request.method() != Method::GET {
        return next.run(request).await;
    }
    let has_session = match auth::optional_session(&state, request.headers()).await {
        Ok(session) => session.is_some(),
        Err(error) => return error.into_response(),
    };
    match (needs_session, has_session) {
        (true, false) => Redirect::to(paths::LOGIN).into_response(),
        (false, true) => Redirect::to(paths::CHAT).into_response(),
        _ => next.run(request).await,
    }
}
