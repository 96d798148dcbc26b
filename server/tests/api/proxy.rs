//! Behind a load balancer: clients told apart by `X-Forwarded-For`, believed only from a trusted proxy.

use crate::harness::{spawn_app_with, Client, TestApp};
use app::protocol::{ApiError, ErrorCode, ServerEvent, Session};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Error as WsError;

/// A client whose requests all say they were forwarded for `client`.
fn forwarded_for(client: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", client.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn register_as(app: &TestApp, client: &str, username: &str) -> reqwest::Response {
    app.post_credentials_from(
        &forwarded_for(client),
        "/api/auth/register",
        username,
        "correct horse",
    )
    .await
}

/// Opens a socket that says it was forwarded for `client`, and reads its `ready`.
pub async fn connect_for(
    app: &TestApp,
    session: &Session,
    client: &str,
) -> Result<Client, WsError> {
    let mut socket = app
        .try_connect(&[
            ("authorization", format!("Bearer {}", session.token)),
            ("x-forwarded-for", client.into()),
        ])
        .await?;
    assert!(matches!(
        socket.next_event().await,
        ServerEvent::Ready { .. }
    ));
    Ok(socket)
}

/// What a refused handshake answered: its status and error.
pub fn refusal(refused: Result<Client, WsError>) -> (u16, ApiError) {
    match refused {
        Err(WsError::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            let error = serde_json::from_slice(body).expect("an API error");
            (response.status().as_u16(), error)
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

/// Asserts that a handshake was refused at the upgrade for its client's connection cap (a
/// connection refused when accepted gets a 503 without `retry_after_secs`).
pub fn assert_over_the_cap_at_the_upgrade(refused: Result<Client, WsError>) {
    let (status, error) = refusal(refused);
    assert_eq!((status, error.code), (503, ErrorCode::Unavailable));
    assert_eq!(error.retry_after_secs, Some(5), "{error:?}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_registrations_are_throttled_per_forwarded_client() {
    let app = spawn_app_with(&[
        "--trusted-proxies",
        "127.0.0.1",
        "--registrations-per-hour",
        "1",
    ])
    .await;
    assert_eq!(register_as(&app, "203.0.113.7", "ada").await.status(), 201);
    assert_eq!(register_as(&app, "203.0.113.7", "bob").await.status(), 429);
    assert_eq!(
        register_as(&app, "198.51.100.4", "bob").await.status(),
        201,
        "another client behind the same proxy"
    );
    // A client's own entry left of the proxy's changes nothing.
    let spoofed = register_as(&app, "192.0.2.99, 203.0.113.7", "cyd").await;
    assert_eq!(spoofed.status(), 429);
}

#[tokio::test]
async fn a_forwarded_address_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_with(&["--registrations-per-hour", "1"]).await;
    assert_eq!(register_as(&app, "203.0.113.7", "ada").await.status(), 201);
    assert_eq!(
        register_as(&app, "198.51.100.4", "bob").await.status(),
        429,
        "the peer is the client, whatever the header says"
    );
}

#[tokio::test]
async fn sockets_through_a_proxy_are_capped_per_forwarded_client() {
    let app = spawn_app_with(&[
        "--trusted-proxies",
        "127.0.0.0/8",
        "--max-connections-per-address",
        "2",
    ])
    .await;
    let session = app.register("ada").await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(connect_for(&app, &session, "203.0.113.7").await.unwrap());
    }
    assert_over_the_cap_at_the_upgrade(connect_for(&app, &session, "203.0.113.7").await);
    // The proxy's own connections are not capped per address: it carries everyone.
    for _ in 0..2 {
        held.push(connect_for(&app, &session, "198.51.100.4").await.unwrap());
    }

    let mut closing = held.remove(0);
    closing.close().await;
    let freed = async {
        loop {
            if let Ok(socket) = connect_for(&app, &session, "203.0.113.7").await {
                return socket;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), freed)
        .await
        .expect("a closed socket frees its client's place");
}
