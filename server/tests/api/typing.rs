//! Typing: told to the chat's other members, never stored, and never left on.

use crate::chat::{open, send};
use crate::harness::{pair, Client, Pair};
use app::model::{ChatId, UserId};
use app::protocol::{ClientEvent, ErrorCode, Refusal, Reply, ServerEvent};
use std::time::{Duration, Instant};

/// The next `typing` push: who, and whether they type.
async fn typing_push(client: &mut Client) -> (UserId, bool) {
    match client
        .take_push(|event| matches!(event, ServerEvent::Typing { .. }))
        .await
    {
        ServerEvent::Typing { user, typing, .. } => (user.id, typing),
        _ => unreachable!(),
    }
}

async fn start(client: &mut Client, chat: ChatId) {
    assert_eq!(
        client
            .request(ClientEvent::TypingStart { chat_id: chat })
            .await,
        Ok(Reply::Ok)
    );
}

#[tokio::test]
async fn typing_reaches_the_others_once_and_ends_by_itself() {
    let Pair { app, alice, bob } = pair().await;
    let carol = app.register("carol").await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    let (mut c, _) = app.connect(&carol).await;
    let chat = open(&mut a, bob.user.id).await;

    start(&mut a, chat.id).await;
    let began = Instant::now();
    assert_eq!(typing_push(&mut b).await, (alice.user.id, true));
    start(&mut a, chat.id).await;
    assert_eq!(
        c.request(ClientEvent::TypingStart { chat_id: chat.id })
            .await
            .unwrap_err()
            .refusal,
        Some(Refusal::NotMember { chat_id: chat.id }),
        "outsiders cannot type in a chat"
    );
    // Unrefreshed, it ends by itself after about six seconds; the refresh was not told again.
    assert_eq!(typing_push(&mut b).await, (alice.user.id, false));
    let lasted = began.elapsed();
    assert!(
        lasted >= Duration::from_secs(5) && lasted < Duration::from_secs(9),
        "{lasted:?}"
    );
    // The typist is never told of their own typing.
    send(&mut a, chat.id, "marker", "marker").await.unwrap();
    let own = a
        .take_push(|event| {
            matches!(
                event,
                ServerEvent::MessageNew { .. } | ServerEvent::Typing { .. }
            )
        })
        .await;
    assert!(matches!(own, ServerEvent::MessageNew { .. }), "{own:?}");
}

#[tokio::test]
async fn typing_ends_on_stop_on_sending_and_when_the_typist_goes() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    let chat = open(&mut a, bob.user.id).await;

    start(&mut a, chat.id).await;
    assert_eq!(typing_push(&mut b).await, (alice.user.id, true));
    a.request(ClientEvent::TypingStop { chat_id: chat.id })
        .await
        .unwrap();
    assert_eq!(typing_push(&mut b).await, (alice.user.id, false));

    start(&mut a, chat.id).await;
    assert_eq!(typing_push(&mut b).await, (alice.user.id, true));
    send(&mut a, chat.id, "a-1", "done typing").await.unwrap();
    assert_eq!(typing_push(&mut b).await, (alice.user.id, false));

    start(&mut a, chat.id).await;
    assert_eq!(typing_push(&mut b).await, (alice.user.id, true));
    a.close().await;
    assert_eq!(typing_push(&mut b).await, (alice.user.id, false));
}

#[tokio::test]
async fn typing_notices_are_rate_limited_per_connection() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut other_tab, _) = app.connect(&alice).await;
    let chat = open(&mut a, bob.user.id).await;
    let mut refused = None;
    for _ in 0..40 {
        if let Err(error) = a
            .request(ClientEvent::TypingStart { chat_id: chat.id })
            .await
        {
            refused = Some(error);
            break;
        }
    }
    let refused = refused.expect("a flood of typing notices is refused");
    assert_eq!(refused.code, ErrorCode::RateLimited);
    assert!(refused.retry_after_secs.is_some());
    start(&mut other_tab, chat.id).await;
    send(&mut a, chat.id, "a-1", "messages still go")
        .await
        .unwrap();
}
