//! Session tokens, the cookies that carry them, and finding the session a request presents.
//!
//! A token is 256 random bits shown to the client once; only its SHA-256 is stored. Browsers carry it
//! in an HttpOnly cookie, other clients as `Authorization: Bearer`. Never in a URL.
//!
//! Over HTTPS the cookies are `__Host-` cookies, which only the site itself can set: a page on another
//! port or subdomain cannot plant its own session on a visitor. A request that carries more than one
//! cookie of the session's name counts as having none, rather than trusting whichever comes first.

use crate::db::{Db, SessionRow};
use crate::error::{Error, Result};
use crate::state::Settings;
use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::{header, request::Parts, HeaderMap};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// How long a browser is remembered as one that has logged in to an account.
pub const DEVICE_COOKIE_DAYS: u64 = 365;

/// The names and attributes of Natter's two cookies: the session, and the device cookie that gives a
/// browser known to an account its own login budget (see `throttle`).
#[derive(Clone, Debug)]
pub struct Cookies {
    secure: bool,
}

impl Cookies {
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    pub fn session_name(&self) -> &'static str {
        if self.secure {
            "__Host-natter_session"
        } else {
            "natter_session"
        }
    }

    pub fn device_name(&self) -> &'static str {
        if self.secure {
            "__Host-natter_device"
        } else {
            "natter_device"
        }
    }

    fn cookie(&self, name: &str, value: &str, max_age_secs: u64, same_site: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite={same_site}{secure}"
        )
    }

    /// `Set-Cookie` carrying a session token.
    pub fn session(&self, token: &str, max_age_secs: u64) -> String {
        self.cookie(self.session_name(), token, max_age_secs, "Lax")
    }

    /// `Set-Cookie` that removes the session cookie.
    pub fn cleared_session(&self) -> String {
        self.cookie(self.session_name(), "", 0, "Lax")
    }

    /// `Set-Cookie` carrying a device token. Strict: only the site's own pages log in.
    pub fn device(&self, token: &str) -> String {
        self.cookie(
            self.device_name(),
            token,
            DEVICE_COOKIE_DAYS * 24 * 3600,
            "Strict",
        )
    }
}

/// A fresh secret token: 256 random bits, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The value of the cookie `name`, when the request carries exactly one cookie of that name.
pub fn single_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(cookie, _)| *cookie == name)
        .map(|(_, value)| value);
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// The token a request presents: `Authorization: Bearer` first, else the session cookie.
pub fn presented_token<'a>(headers: &'a HeaderMap, cookie: &Cookies) -> Option<&'a str> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return value.strip_prefix("Bearer ").map(str::trim);
    }
    single_cookie(headers, cookie.session_name())
}

/// The valid session behind a request's token, or `unauthorized`.
async fn authenticate(db: &Db, cookies: &Cookies, headers: &HeaderMap) -> Result<SessionRow> {
    let token = presented_token(headers, cookies)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| Error::Unauthorized("Log in first.".into()))?;
    db.session(&token_hash(token), crate::now_ms())
        .await?
        .ok_or_else(|| Error::Unauthorized("Your session has ended: log in again.".into()))
}

/// The valid session a request presents, by `Authorization: Bearer` or the session cookie. As an
/// extractor it answers `unauthorized` without one; as `Option<Authenticated>` it is `None` then.
pub struct Authenticated(pub SessionRow);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated
where
    Db: FromRef<S>,
    Arc<Settings>: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let settings = Arc::<Settings>::from_ref(state);
        authenticate(&Db::from_ref(state), &settings.cookies, &parts.headers)
            .await
            .map(Authenticated)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Authenticated
where
    Db: FromRef<S>,
    Arc<Settings>: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>> {
        match <Self as FromRequestParts<S>>::from_request_parts(parts, state).await {
            Ok(session) => Ok(Some(session)),
            Err(Error::Unauthorized(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn cookies(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn bearer_wins_over_cookie() {
        let plain = Cookies::new(false);
        let mut headers = cookies("a=1; natter_session=from-cookie");
        assert_eq!(presented_token(&headers, &plain), Some("from-cookie"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer from-header"),
        );
        assert_eq!(presented_token(&headers, &plain), Some("from-header"));
    }

    #[test]
    fn two_cookiess_mean_no_session() {
        let plain = Cookies::new(false);
        let tossed = cookies("natter_session=planted; natter_session=mine");
        assert_eq!(presented_token(&tossed, &plain), None);
        let mut split = cookies("natter_session=planted");
        split.append(
            header::COOKIE,
            HeaderValue::from_static("natter_session=mine"),
        );
        assert_eq!(presented_token(&split, &plain), None);
    }

    #[test]
    fn https_sites_use_host_only_cookies() {
        let secure = Cookies::new(true);
        let set = secure.session("t", 60);
        assert!(set.starts_with("__Host-natter_session=t; Path=/;"), "{set}");
        assert!(
            set.contains("; Secure") && set.contains("HttpOnly"),
            "{set}"
        );
        assert_eq!(
            presented_token(&cookies("natter_session=plain"), &secure),
            None,
            "the unprefixed name is not read over https"
        );
        assert_eq!(
            presented_token(&cookies("__Host-natter_session=t"), &secure),
            Some("t")
        );
        assert!(secure.device("d").contains("SameSite=Strict"));
        assert!(Cookies::new(false).cleared_session().contains("Max-Age=0"));
    }

    #[test]
    fn tokens_are_random_and_stored_only_as_hashes() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(token_hash(&a), a);
        assert_eq!(token_hash(&a), token_hash(&a));
    }
}
