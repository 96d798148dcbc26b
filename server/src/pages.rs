//! Sends page requests where they belong before rendering: the chat needs a session, the sign-up
//! and log-in forms are for people without one.

use crate::auth::Authenticated;
use crate::state::AppState;
use app::ui::paths;
use axum::{
    extract::{OptionalFromRequestParts, Request, State},
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
    // Looked up only for these pages, not for every asset the middleware also sees.
    let (mut parts, body) = request.into_parts();
    let session =
        <Authenticated as OptionalFromRequestParts<_>>::from_request_parts(&mut parts, &state)
            .await;
    let request = Request::from_parts(parts, body);
    let has_session = match session {
        Ok(session) => session.is_some(),
        Err(error) => return error.into_response(),
    };
    match (needs_session, has_session) {
        (true, false) => Redirect::to(paths::LOGIN).into_response(),
        (false, true) => Redirect::to(paths::CHAT).into_response(),
        _ => next.run(request).await,
    }
}
