//! What every request must pass before a handler sees it, and what every response carries.
//!
//! - `Host` must be one this server serves (the public URL's, or a loopback name for a server reached
//!   on loopback), so a DNS-rebinding page cannot talk to it under its own name.
//! - Browsers may change state (`POST` to the API) and open the socket only from the site's own origin
//!   or a configured one; such `POST`s must be `application/json`, which plain cross-site forms
//!   cannot send.
//! - Pages get a Content-Security-Policy with a fresh nonce for Leptos' hydration scripts, cannot be
//!   framed, and no response is sniffed or leaks its URL as a referrer.

use crate::error::Error;
use crate::state::AppState;
use app::model::limits;
use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};
use rand::RngCore;

/// The Content-Security-Policy nonce of one response, for the page that renders into it.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

/// Whether `host` (a `Host` header) names this server.
pub fn host_served(host: &str, state: &AppState) -> bool {
    let public = &state.settings.public_url.authority;
    let host = host.to_ascii_lowercase();
    if host == *public {
        return true;
    }
    // A server reached on loopback answers to any loopback name on the same port.
    let (Some((public_name, public_port)), Some((name, port))) =
        (split_port(public), split_port(&host))
    else {
        return false;
    };
    port == public_port && is_loopback_name(public_name) && is_loopback_name(name)
}

fn split_port(authority: &str) -> Option<(&str, &str)> {
    let (name, port) = authority.rsplit_once(':')?;
    (!name.is_empty() && !port.contains(']')).then_some((name, port))
}

fn is_loopback_name(name: &str) -> bool {
    name == "localhost"
        || name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a browser request may act for the site: its `Origin` (when it sends one; clients that are
/// not browsers send none and cannot be tricked into using someone's cookie) is the site's own, with
/// the public URL's scheme, or one configured.
pub fn origin_allowed(headers: &HeaderMap, state: &AppState) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    let public = &state.settings.public_url;
    let scheme = if public.https { "https://" } else { "http://" };
    let own = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .is_some_and(|host| {
            host_served(host, state)
                && origin
                    .strip_prefix(scheme)
                    .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
        });
    own || state
        .settings
        .allowed_origins
        .iter()
        .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// Refuses requests for hosts this server does not serve. `/healthz` is exempt: load balancers probe
/// it by address.
pub async fn require_served_host(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    let served = host.is_some_and(|host| host_served(host, &state));
    if !served && request.uri().path() != "/healthz" {
        tracing::warn!(host = ?host, "refused a request for a host this server does not serve");
        return Error::Invalid("This server does not serve that host name.".into()).into_response();
    }
    next.run(request).await
}

/// State-changing API requests (every one is a `POST`) come from the site's own pages (or none), carry
/// JSON, and announce no body over the limit (even where the endpoint would not read it). Other
/// methods go on to the router, which answers them `405`.
pub async fn guard_api_writes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    if let Some(refused) = refuse_foreign_origin(&request, &state) {
        return refused;
    }
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Error::Invalid("Send the request body as application/json.".into()).into_response();
    }
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    if announced.is_some_and(|length| length > limits::HTTP_BODY_MAX_BYTES) {
        return Error::TooLarge(format!(
            "A request body has at most {} KiB.",
            limits::HTTP_BODY_MAX_BYTES / 1024
        ))
        .into_response();
    }
    next.run(request).await
}

/// The refusal of a request from a page of an origin that may not act for the site, if it is one.
fn refuse_foreign_origin(request: &Request, state: &AppState) -> Option<Response> {
    if origin_allowed(request.headers(), state) {
        return None;
    }
    let origin = request.headers().get(header::ORIGIN);
    tracing::warn!(?origin, path = %request.uri().path(), "refused a request from a foreign origin");
    Some(Error::Forbidden("This origin may not call Natter's API.".into()).into_response())
}

/// Uploads (`POST /api/media`) come from the site's own pages (or none). They are multipart forms,
/// which a cross-site form can send too, so the origin is what guards them; their size is checked
/// as they stream.
pub async fn guard_uploads(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::POST {
        if let Some(refused) = refuse_foreign_origin(&request, &state) {
            return refused;
        }
    }
    next.run(request).await
}

/// Adds the security headers to every response, and a nonce the page's scripts carry.
pub async fn security_headers(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let nonce = hex::encode(bytes);
    request.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut response = next.run(request).await;
    let policy = content_security_policy(&nonce, state.settings.live_reload_port);
    let headers = response.headers_mut();
    // A response with a policy of its own (an uploaded file's) keeps it.
    if let (Ok(policy), false) = (
        HeaderValue::from_str(&policy),
        headers.contains_key(header::CONTENT_SECURITY_POLICY),
    ) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// Scripts: the page's nonce'd inline scripts, the site's own files (Leptos' `modulepreload` link for
/// the bundle carries no nonce) and WebAssembly compilation (hydration). Everything else only from the site itself; no framing at all. `cargo leptos watch`
/// adds its live-reload socket.
fn content_security_policy(nonce: &str, live_reload_port: Option<u16>) -> String {
    let reload = live_reload_port
        .map(|port| format!(" ws://*:{port}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self'; connect-src 'self'{reload}; manifest-src 'self'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Cluster;
    use crate::config::Config;
    use crate::db::Db;
    use crate::state::{LiveState, Settings};
    use clap::Parser;

    async fn app_state(public: &str, allowed: &[&str]) -> (AppState, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let mut args = vec!["natter".to_string(), format!("--public-url={public}")];
        args.extend(allowed.iter().map(|a| format!("--allowed-origins={a}")));
        let options = leptos::config::LeptosOptions::builder()
            .output_name("natter")
            .build();
        let settings = Settings::new(&Config::parse_from(args), options.site_addr, &options);
        let live = LiveState::start(db, Cluster::default(), std::time::Duration::from_secs(15))
            .await
            .unwrap();
        let media = crate::media::MediaStore::open(
            &crate::media::MediaLocation::Directory(dir.path().join("media")),
            1024,
            4096,
        )
        .unwrap();
        let state = AppState::new(live, settings, options, media);
        (state, dir)
    }

    fn headers(host: &'static str, origin: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    #[tokio::test]
    async fn only_the_public_host_and_its_loopback_aliases_are_served() {
        let (state, _dir) = app_state("http://127.0.0.1:3000", &[]).await;
        for host in [
            "127.0.0.1:3000",
            "localhost:3000",
            "[::1]:3000",
            "LOCALHOST:3000",
        ] {
            assert!(host_served(host, &state), "{host}");
        }
        for host in [
            "evil.test:3000",
            "127.0.0.1:3001",
            "localhost",
            "10.0.0.1:3000",
        ] {
            assert!(!host_served(host, &state), "{host}");
        }
        let (public, _dir) = app_state("https://chat.example.org", &[]).await;
        assert!(host_served("chat.example.org", &public));
        assert!(!host_served("localhost", &public));
        assert!(!host_served("127.0.0.1:443", &public));
    }

    #[tokio::test]
    async fn origins_must_match_the_served_host_and_scheme() {
        let (state, _dir) = app_state("http://127.0.0.1:3000", &["https://app.example.org"]).await;
        assert!(origin_allowed(&headers("127.0.0.1:3000", None), &state));
        assert!(origin_allowed(
            &headers("127.0.0.1:3000", Some("http://127.0.0.1:3000")),
            &state
        ));
        assert!(origin_allowed(
            &headers("localhost:3000", Some("http://localhost:3000")),
            &state
        ));
        assert!(origin_allowed(
            &headers("127.0.0.1:3000", Some("https://app.example.org")),
            &state
        ));
        for (host, origin) in [
            ("127.0.0.1:3000", "https://127.0.0.1:3000"),
            ("127.0.0.1:3000", "http://127.0.0.1:3001"),
            ("127.0.0.1:3000", "http://localhost:3000"),
            ("evil.test:3200", "http://evil.test:3200"),
            ("127.0.0.1:3000", "null"),
        ] {
            assert!(
                !origin_allowed(&headers(host, Some(origin)), &state),
                "{host} {origin}"
            );
        }
    }

    #[test]
    fn the_policy_allows_hydration_and_forbids_framing() {
        let policy = content_security_policy("abc", None);
        assert!(policy.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval'"));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(!policy.contains("unsafe-inline"));
        assert!(
            content_security_policy("abc", Some(3001)).contains("connect-src 'self' ws://*:3001")
        );
    }
}
