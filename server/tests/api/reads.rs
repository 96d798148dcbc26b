//! Read receipts, unread counts and mute.

use crate::chat::{open, send};
use crate::harness::{pair, spawn_app, Client, Pair};
use app::model::{Chat, ChatId, ChatPosition, MessageId, UserId};
use app::protocol::{ClientEvent, Refusal, Reply, ServerEvent};
use app::ui::state::State;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::collections::HashMap;

async fn read(client: &mut Client, chat: ChatId, message: MessageId) -> (MessageId, u32) {
    match client
        .request(ClientEvent::ChatRead {
            chat_id: chat,
            message_id: message,
        })
        .await
    {
        Ok(Reply::Read { read, unread, .. }) => (read, unread),
        other => panic!("expected read, got {other:?}"),
    }
}

async fn get(client: &mut Client, chat: ChatId) -> Chat {
    match client.request(ClientEvent::ChatGet { chat_id: chat }).await {
        Ok(Reply::Chat { chat }) => chat,
        other => panic!("expected a chat, got {other:?}"),
    }
}

async fn totals(client: &mut Client, before: Option<ChatPosition>) -> (u32, u32) {
    match client.request(ClientEvent::UnreadCount { before }).await {
        Ok(Reply::Unread { chats, messages }) => (chats, messages),
        other => panic!("expected unread, got {other:?}"),
    }
}

/// The next receipt pushed: whose, how far, and their count.
async fn receipt(client: &mut Client) -> (UserId, MessageId, u32) {
    match client
        .take_push(|event| matches!(event, ServerEvent::Receipt { .. }))
        .await
    {
        ServerEvent::Receipt {
            user_id,
            read,
            unread,
            ..
        } => (user_id, read, unread),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn a_read_is_seen_by_the_others_and_clears_the_count_on_every_device() {
    let Pair { app, alice, bob } = pair().await;
    let carol = app.register("carol").await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    let (mut other_tab, _) = app.connect(&bob).await;
    let (mut c, _) = app.connect(&carol).await;
    let chat = open(&mut a, bob.user.id).await;
    let mut sent = Vec::new();
    for n in 0..3 {
        sent.push(
            send(&mut a, chat.id, &format!("a-{n}"), "hi")
                .await
                .unwrap(),
        );
    }
    assert_eq!(get(&mut b, chat.id).await.unread, 3);
    assert_eq!(
        get(&mut a, chat.id).await.unread,
        0,
        "my own messages are read"
    );
    assert_eq!(totals(&mut b, None).await, (1, 3));

    assert_eq!(read(&mut b, chat.id, sent[1].id).await, (sent[1].id, 1));
    assert_eq!(receipt(&mut other_tab).await, (bob.user.id, sent[1].id, 1));
    assert_eq!(receipt(&mut a).await, (bob.user.id, sent[1].id, 1));
    let seen = get(&mut a, chat.id).await;
    assert_eq!(
        seen.read_by(bob.user.id),
        Some(sent[1].id),
        "has_read, from the receipt"
    );
    // Reading an older message moves nothing back, and tells nobody.
    assert_eq!(read(&mut b, chat.id, sent[0].id).await, (sent[1].id, 1));

    // Deleted messages and system lines never count; muted chats stay out of the total.
    b.request(ClientEvent::ChatMute {
        chat_id: chat.id,
        muted: true,
    })
    .await
    .unwrap();
    let muted = other_tab
        .take_push(|event| matches!(event, ServerEvent::ChatMuted { .. }))
        .await;
    assert!(matches!(muted, ServerEvent::ChatMuted { muted: true, .. }));
    assert!(get(&mut b, chat.id).await.muted);
    assert_eq!(totals(&mut b, None).await, (0, 0));
    a.request(ClientEvent::MessageDelete {
        message_id: sent[2].id,
    })
    .await
    .unwrap();
    assert_eq!(get(&mut b, chat.id).await.unread, 0);

    let not_member = Some(Refusal::NotMember { chat_id: chat.id });
    let refused = c
        .request(ClientEvent::ChatRead {
            chat_id: chat.id,
            message_id: sent[0].id,
        })
        .await;
    assert_eq!(refused.unwrap_err().refusal, not_member);
    let elsewhere = open(&mut c, alice.user.id).await;
    let refused = a
        .request(ClientEvent::ChatRead {
            chat_id: elsewhere.id,
            message_id: sent[0].id,
        })
        .await;
    assert_eq!(
        refused.unwrap_err().refusal,
        Some(Refusal::MessageNotFound {
            message_id: sent[0].id
        }),
        "a message of another chat"
    );
}

#[tokio::test]
async fn the_unread_count_can_leave_out_the_chats_already_loaded() {
    let Pair { app, alice, bob } = pair().await;
    let carol = app.register("carol").await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    let (mut c, _) = app.connect(&carol).await;
    let older = open(&mut a, bob.user.id).await;
    send(&mut a, older.id, "a-1", "one").await.unwrap();
    send(&mut a, older.id, "a-2", "two").await.unwrap();
    let newer = open(&mut c, bob.user.id).await;
    send(&mut c, newer.id, "c-1", "three").await.unwrap();
    assert_eq!(totals(&mut b, None).await, (2, 3));
    // Bob has loaded the newest chat only: what lies beyond it is the older one.
    let loaded = get(&mut b, newer.id).await.position();
    assert_eq!(totals(&mut b, Some(loaded)).await, (1, 2));
}

#[tokio::test]
async fn a_newcomer_is_not_shown_as_having_seen_what_came_before_them() {
    let Pair { app, alice, bob } = pair().await;
    let carol = app.register("carol").await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut c, _) = app.connect(&carol).await;
    let Ok(Reply::Chat { chat }) = a
        .request(ClientEvent::GroupCreate {
            title: "Before and after".into(),
            members: vec![bob.user.id],
            public: false,
        })
        .await
    else {
        panic!("a group")
    };
    let before = send(&mut a, chat.id, "a-1", "before carol").await.unwrap();
    a.request(ClientEvent::GroupAdd {
        chat_id: chat.id,
        user_ids: vec![carol.user.id],
    })
    .await
    .unwrap();
    let arrival = match c
        .take_push(|event| matches!(event, ServerEvent::MessageNew { .. }))
        .await
    {
        ServerEvent::MessageNew { message, .. } => message,
        _ => unreachable!(),
    };
    // Counted as read for her, so it is not unread; but not a read of hers that anyone sees.
    assert_eq!(get(&mut c, chat.id).await.unread, 0);
    assert_eq!(get(&mut a, chat.id).await.read_by(carol.user.id), None);
    let hers = get(&mut c, chat.id).await;
    assert_eq!(hers.read_by(carol.user.id), None);
    assert_eq!(
        hers.read_through,
        Some(arrival.id),
        "her own position, for her"
    );
    assert!(before.id < arrival.id);

    let after = send(&mut a, chat.id, "a-2", "welcome").await.unwrap();
    assert_eq!(read(&mut c, chat.id, after.id).await, (after.id, 0));
    assert_eq!(
        get(&mut a, chat.id).await.read_by(carol.user.id),
        Some(after.id),
        "her own read shows"
    );
}

/// The model every count is checked against: messages, who sent them, which are deleted, and how
/// far each person has read.
#[derive(Default)]
struct Model {
    messages: Vec<(MessageId, usize, bool)>,
    read: HashMap<usize, MessageId>,
}

impl Model {
    fn unread(&self, reader: usize) -> u32 {
        let read = self.read.get(&reader).copied().unwrap_or(MessageId(0));
        self.messages
            .iter()
            .filter(|(id, sender, deleted)| *id > read && *sender != reader && !deleted)
            .count() as u32
    }
}

/// After random sends, reads and deletions by three people, every count agrees: the model's, the
/// server's, and the browser's own (its state fed every push its connection got).
#[tokio::test]
async fn unread_counts_equal_a_recount_after_random_sends_reads_and_deletions() {
    for seed in [1, 2, 3, 4, 5] {
        let app = spawn_app().await;
        let mut people = Vec::new();
        for name in ["ann", "bob", "cyd"] {
            let session = app.register(name).await;
            let (client, ready) = app.connect(&session).await;
            let mut browser = State::default();
            browser.apply(ready);
            people.push((session, client, browser));
        }
        let ids: Vec<UserId> = people.iter().map(|(s, _, _)| s.user.id).collect();
        let Ok(Reply::Chat { chat }) = people[0]
            .1
            .request(ClientEvent::GroupCreate {
                title: "Counting".into(),
                members: ids[1..].to_vec(),
                public: false,
            })
            .await
        else {
            panic!("a group")
        };
        let mut model = Model::default();
        let mut rng = StdRng::seed_from_u64(seed);
        for step in 0..60 {
            let who = rng.gen_range(0..3);
            let client = &mut people[who].1;
            match rng.gen_range(0..10) {
                0..=4 => {
                    let sent = send(client, chat.id, &format!("s{seed}-{step}"), "hello")
                        .await
                        .unwrap();
                    model.messages.push((sent.id, who, false));
                }
                5..=7 if !model.messages.is_empty() => {
                    let at = rng.gen_range(0..model.messages.len());
                    let target = model.messages[at].0;
                    let (read, _) = read(client, chat.id, target).await;
                    let held = model.read.entry(who).or_insert(MessageId(0));
                    *held = (*held).max(target);
                    assert_eq!(read, *held);
                }
                _ => {
                    let own: Vec<usize> = (0..model.messages.len())
                        .filter(|at| model.messages[*at].1 == who && !model.messages[*at].2)
                        .collect();
                    if let Some(at) = own.get(rng.gen_range(0..own.len().max(1))) {
                        client
                            .request(ClientEvent::MessageDelete {
                                message_id: model.messages[*at].0,
                            })
                            .await
                            .unwrap();
                        model.messages[*at].2 = true;
                    }
                }
            }
        }
        // A last message marks the end of every connection's pushes.
        let end = send(&mut people[0].1, chat.id, "end", "end").await.unwrap();
        model.messages.push((end.id, 0, false));
        for (who, (_, client, browser)) in people.iter_mut().enumerate() {
            loop {
                let push = client.push().await;
                let is_end = matches!(&push, ServerEvent::MessageNew { message, .. } if message.id == end.id);
                browser.apply(push);
                if is_end {
                    break;
                }
            }
            let expected = model.unread(who);
            let in_browser = browser
                .chats
                .iter()
                .find(|c| c.id == chat.id)
                .unwrap()
                .unread;
            assert_eq!(
                in_browser, expected,
                "seed {seed}, person {who}: the browser's count"
            );
            assert_eq!(
                get(client, chat.id).await.unread,
                expected,
                "seed {seed}, person {who}: the server's count"
            );
        }
    }
}
