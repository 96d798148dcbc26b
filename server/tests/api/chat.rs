//! Direct chats and messages between people.

use crate::harness::{pair, spawn_app_with, Client, Pair};
use app::model::{Chat, ChatId, Message, Pos, UserId};
use app::protocol::{ApiError, ClientEvent, ErrorCode, Refusal, Reply, ServerEvent};

pub(crate) async fn open(client: &mut Client, with: UserId) -> Chat {
    match client
        .request(ClientEvent::ChatOpen { user_id: with })
        .await
    {
        Ok(Reply::Chat { chat }) => chat,
        other => panic!("expected a chat, got {other:?}"),
    }
}

pub(crate) async fn send(
    client: &mut Client,
    chat: ChatId,
    nonce: &str,
    body: &str,
) -> Result<Message, ApiError> {
    let reply = client
        .request(ClientEvent::MessageSend {
            chat_id: chat,
            nonce: nonce.into(),
            body: body.into(),
        })
        .await?;
    match reply {
        Reply::Message { message } => Ok(message),
        other => panic!("expected a message, got {other:?}"),
    }
}

pub(crate) async fn history(client: &mut Client, chat: ChatId) -> Result<Vec<Message>, ApiError> {
    match client
        .request(ClientEvent::MessageHistory {
            chat_id: chat,
            before: None,
            after: None,
            limit: None,
        })
        .await?
    {
        Reply::History { messages, .. } => Ok(messages),
        other => panic!("expected history, got {other:?}"),
    }
}

/// The log position a `ready` starts from, and its epoch.
fn position_of(ready: &ServerEvent) -> (String, Pos) {
    match ready {
        ServerEvent::Ready { epoch, pos, .. } => (epoch.clone(), *pos),
        other => panic!("not ready: {other:?}"),
    }
}

#[tokio::test]
async fn two_people_exchange_messages_live() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;

    let chat = open(&mut a, bob.user.id).await;
    assert_eq!(chat.members.len(), 2);
    match b.stream_push().await {
        ServerEvent::ChatNew { chat: pushed, .. } => assert_eq!(pushed.id, chat.id),
        other => panic!("expected chat:new, got {other:?}"),
    }
    assert_eq!(
        open(&mut b, alice.user.id).await.id,
        chat.id,
        "one direct chat per pair"
    );

    let sent = send(&mut a, chat.id, "a-1", "Hi Bob <b>!</b>")
        .await
        .unwrap();
    assert_eq!(sent.body, "Hi Bob <b>!</b>", "text is stored as sent");
    match b.stream_push().await {
        ServerEvent::MessageNew { message, .. } => assert_eq!(message, sent),
        other => panic!("expected message:new, got {other:?}"),
    }
    let reply = send(&mut b, chat.id, "b-1", "Hello Alice").await.unwrap();
    loop {
        match a.stream_push().await {
            ServerEvent::MessageNew { message, .. } if message.id == sent.id => continue,
            ServerEvent::MessageNew { message, .. } => {
                assert_eq!(message, reply);
                break;
            }
            ServerEvent::ChatNew { .. } => continue,
            other => panic!("expected message:new, got {other:?}"),
        }
    }

    let messages = history(&mut a, chat.id).await.unwrap();
    assert_eq!(messages, vec![reply, sent], "newest first");
}

#[tokio::test]
async fn a_retried_nonce_returns_the_original_message() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let chat = open(&mut a, bob.user.id).await;
    let first = send(&mut a, chat.id, "same-nonce", "only once")
        .await
        .unwrap();
    let again = send(&mut a, chat.id, "same-nonce", "only once")
        .await
        .unwrap();
    drop(a);
    let (mut other_socket, _) = app.connect(&alice).await;
    let from_new_socket = send(&mut other_socket, chat.id, "same-nonce", "only once")
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(from_new_socket, first);

    let carol = app.register("carol").await;
    let other_chat = open(&mut other_socket, carol.user.id).await;
    for (chat_id, body) in [(other_chat.id, "only once"), (chat.id, "something else")] {
        let reused = send(&mut other_socket, chat_id, "same-nonce", body)
            .await
            .unwrap_err();
        assert_eq!(reused.code, ErrorCode::Conflict, "one nonce, one message");
    }
    assert_eq!(
        history(&mut other_socket, chat.id).await.unwrap(),
        vec![first]
    );
    assert!(history(&mut other_socket, other_chat.id)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_non_member_can_neither_read_nor_send() {
    let Pair { app, alice, bob } = pair().await;
    let mallory = app.register("mallory").await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut m, _) = app.connect(&mallory).await;
    let chat = open(&mut a, bob.user.id).await;
    send(&mut a, chat.id, "a-1", "private").await.unwrap();

    let refused = send(&mut m, chat.id, "m-1", "let me in").await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden);
    let refused = history(&mut m, chat.id).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden);
    let missing = history(&mut m, ChatId(9999)).await.unwrap_err();
    assert_eq!(
        missing.code,
        ErrorCode::Forbidden,
        "absent chats look the same as others' chats"
    );

    let messages = history(&mut a, chat.id).await.unwrap();
    assert_eq!(messages.len(), 1, "nothing was written");
    // Nothing was pushed to alice either: her stream holds only what she caused.
    send(&mut a, chat.id, "a-2", "still private").await.unwrap();
    assert!(matches!(a.stream_push().await, ServerEvent::ChatNew { .. }));
    match a.stream_push().await {
        ServerEvent::MessageNew { message, .. } => assert_eq!(message.nonce, "a-1"),
        other => panic!("unexpected push {other:?}"),
    }
    match a.stream_push().await {
        ServerEvent::MessageNew { message, .. } => assert_eq!(message.nonce, "a-2"),
        other => panic!("unexpected push {other:?}"),
    }
}

#[tokio::test]
async fn bad_sends_are_refused_and_store_nothing() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let chat = open(&mut a, bob.user.id).await;
    let cases = [
        ("n1", "   ".to_string(), ErrorCode::Invalid),
        ("", "hi".to_string(), ErrorCode::Invalid),
        ("n2", "x".repeat(4001), ErrorCode::TooLarge),
        (
            "n3",
            "\u{200B}\u{200D}\u{3164}".to_string(),
            ErrorCode::Invalid,
        ),
        ("n4", "\u{2800}\u{2800}".to_string(), ErrorCode::Invalid),
        ("n5", "\u{1}\u{2}\u{3}".repeat(100), ErrorCode::Invalid),
        ("n\u{202E}6", "hi".to_string(), ErrorCode::Invalid),
        ("n 7", "hi".to_string(), ErrorCode::Invalid),
    ];
    for (nonce, body, code) in cases {
        assert_eq!(
            send(&mut a, chat.id, nonce, &body).await.unwrap_err().code,
            code
        );
    }
    let refused = open_error(&mut a, alice.user.id).await;
    assert_eq!(refused.code, ErrorCode::Invalid, "no chat with oneself");
    let refused = open_error(&mut a, UserId(424242)).await;
    assert_eq!(refused.code, ErrorCode::NotFound);
    assert!(history(&mut a, chat.id).await.unwrap().is_empty());
}

async fn open_error(client: &mut Client, with: UserId) -> ApiError {
    client
        .request(ClientEvent::ChatOpen { user_id: with })
        .await
        .unwrap_err()
}

#[tokio::test]
async fn history_pages_back_through_older_messages() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let chat = open(&mut a, bob.user.id).await;
    let mut sent = Vec::new();
    for n in 0..5 {
        sent.push(
            send(&mut a, chat.id, &format!("n{n}"), &format!("message {n}"))
                .await
                .unwrap(),
        );
    }
    let page = |before| ClientEvent::MessageHistory {
        chat_id: chat.id,
        before,
        after: None,
        limit: Some(2),
    };
    let Reply::History {
        messages, has_more, ..
    } = a.request(page(None)).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(messages, vec![sent[4].clone(), sent[3].clone()]);
    assert!(has_more);
    let Reply::History {
        messages, has_more, ..
    } = a.request(page(Some(sent[1].id))).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(messages, vec![sent[0].clone()]);
    assert!(!has_more);
    let refused = a
        .request(ClientEvent::MessageHistory {
            chat_id: chat.id,
            before: None,
            after: None,
            limit: Some(0),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::Invalid);

    // Forward from any message, as a jump to the first unread needs.
    let forward = |after| ClientEvent::MessageHistory {
        chat_id: chat.id,
        before: None,
        after: Some(after),
        limit: Some(2),
    };
    let Reply::History {
        messages, has_more, ..
    } = a.request(forward(sent[0].id)).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(
        messages,
        vec![sent[2].clone(), sent[1].clone()],
        "newest first"
    );
    assert!(has_more, "newer ones follow");
    let Reply::History {
        messages, has_more, ..
    } = a.request(forward(sent[2].id)).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(messages, vec![sent[4].clone(), sent[3].clone()]);
    assert!(!has_more);
    let both = a
        .request(ClientEvent::MessageHistory {
            chat_id: chat.id,
            before: Some(sent[4].id),
            after: Some(sent[0].id),
            limit: None,
        })
        .await
        .unwrap_err();
    assert_eq!(both.refusal, Some(Refusal::BeforeAndAfter));
}

#[tokio::test]
async fn a_reconnecting_client_syncs_what_it_missed() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let (b, ready) = app.connect(&bob).await;
    let (epoch, left_at) = position_of(&ready);
    drop(b);

    let chat = open(&mut a, bob.user.id).await;
    let missed = send(&mut a, chat.id, "while-away", "you missed this")
        .await
        .unwrap();

    let (mut b, ready) = app.connect(&bob).await;
    assert_eq!(position_of(&ready).0, epoch, "the same log");
    let sync = |after| ClientEvent::Sync {
        epoch: epoch.clone(),
        after,
    };
    let Reply::Sync {
        events,
        pos,
        has_more,
    } = b.request(sync(left_at)).await.unwrap()
    else {
        panic!()
    };
    // Alice's own chat:new is hers alone: bob gets his, and the message.
    assert_eq!(pos, left_at + 3, "the head of the log");
    assert!(!has_more);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(&events[0], ServerEvent::ChatNew { chat: c, seq: 1, .. } if c.id == chat.id));
    assert!(
        matches!(&events[1], ServerEvent::MessageNew { message, seq: 1, .. } if *message == missed)
    );

    for position in [-1, pos + 1, i64::MAX] {
        let refused = b.request(sync(position)).await.unwrap_err();
        assert_eq!(
            refused.code,
            ErrorCode::ResyncRequired,
            "position {position}"
        );
    }
    let elsewhere = ClientEvent::Sync {
        epoch: "another-database".into(),
        after: left_at,
    };
    let refused = b.request(elsewhere).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::ResyncRequired);
}

#[tokio::test]
async fn ready_holds_a_first_page_of_chats_with_short_previews() {
    let app = spawn_app_with(&["--registrations-per-hour", "100"]).await;
    let victim = app.register("victim").await;
    let page = app::model::limits::CHAT_PAGE_MAX as usize;
    for n in 0..=page {
        let stranger = app.register(&format!("stranger{n}")).await;
        let (mut s, _) = app.connect(&stranger).await;
        let chat = open(&mut s, victim.user.id).await;
        send(&mut s, chat.id, "big", &"x".repeat(4000))
            .await
            .unwrap();
    }
    let (mut v, ready) = app.connect(&victim).await;
    let ServerEvent::Ready {
        chats, more_chats, ..
    } = ready
    else {
        unreachable!()
    };
    assert_eq!(chats.len(), page);
    assert!(more_chats);
    for chat in &chats {
        let preview = chat.last_message.as_ref().unwrap();
        assert_eq!(
            preview.text.chars().count(),
            app::model::limits::PREVIEW_MAX_CHARS
        );
        assert!(preview.truncated);
    }
    let newest_first: Vec<_> = chats.iter().map(|c| c.position()).collect();
    let mut sorted = newest_first.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(newest_first, sorted, "most recently active first");

    let Reply::Chats {
        chats: rest,
        has_more,
    } = v
        .request(ClientEvent::ChatsList {
            before: chats.last().map(|c| c.position()),
            limit: None,
        })
        .await
        .unwrap()
    else {
        panic!("a chats page")
    };
    assert_eq!(rest.len(), 1, "the one left over");
    assert!(!has_more);
    assert!(chats.iter().all(|c| c.id != rest[0].id));
    let too_many = v
        .request(ClientEvent::ChatsList {
            before: None,
            limit: Some(1000),
        })
        .await
        .unwrap_err();
    assert_eq!(too_many.code, ErrorCode::Invalid);
}

/// Senders on several connections at once: a watcher gets every message once, in log order, with
/// its chat's `seq` counting up without a gap, and a `sync` from before them replays the same.
#[tokio::test]
async fn concurrent_senders_are_delivered_once_each_in_log_order() {
    const EACH: usize = 25;
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let chat = open(&mut a, bob.user.id).await;
    let (mut watcher, ready) = app.connect(&bob).await;
    let (epoch, from) = position_of(&ready);
    let mut senders = Vec::new();
    for (n, session) in [&alice, &alice, &bob, &bob].into_iter().enumerate() {
        let (mut client, _) = app.connect(session).await;
        senders.push(tokio::spawn(async move {
            for i in 0..EACH {
                send(&mut client, chat.id, &format!("s{n}-{i}"), "hi")
                    .await
                    .unwrap();
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }

    let mut pushed = Vec::new();
    while pushed.len() < 4 * EACH {
        if let ServerEvent::MessageNew { pos, seq, message } = watcher.stream_push().await {
            pushed.push((pos, seq, message.id));
        }
    }
    let seqs: Vec<_> = pushed.iter().map(|(_, seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=4 * EACH as i64).collect::<Vec<_>>());
    assert!(pushed.windows(2).all(|w| w[0].0 < w[1].0), "in log order");

    let Ok(Reply::Sync { events, .. }) = watcher
        .request(ClientEvent::Sync { epoch, after: from })
        .await
    else {
        panic!("sync failed")
    };
    let replayed: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            ServerEvent::MessageNew { pos, seq, message } => Some((*pos, *seq, message.id)),
            _ => None,
        })
        .collect();
    assert_eq!(replayed, pushed);
}
