//! The server under faults of the services it depends on.

use crate::chat::{history, open, send};
use crate::harness::spawn_app_on;
use crate::services::Postgres;
use app::protocol::ErrorCode;
use std::time::{Duration, Instant};

/// While PostgreSQL is down a send is refused quickly, never hangs and never is acknowledged; once
/// it is back the client's retry with the same nonce is stored once.
#[tokio::test]
async fn sends_answer_unavailable_while_postgres_is_down_and_succeed_once_it_is_back() {
    let mut postgres = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = postgres.database("natter");
    let app = spawn_app_on(url, &[]).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let (mut a, _) = app.connect(&alice).await;
    let chat = open(&mut a, bob.user.id).await;
    send(&mut a, chat.id, "before", "before the outage")
        .await
        .unwrap();

    let mut postgres = tokio::task::spawn_blocking(move || {
        postgres.stop();
        postgres
    })
    .await
    .unwrap();
    let asked = Instant::now();
    let refused = send(&mut a, chat.id, "during", "while it is down")
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::Unavailable, "{refused:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(6),
        "answered in {:?}",
        asked.elapsed()
    );

    let _postgres = tokio::task::spawn_blocking(move || {
        postgres.resume();
        postgres
    })
    .await
    .unwrap();
    // The client retries as the protocol says, with the same nonce, until the database answers.
    let deadline = Instant::now() + Duration::from_secs(20);
    let stored = loop {
        match send(&mut a, chat.id, "during", "while it is down").await {
            Ok(message) => break message,
            Err(error) if error.code == ErrorCode::Unavailable && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => panic!("the retry failed: {error:?}"),
        }
    };
    let messages = history(&mut a, chat.id).await.unwrap();
    let bodies: Vec<_> = messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, vec!["while it is down", "before the outage"]);
    assert_eq!(messages[0].id, stored.id);
}
