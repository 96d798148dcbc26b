//! The HTTP layer as an attacker meets it: slow and idle connections, connection caps, hosts and
//! origins, security headers, and the error shape of every `/api` answer.

use crate::harness::{spawn_app, spawn_app_with, TestApp};
use app::protocol::{ApiError, ErrorCode};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Error as WsError;

/// Longer than any timeout these tests configure, so "closed within the timeout" fails by hanging
/// past it rather than by racing a clock.
const PATIENCE: Duration = Duration::from_secs(10);

/// Reads until the server closes the connection; returns what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&received).into_owned()
}

/// A TCP connection to the app from a chosen loopback address.
async fn connect_from(app: &TestApp, source: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    let source: IpAddr = source.parse().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    socket.connect(app.addr).await.expect("connected")
}

#[tokio::test]
async fn half_sent_requests_and_idle_connections_are_closed() {
    let app = spawn_app_with(&["--header-timeout-secs", "1", "--body-timeout-secs", "1"]).await;

    let mut half_header = TcpStream::connect(app.addr).await.unwrap();
    half_header
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    read_until_closed(&mut half_header).await;

    let mut no_body = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"user",
        app.addr
    );
    no_body.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut no_body).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    // A byte now and then does not keep a body open past its deadline.
    let (mut reader, mut writer) = TcpStream::connect(app.addr).await.unwrap().into_split();
    writer.write_all(head.as_bytes()).await.unwrap();
    let dripping = tokio::spawn(async move {
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(b" ").await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, reader.read_to_end(&mut answer))
        .await
        .expect("the server closes a dripping body")
        .ok();
    assert!(answer.starts_with(b"HTTP/1.1 400"), "{answer:?}");
    dripping.abort();

    // Keep-alive, but nothing more is asked.
    let idle = TcpStream::connect(app.addr).await.unwrap();
    let answer = health_check(&app, idle, "keep-alive").await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "answered, then closed while idle: {answer}"
    );
}

/// Asks `/healthz` on `stream` and reads until the server closes it.
async fn health_check(app: &TestApp, mut stream: TcpStream, connection: &str) -> String {
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: {connection}\r\n\r\n",
        app.addr
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return String::new();
    }
    read_until_closed(&mut stream).await
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let app = spawn_app_with(&["--max-connections-per-address", "20"]).await;
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(connect_from(&app, "127.0.0.1").await);
    }
    let mut refused = connect_from(&app, "127.0.0.1").await;
    let answer = read_until_closed(&mut refused).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap();
    let error: ApiError = serde_json::from_str(body).unwrap();
    assert_eq!(error.code, ErrorCode::Unavailable);

    let other_address = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let health = other_address.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "others are still served");

    // A closed connection frees its place once the server has seen it close.
    held.pop();
    let freed = async {
        loop {
            let stream = connect_from(&app, "127.0.0.1").await;
            if health_check(&app, stream, "close")
                .await
                .starts_with("HTTP/1.1 200")
            {
                return;
            }
        }
    };
    tokio::time::timeout(PATIENCE, freed)
        .await
        .expect("a freed place is taken");
}

#[tokio::test]
async fn a_websocket_holds_the_one_place_its_connection_took() {
    let app = spawn_app_with(&["--max-connections-per-address", "2"]).await;
    let session = app.register("ada").await;
    // Not from 127.0.0.1, where the test's HTTP client keeps connections open.
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(app.try_connect_from(&session, "127.0.0.9").await.unwrap());
    }
    match app.try_connect_from(&session, "127.0.0.9").await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn pages_carry_security_headers_and_a_fresh_script_nonce() {
    let app = spawn_app().await;
    let mut nonces = Vec::new();
    for _ in 0..2 {
        let page = app.http.get(app.url("/login")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let headers = page.headers().clone();
        let policy = headers["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap()
            .to_string();
        let html = page.text().await.unwrap();
        assert!(
            html.contains(&format!("nonce=\"{nonce}\"")),
            "the page's scripts carry the policy's nonce"
        );
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1], "each response has its own nonce");
}

#[tokio::test]
async fn only_the_served_host_is_answered() {
    let app = spawn_app().await;
    let rebound = app
        .http
        .get(app.url("/api/me"))
        .header("host", "evil.test:3200")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 400);
    assert_eq!(
        rebound.json::<ApiError>().await.unwrap().code,
        ErrorCode::Invalid
    );
    let localhost = format!("localhost:{}", app.addr.port());
    let alias = app
        .http
        .get(app.url("/login"))
        .header("host", localhost)
        .send()
        .await
        .unwrap();
    assert_eq!(alias.status(), 200, "loopback names are the same server");
    let probe = app
        .http
        .get(app.url("/healthz"))
        .header("host", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200, "health probes come by address");
}

#[tokio::test]
async fn state_changing_calls_need_the_sites_origin_and_json() {
    let app = spawn_app().await;
    let session = app.register("alice").await;
    let me = |token: String| {
        let request = app.http.get(app.url("/api/me")).bearer_auth(token);
        async move { request.send().await.unwrap().status() }
    };
    let cross_site = app
        .http
        .post(app.url("/api/auth/logout"))
        .header("cookie", format!("natter_session={}", session.token))
        .header("origin", "http://127.0.0.1:1")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    let form = app
        .http
        .post(app.url("/api/auth/logout"))
        .header("cookie", format!("natter_session={}", session.token))
        .header("content-type", "text/plain")
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 400);
    assert_eq!(me(session.token.clone()).await, 200, "still logged in");

    let own = app
        .http
        .post(app.url("/api/auth/logout"))
        .header("cookie", format!("natter_session={}", session.token))
        .header("origin", app.origin())
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 204);
    assert_eq!(me(session.token).await, 401);
}

#[tokio::test]
async fn every_api_answer_has_the_error_shape() {
    let app = spawn_app().await;
    let cases = [
        (
            app.http.get(app.url("/api/nothing-here")),
            404,
            ErrorCode::NotFound,
        ),
        (app.http.get(app.url("/api/")), 404, ErrorCode::NotFound),
        (
            app.http.put(app.url("/api/auth/login")),
            405,
            ErrorCode::MethodNotAllowed,
        ),
        (
            app.http.delete(app.url("/api/me")),
            405,
            ErrorCode::MethodNotAllowed,
        ),
        (
            app.http
                .post(app.url("/api/auth/logout"))
                .header("content-type", "application/json")
                .body(" ".repeat(20 * 1024)),
            413,
            ErrorCode::TooLarge,
        ),
        (
            app.http.get(app.url("/api/auth/login")),
            405,
            ErrorCode::MethodNotAllowed,
        ),
        (
            app.http.post(app.url("/ws")),
            405,
            ErrorCode::MethodNotAllowed,
        ),
        (app.http.get(app.url("/ws")), 400, ErrorCode::Invalid),
        (
            app.http
                .post(app.url("/api/auth/login"))
                .header("content-type", "application/json")
                .body(format!("{{\"username\": \"{}\"}}", "x".repeat(20 * 1024))),
            413,
            ErrorCode::TooLarge,
        ),
        (
            app.http
                .post(app.url("/api/auth/login"))
                .header("content-type", "application/json")
                .body(r#"{"username": 5, "password": "x"}"#),
            400,
            ErrorCode::Invalid,
        ),
    ];
    for (request, status, code) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status);
        let error: ApiError = response.json().await.expect("the error shape");
        assert_eq!(error.code, code);
        assert!(
            !error.message.contains("line 1") && !error.message.contains("i64"),
            "{}",
            error.message
        );
    }
}

#[tokio::test]
async fn only_well_formed_request_ids_are_echoed() {
    let app = spawn_app().await;
    let echoed = |id: String| {
        let request = app.http.get(app.url("/healthz")).header("x-request-id", id);
        async move {
            let response = request.send().await.unwrap();
            response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(echoed("abc-123".into()).await, "abc-123");
    let long = "a".repeat(200);
    assert_ne!(echoed(long.clone()).await, long);
    assert_ne!(echoed("has spaces".into()).await, "has spaces");
    assert_ne!(echoed("<script>".into()).await, "<script>");
}

#[tokio::test]
async fn a_planted_second_session_cookie_counts_as_no_session() {
    let app = spawn_app().await;
    let victim = app.register("victim").await;
    let attacker = app.register("attacker").await;
    let tossed = format!(
        "natter_session={}; natter_session={}",
        attacker.token, victim.token
    );
    let me = app
        .http
        .get(app.url("/api/me"))
        .header("cookie", tossed.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    let mut socket = app
        .try_connect(&[("cookie", tossed)])
        .await
        .expect("upgraded");
    match socket.next_event().await {
        app::protocol::ServerEvent::Error { error, .. } => {
            assert_eq!(error.code, ErrorCode::Unauthorized)
        }
        other => panic!("expected unauthorized, got {other:?}"),
    }
}

#[tokio::test]
async fn over_https_the_cookies_are_host_only() {
    let app = spawn_app_with(&["--public-url", "https://chat.example.org"]).await;
    let registered = app
        .http
        .post(app.url("/api/auth/register"))
        .header("host", "chat.example.org")
        .json(&app::protocol::Credentials {
            username: "olga".into(),
            password: "correct horse".into(),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let cookies: Vec<_> = registered
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_string())
        .collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    for cookie in &cookies {
        assert!(cookie.starts_with("__Host-natter_"), "{cookie}");
        assert!(
            cookie.contains("; Secure") && cookie.contains("Path=/;"),
            "{cookie}"
        );
    }
    let session: app::protocol::Session = registered.json().await.unwrap();
    let unprefixed = app
        .http
        .get(app.url("/api/me"))
        .header("host", "chat.example.org")
        .header("cookie", format!("natter_session={}", session.token))
        .send()
        .await
        .unwrap();
    assert_eq!(
        unprefixed.status(),
        401,
        "a cookie any page could set is not read"
    );
}
