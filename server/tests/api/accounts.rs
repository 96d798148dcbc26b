use crate::harness::{spawn_app, spawn_app_with, TestApp};
use app::model::User;
use app::protocol::{ApiError, ErrorCode, Session};
use std::net::IpAddr;

#[tokio::test]
async fn register_login_and_logout() {
    let app = spawn_app().await;

    let response = app
        .post_credentials("/api/auth/register", "alice", "correct horse")
        .await;
    assert_eq!(response.status(), 201);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("natter_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let registered: Session = response.json().await.unwrap();
    assert_eq!(registered.user.username, "alice");

    let me = |token: String| {
        let request = app.http.get(app.url("/api/me")).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    let who: User = me(registered.token.clone()).await.json().await.unwrap();
    assert_eq!(who, registered.user);

    let response = app
        .post_credentials("/api/auth/login", "ALICE", "correct horse")
        .await;
    assert_eq!(response.status(), 200, "usernames match in any case");
    let second: Session = response.json().await.unwrap();
    assert_ne!(
        second.token, registered.token,
        "each login is its own session"
    );

    let response = app.logout(&second.token).await;
    assert_eq!(response.status(), 204);
    assert!(response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(
        me(second.token).await.status(),
        401,
        "the logged-out session is gone"
    );
    assert_eq!(
        me(registered.token).await.status(),
        200,
        "other sessions live on"
    );
}

#[tokio::test]
async fn the_cookie_alone_authenticates() {
    let app = spawn_app().await;
    let session = app.register("carol").await;
    let response = app
        .http
        .get(app.url("/api/me"))
        .header("cookie", format!("natter_session={}", session.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_get_the_same_answer() {
    let app = spawn_app().await;
    app.register("bob").await;
    for (username, password) in [("bob", "wrong horse"), ("nobody", "correct horse")] {
        let response = app
            .post_credentials("/api/auth/login", username, password)
            .await;
        assert_eq!(response.status(), 401);
        let error: ApiError = response.json().await.unwrap();
        assert_eq!(error.code, ErrorCode::Unauthorized);
        assert_eq!(error.message, "Wrong username or password.");
    }
}

#[tokio::test]
async fn bad_registrations_are_refused_with_a_reason() {
    let app = spawn_app().await;
    app.register("dave").await;
    let cases = [
        ("Dave", "correct horse", 409, ErrorCode::Conflict),
        ("da", "correct horse", 400, ErrorCode::Invalid),
        ("<script>", "correct horse", 400, ErrorCode::Invalid),
        ("erin", "short", 400, ErrorCode::Invalid),
    ];
    for (username, password, status, code) in cases {
        let response = app
            .post_credentials("/api/auth/register", username, password)
            .await;
        assert_eq!(response.status(), status, "{username}");
        let error: ApiError = response.json().await.unwrap();
        assert_eq!(error.code, code, "{username}");
        assert!(!error.message.is_empty());
    }
    let response = app
        .http
        .post(app.url("/api/auth/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<ApiError>().await.unwrap().code,
        ErrorCode::Invalid
    );
    let response = app
        .post_credentials("/api/auth/login", "erin", "correct horse")
        .await;
    assert_eq!(
        response.status(),
        401,
        "no refused registration created an account"
    );
}

#[tokio::test]
async fn password_guessing_is_throttled_per_account() {
    let app = spawn_app().await;
    app.register("frank").await;
    app.register("grace").await;
    for _ in 0..5 {
        let response = app
            .post_credentials("/api/auth/login", "frank", "guess guess")
            .await;
        assert_eq!(response.status(), 401);
    }
    let response = app
        .post_credentials("/api/auth/login", "FRANK", "correct horse")
        .await;
    assert_eq!(
        response.status(),
        429,
        "held, even with the right password, for a client the account has not seen"
    );
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 15 * 60);
    let error: ApiError = response.json().await.unwrap();
    assert_eq!(error.code, ErrorCode::RateLimited);
    assert_eq!(error.retry_after_secs, Some(retry_after));

    let other = app
        .post_credentials("/api/auth/login", "grace", "correct horse")
        .await;
    assert_eq!(other.status(), 200, "other accounts are unaffected");
}

#[tokio::test]
async fn a_concurrent_burst_is_checked_no_more_than_the_limit_allows() {
    let app = spawn_app().await;
    app.register("heidi").await;
    let attempts =
        (0..200).map(|_| app.post_credentials("/api/auth/login", "heidi", "guess guess"));
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|response| response.status().as_u16())
        .collect();
    let checked = statuses.iter().filter(|&&s| s == 401).count();
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(checked, 5, "only five passwords were hashed and checked");
    assert_eq!(refused, 195);
    let late = app
        .post_credentials("/api/auth/login", "heidi", "correct horse")
        .await;
    assert_eq!(
        late.status(),
        429,
        "the right password after the burst is held too"
    );
}

/// A client that keeps cookies, as a browser does, calling from `address`.
fn browser(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .local_address(address.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn log_in(app: &TestApp, client: &reqwest::Client, username: &str, password: &str) -> u16 {
    app.post_credentials_from(client, "/api/auth/login", username, password)
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn strangers_cannot_lock_the_owner_out() {
    let app = spawn_app().await;
    let owner = browser("127.0.0.1");
    let registered = app
        .post_credentials_from(&owner, "/api/auth/register", "ivan", "correct horse")
        .await;
    assert_eq!(registered.status(), 201);
    let cookies: Vec<_> = registered.headers().get_all("set-cookie").iter().collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("natter_device=")),
        "the browser is remembered: {cookies:?}"
    );

    for address in ["127.0.0.2", "127.0.0.3"] {
        let attacker = browser(address);
        for _ in 0..5 {
            log_in(&app, &attacker, "ivan", "guess guess").await;
        }
    }
    let stranger = browser("127.0.0.4");
    assert_eq!(
        log_in(&app, &stranger, "ivan", "correct horse").await,
        429,
        "unknown clients share the exhausted budget"
    );
    assert_eq!(
        log_in(&app, &owner, "ivan", "correct horse").await,
        200,
        "the owner's browser has a budget of its own"
    );
    assert_eq!(
        log_in(&app, &owner, "IVAN", "correct horse").await,
        200,
        "and keeps it in any letter case"
    );
}

#[tokio::test]
async fn over_long_credentials_are_refused_before_anything_else() {
    let app = spawn_app().await;
    for (username, password, said) in [
        ("u".repeat(33), "correct horse".to_string(), "32 characters"),
        ("judy".to_string(), "p".repeat(1025), "at most 1024 bytes"),
    ] {
        for path in ["/api/auth/login", "/api/auth/register"] {
            let response = app.post_credentials(path, &username, &password).await;
            assert_eq!(response.status(), 400, "{path}");
            let error: ApiError = response.json().await.unwrap();
            assert!(error.message.contains(said), "{}", error.message);
        }
    }
}

#[tokio::test]
async fn usernames_are_taken_as_typed() {
    let app = spawn_app().await;
    for username in [" kim", "kim ", "kim\n"] {
        let response = app
            .post_credentials("/api/auth/register", username, "correct horse")
            .await;
        assert_eq!(response.status(), 400, "{username:?}");
    }
    app.register("kim").await;
    let padded = app
        .post_credentials("/api/auth/login", " kim ", "correct horse")
        .await;
    assert_eq!(padded.status(), 401, "login does not trim either");
}

#[tokio::test]
async fn registrations_are_throttled_per_address() {
    let app = spawn_app_with(&["--registrations-per-hour", "3"]).await;
    for name in ["leo1", "leo2", "leo3"] {
        app.register(name).await;
    }
    let response = app
        .post_credentials("/api/auth/register", "leo4", "correct horse")
        .await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let elsewhere = app
        .post_credentials_from(
            &browser("127.0.0.2"),
            "/api/auth/register",
            "leo5",
            "correct horse",
        )
        .await;
    assert_eq!(elsewhere.status(), 201, "other addresses still register");
}
