use crate::harness::spawn_app;
use app::model::User;
use app::protocol::{ApiError, ErrorCode, Session};

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
    assert_eq!(response.status(), 429, "held even with the right password");
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
