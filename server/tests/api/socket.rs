//! The handshake and the connection itself.

use crate::harness::{befriend, pair, spawn_app, Ended, Pair};
use app::model::Status;
use app::protocol::{close_code, ClientEvent, ErrorCode, Reply, ServerEvent};
use tokio_tungstenite::tungstenite::Error as WsError;

#[tokio::test]
async fn a_handshake_without_a_session_gets_an_error_and_a_close() {
    let app = spawn_app().await;
    for headers in [
        vec![],
        vec![("authorization", "Bearer not-a-token".to_string())],
    ] {
        let mut client = app.try_connect(&headers).await.expect("upgraded");
        match client.next_event().await {
            ServerEvent::Error { id: None, error } => {
                assert_eq!(error.code, ErrorCode::Unauthorized)
            }
            other => panic!("expected an unauthorized error, got {other:?}"),
        }
        assert_eq!(
            client.closed().await,
            Ended::Closed(Some(close_code::UNAUTHORIZED))
        );
    }
}

#[tokio::test]
async fn a_foreign_origin_is_refused_before_the_upgrade() {
    let app = spawn_app().await;
    let session = app.register("alice").await;
    let cookie = format!("natter_session={}", session.token);
    let refused = app
        .try_connect(&[
            ("cookie", cookie.clone()),
            ("origin", "http://evil.example".into()),
        ])
        .await;
    match refused {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    // The shapes of a DNS-rebinding page, and of the right host under another scheme.
    let port = app.addr.port();
    let refusals = [
        (
            format!("evil.test:{port}"),
            format!("http://evil.test:{port}"),
            400,
        ),
        (app.addr.to_string(), format!("https://{}", app.addr), 403),
    ];
    for (host, origin, status) in refusals {
        let refused = app
            .try_connect(&[
                ("cookie", cookie.clone()),
                ("host", host),
                ("origin", origin),
            ])
            .await;
        match refused {
            Err(WsError::Http(response)) => assert_eq!(response.status(), status),
            other => panic!("expected {status}, got {:?}", other.map(|_| ())),
        }
    }
    let mut own = app
        .try_connect(&[("cookie", cookie), ("origin", app.origin())])
        .await
        .expect("the site's own origin is accepted");
    assert!(matches!(own.next_event().await, ServerEvent::Ready { .. }));
}

#[tokio::test]
async fn malformed_frames_get_error_replies_and_change_nothing() {
    let app = spawn_app().await;
    let session = app.register("alice").await;
    let (mut client, ready) = app.connect(&session).await;
    let ServerEvent::Ready { epoch, pos, .. } = ready else {
        unreachable!()
    };

    let cases = [
        ("{not json", None),
        (r#"{"id": 7, "type": "chat:explode"}"#, Some(7)),
        (
            r#"{"id": 8, "type": "message:send", "chat_id": "one", "nonce": "n", "body": "x"}"#,
            Some(8),
        ),
        (
            r#"{"id": 9, "type": "message:send", "chat_id": 1}"#,
            Some(9),
        ),
        (r#"{"type": "users:list"}"#, None),
        (r#"{"id": 1e400, "type": "users:list"}"#, None),
    ];
    for (frame, expected_id) in cases {
        client.send_text(frame).await;
        match client.next_event().await {
            ServerEvent::Error { id, error } => {
                assert_eq!(id, expected_id, "{frame}");
                assert_eq!(error.code, ErrorCode::Invalid, "{frame}");
            }
            other => panic!("expected an error for {frame}, got {other:?}"),
        }
    }
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    client.send_text(deep).await;
    assert!(matches!(
        client.next_event().await,
        ServerEvent::Error { id: None, .. }
    ));

    // Still connected and nothing was written: the log is where it was.
    let reply = client
        .request(ClientEvent::Sync { epoch, after: pos })
        .await
        .unwrap();
    assert!(
        matches!(reply, Reply::Sync { ref events, pos: now, .. } if events.is_empty() && now == pos),
        "{reply:?}"
    );
}

#[tokio::test]
async fn a_client_that_keeps_sending_garbage_is_closed() {
    let app = spawn_app().await;
    let session = app.register("alice").await;
    let (mut client, _) = app.connect(&session).await;
    for _ in 0..10 {
        client.send_text("garbage").await;
    }
    assert_eq!(
        client.closed().await,
        Ended::Closed(Some(close_code::POLICY))
    );
}

#[tokio::test]
async fn logout_closes_that_sessions_sockets() {
    let app = spawn_app().await;
    let session = app.register("alice").await;
    let (mut client, _) = app.connect(&session).await;
    let response = app.logout(&session.token).await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        client.closed().await,
        Ended::Closed(Some(close_code::UNAUTHORIZED))
    );
}

#[tokio::test]
async fn an_oversized_frame_ends_only_that_connection() {
    let app = spawn_app().await;
    let session = app.register("alice").await;
    let (mut big, _) = app.connect(&session).await;
    let (mut other, _) = app.connect(&session).await;
    big.send_text("x".repeat(app::model::limits::FRAME_MAX_BYTES + 1))
        .await;
    big.closed().await;
    let reply = other
        .request(ClientEvent::UsersList {
            after: None,
            limit: None,
        })
        .await
        .unwrap();
    assert!(matches!(reply, Reply::People { .. }), "{reply:?}");
}

#[tokio::test]
async fn a_client_close_is_answered_and_the_user_goes_offline() {
    let Pair { app, alice, bob } = pair().await;
    let (mut watcher, _) = app.connect(&bob).await;
    let (mut client, _) = app.connect(&alice).await;
    befriend(&mut client, alice.user.id, &mut watcher, bob.user.id).await;
    let online = watcher.presence_push().await;
    assert_eq!(online.presence.map(|p| p.status), Some(Status::Online));
    client.close().await;
    assert_eq!(client.closed().await, Ended::Closed(Some(1000)));
    let offline = watcher.presence_push().await;
    assert_eq!(offline.presence.map(|p| p.status), Some(Status::Offline));
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    let app = spawn_app().await;
    let session = app.register("alice").await;
    let (mut client, _) = app.connect(&session).await;
    client.send_invalid_utf8().await;
    assert_eq!(client.closed().await, Ended::Closed(Some(1007)));
}

#[tokio::test]
async fn a_reader_that_falls_behind_is_told_why_it_was_closed() {
    let Pair { app, alice, bob } = pair().await;
    let mut slow = app.connect_with_receive_buffer(&alice, 4096).await;
    let (mut b, _) = app.connect(&bob).await;
    let Ok(Reply::Chat { chat }) = b
        .request(ClientEvent::ChatOpen {
            user_id: alice.user.id,
        })
        .await
    else {
        panic!("chat opened")
    };
    // Alice reads nothing while about 16 KB frames pile up for her: more than the server's socket
    // buffer (at most 4 MiB) and her queue (256 frames) can hold.
    let body = "🙂".repeat(4000);
    for n in 0..600 {
        let sent = b
            .request(ClientEvent::MessageSend {
                chat_id: chat.id,
                nonce: format!("flood-{n}"),
                body: body.clone(),
            })
            .await;
        assert!(sent.is_ok(), "the sender is never slowed down: {sent:?}");
    }
    // When she reads again she gets what was already on its way, then the close code.
    assert_eq!(
        slow.closed().await,
        Ended::Closed(Some(close_code::SLOW_CONSUMER))
    );
}
