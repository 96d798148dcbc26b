//! Editing and deleting messages: who may, what everyone sees, and what is left in storage.

use crate::chat::{history, open, send};
use crate::harness::{pair, spawn_app, Client, Pair};
use app::model::{Message, MessageId, MessageVersion, Role};
use app::protocol::{ApiError, ClientEvent, Refusal, Reply, ServerEvent};

async fn edit(client: &mut Client, message: MessageId, body: &str) -> Result<Message, ApiError> {
    match client
        .request(ClientEvent::MessageEdit {
            message_id: message,
            body: body.into(),
        })
        .await?
    {
        Reply::Message { message } => Ok(message),
        other => panic!("expected a message, got {other:?}"),
    }
}

async fn delete(client: &mut Client, message: MessageId) -> Result<Message, ApiError> {
    match client
        .request(ClientEvent::MessageDelete {
            message_id: message,
        })
        .await?
    {
        Reply::Message { message } => Ok(message),
        other => panic!("expected a message, got {other:?}"),
    }
}

async fn versions(client: &mut Client, message: MessageId) -> Result<Vec<String>, ApiError> {
    match client
        .request(ClientEvent::MessageVersions {
            message_id: message,
        })
        .await?
    {
        Reply::Versions { versions, .. } => Ok(versions
            .into_iter()
            .map(|MessageVersion { body, .. }| body)
            .collect()),
        other => panic!("expected versions, got {other:?}"),
    }
}

fn refusal<T: std::fmt::Debug>(result: Result<T, ApiError>) -> Option<Refusal> {
    result.expect_err("refused").refusal
}

/// The next push that is not presence, as its type and message body.
async fn next_change(client: &mut Client) -> (&'static str, Message) {
    match client.stream_push().await {
        ServerEvent::MessageNew { message, .. } => ("new", message),
        ServerEvent::MessageEdited { message, .. } => ("edited", message),
        ServerEvent::MessageDeleted { message, .. } => ("deleted", message),
        other => panic!("expected a message event, got {other:?}"),
    }
}

#[tokio::test]
async fn an_edit_keeps_the_earlier_texts_and_reaches_the_chat_live() {
    let Pair { app, alice, bob } = pair().await;
    let carol = app.register("carol").await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    let (mut c, _) = app.connect(&carol).await;
    let chat = open(&mut a, bob.user.id).await;
    b.stream_push().await;
    let sent = send(&mut a, chat.id, "a-1", "helo").await.unwrap();
    assert_eq!(next_change(&mut b).await.0, "new");

    let edited = edit(&mut a, sent.id, "hello").await.unwrap();
    assert_eq!(
        (edited.body.as_str(), edited.nonce.as_str()),
        ("hello", "a-1")
    );
    assert!(edited.edited_at.is_some());
    let (kind, pushed) = next_change(&mut b).await;
    assert_eq!((kind, pushed), ("edited", edited.clone()));
    edit(&mut a, sent.id, "hello, bob").await.unwrap();
    assert_eq!(
        versions(&mut b, sent.id).await.unwrap(),
        vec!["helo", "hello", "hello, bob"]
    );
    assert_eq!(
        history(&mut b, chat.id).await.unwrap()[0].body,
        "hello, bob"
    );

    // Refusals, and an edit that changes nothing, push nothing.
    let unchanged = edit(&mut a, sent.id, "hello, bob").await.unwrap();
    assert_eq!(unchanged.body, "hello, bob");
    assert_eq!(
        refusal(edit(&mut b, sent.id, "bob was here").await),
        Some(Refusal::NotYourMessage)
    );
    assert_eq!(
        refusal(edit(&mut a, sent.id, " ").await),
        Some(Refusal::MessageBlank)
    );
    let not_found = Some(Refusal::MessageNotFound {
        message_id: sent.id,
    });
    assert_eq!(refusal(edit(&mut c, sent.id, "hi").await), not_found);
    assert_eq!(refusal(versions(&mut c, sent.id).await), not_found);
    assert_eq!(refusal(delete(&mut c, sent.id).await), not_found);
    let unknown = MessageId(999_999);
    assert_eq!(
        refusal(edit(&mut a, unknown, "hi").await),
        Some(Refusal::MessageNotFound {
            message_id: unknown
        })
    );
    next_change(&mut b).await; // the second edit
    send(&mut a, chat.id, "marker", "marker").await.unwrap();
    let (kind, marker) = next_change(&mut b).await;
    assert_eq!((kind, marker.body.as_str()), ("new", "marker"));
}

#[tokio::test]
async fn a_deleted_message_is_a_tombstone_for_everyone_and_its_texts_are_gone() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    let chat = open(&mut a, bob.user.id).await;
    b.stream_push().await;
    let sent = send(&mut a, chat.id, "a-1", "a secret").await.unwrap();
    edit(&mut a, sent.id, "a bigger secret").await.unwrap();
    assert_eq!(
        refusal(delete(&mut b, sent.id).await),
        Some(Refusal::NotYourMessage),
        "in a direct chat, only the sender deletes"
    );

    let deleted = delete(&mut a, sent.id).await.unwrap();
    assert!(deleted.body.is_empty() && deleted.deleted_at.is_some());
    let events: Vec<&str> = [
        next_change(&mut b).await.0,
        next_change(&mut b).await.0,
        next_change(&mut b).await.0,
    ]
    .to_vec();
    assert_eq!(
        events,
        vec!["new", "edited", "deleted"],
        "in the chat's order"
    );
    assert_eq!(
        history(&mut b, chat.id).await.unwrap(),
        vec![deleted.clone()]
    );
    assert_eq!(
        versions(&mut b, sent.id).await.unwrap(),
        Vec::<String>::new()
    );
    let preview = open(&mut b, alice.user.id).await.last_message.unwrap();
    assert!(preview.deleted && preview.text.is_empty());

    // Nothing of its texts is left in storage.
    let db = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT body FROM messages WHERE id = $1
         UNION ALL SELECT body FROM message_versions WHERE message_id = $1",
    )
    .bind(sent.id.0)
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(stored, vec![String::new()]);

    // Deleting again is harmless; editing a deleted message is refused.
    assert_eq!(delete(&mut a, sent.id).await.unwrap(), deleted);
    assert_eq!(
        refusal(edit(&mut a, sent.id, "back").await),
        Some(Refusal::MessageDeleted)
    );
    send(&mut a, chat.id, "marker", "marker").await.unwrap();
    assert_eq!(
        next_change(&mut b).await.1.body,
        "marker",
        "nothing else was pushed"
    );
}

#[tokio::test]
async fn group_admins_delete_anyones_messages_and_lines_stay() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    let (mut c, _) = app.connect(&carol).await;
    let Ok(Reply::Chat { chat: group }) = a
        .request(ClientEvent::GroupCreate {
            title: "Moderated".into(),
            members: vec![bob.user.id, carol.user.id],
            public: false,
        })
        .await
    else {
        panic!("a group")
    };
    a.request(ClientEvent::GroupSetRole {
        chat_id: group.id,
        user_id: bob.user.id,
        role: Role::Admin,
    })
    .await
    .unwrap();
    let from_carol = send(&mut c, group.id, "c-1", "spam").await.unwrap();
    let from_alice = send(&mut a, group.id, "a-1", "welcome").await.unwrap();

    assert_eq!(
        refusal(delete(&mut c, from_alice.id).await),
        Some(Refusal::NotYourMessage),
        "members delete only their own"
    );
    assert_eq!(
        refusal(edit(&mut b, from_carol.id, "not spam").await),
        Some(Refusal::NotYourMessage),
        "nobody edits another's words"
    );
    let removed = delete(&mut b, from_carol.id).await.unwrap();
    assert!(removed.deleted_at.is_some());
    let deleted = c
        .take_push(|event| matches!(event, ServerEvent::MessageDeleted { .. }))
        .await;
    assert!(
        matches!(deleted, ServerEvent::MessageDeleted { message, .. } if message.id == from_carol.id)
    );

    let line = history(&mut a, group.id)
        .await
        .unwrap()
        .into_iter()
        .find(|message| message.system.is_some())
        .unwrap();
    assert_eq!(
        refusal(delete(&mut a, line.id).await),
        Some(Refusal::SystemLineFixed)
    );
    assert_eq!(
        refusal(edit(&mut a, line.id, "rewritten").await),
        Some(Refusal::SystemLineFixed)
    );
}
