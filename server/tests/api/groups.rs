//! Groups and public rooms: who may change them, what every member hears, and what someone
//! removed keeps.

use crate::chat::{history, open, send};
use crate::harness::{befriend, spawn_app, spawn_app_with, Client, TestApp};
use app::model::{Chat, ChatId, GroupChange, Message, MessagePolicy, Role, Room, UserId};
use app::protocol::{ApiError, ClientEvent, ErrorCode, Refusal, Reply, ServerEvent, Session};

/// Sends a group event whose reply is the chat.
async fn change(client: &mut Client, event: ClientEvent) -> Result<Chat, ApiError> {
    match client.request(event).await? {
        Reply::Chat { chat } => Ok(chat),
        other => panic!("expected a chat, got {other:?}"),
    }
}

async fn create(client: &mut Client, title: &str, members: &[&Session], public: bool) -> Chat {
    change(
        client,
        ClientEvent::GroupCreate {
            title: title.into(),
            members: members.iter().map(|s| s.user.id).collect(),
            public,
        },
    )
    .await
    .expect("the group is created")
}

fn add(chat: ChatId, people: &[&Session]) -> ClientEvent {
    ClientEvent::GroupAdd {
        chat_id: chat,
        user_ids: people.iter().map(|s| s.user.id).collect(),
    }
}

fn remove(chat: ChatId, who: &Session, ban: bool) -> ClientEvent {
    ClientEvent::GroupRemove {
        chat_id: chat,
        user_id: who.user.id,
        ban,
    }
}

fn set_role(chat: ChatId, who: &Session, role: Role) -> ClientEvent {
    ClientEvent::GroupSetRole {
        chat_id: chat,
        user_id: who.user.id,
        role,
    }
}

/// The next `message:new` push that `wanted` accepts, leaving the others queued.
async fn message_push(client: &mut Client, wanted: impl Fn(&Message) -> bool) -> Message {
    match client
        .take_push(
            |event| matches!(event, ServerEvent::MessageNew { message, .. } if wanted(message)),
        )
        .await
    {
        ServerEvent::MessageNew { message, .. } => message,
        _ => unreachable!(),
    }
}

/// Waits for the message with this body.
async fn heard(client: &mut Client, body: &str) {
    message_push(client, |message| message.body == body).await;
}

/// The next system line pushed, as its change and its English text.
async fn line_push(client: &mut Client) -> (GroupChange, String) {
    let message = message_push(client, |message| message.system.is_some()).await;
    (message.system.expect("a system line"), message.body)
}

/// The next `chat:new` push.
async fn chat_push(client: &mut Client) -> Chat {
    match client
        .take_push(|event| matches!(event, ServerEvent::ChatNew { .. }))
        .await
    {
        ServerEvent::ChatNew { chat, .. } => chat,
        _ => unreachable!(),
    }
}

fn role_of(chat: &Chat, who: &Session) -> Option<Role> {
    chat.role_of(who.user.id)
}

fn refusal<T: std::fmt::Debug>(result: Result<T, ApiError>) -> (ErrorCode, Option<Refusal>) {
    let error = result.expect_err("refused");
    (error.code, error.refusal)
}

async fn people(app: &TestApp, names: &[&str]) -> Vec<(Session, Client)> {
    let mut connected = Vec::new();
    for name in names {
        let session = app.register(name).await;
        let (client, _) = app.connect(&session).await;
        connected.push((session, client));
    }
    connected
}

async fn rooms(client: &mut Client, query: Option<&str>) -> Vec<Room> {
    match client
        .request(ClientEvent::RoomsList {
            query: query.map(str::to_string),
            before: None,
            limit: None,
        })
        .await
    {
        Ok(Reply::Rooms { rooms, .. }) => rooms,
        other => panic!("expected rooms, got {other:?}"),
    }
}

#[tokio::test]
async fn a_group_reaches_every_member_live_and_a_removed_member_gets_nothing_after() {
    let app = spawn_app().await;
    let mut all = people(&app, &["alice", "bob", "carol"]).await;
    let (carol, mut c) = all.pop().unwrap();
    let (bob, mut b) = all.pop().unwrap();
    let (alice, mut a) = all.pop().unwrap();
    let ServerEvent::Ready { epoch, pos, .. } = app.connect(&carol).await.1 else {
        unreachable!()
    };

    let group = create(&mut a, "  Climbing 🧗 ", &[&bob], false).await;
    assert_eq!(group.title.as_deref(), Some("Climbing 🧗"));
    assert_eq!(role_of(&group, &alice), Some(Role::Owner));
    assert_eq!(role_of(&group, &bob), Some(Role::Member));
    assert_eq!(chat_push(&mut b).await.id, group.id);
    let (created, text) = line_push(&mut b).await;
    assert_eq!(
        created,
        GroupChange::Created {
            title: "Climbing 🧗".into()
        }
    );
    assert_eq!(text, "alice created the group \"Climbing 🧗\"");

    let with_carol = change(&mut a, add(group.id, &[&carol])).await.unwrap();
    assert_eq!(with_carol.members.len(), 3);
    assert_eq!(chat_push(&mut c).await.id, group.id);
    let (added, text) = line_push(&mut c).await;
    assert_eq!(text, "alice added carol");
    assert_eq!(line_push(&mut b).await.0, added);

    send(&mut b, group.id, "b-1", "hello all").await.unwrap();
    for client in [&mut a, &mut c] {
        heard(client, "hello all").await;
    }

    let renamed = change(
        &mut a,
        ClientEvent::GroupUpdate {
            chat_id: group.id,
            title: Some("Bouldering".into()),
            public: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(renamed.title.as_deref(), Some("Bouldering"));
    for client in [&mut b, &mut c] {
        assert_eq!(
            line_push(client).await.0,
            GroupChange::Renamed {
                title: "Bouldering".into()
            }
        );
    }

    // Bob, made an admin, removes carol: she hears of it, then nothing more from the group.
    change(&mut a, set_role(group.id, &bob, Role::Admin))
        .await
        .unwrap();
    for client in [&mut b, &mut c] {
        let (promoted, _) = line_push(client).await;
        assert!(matches!(
            promoted,
            GroupChange::RoleChanged {
                role: Role::Admin,
                ..
            }
        ));
    }
    let without_carol = change(&mut b, remove(group.id, &carol, false))
        .await
        .unwrap();
    assert_eq!(role_of(&without_carol, &carol), None);
    let (removed, text) = line_push(&mut c).await;
    assert!(matches!(
        removed,
        GroupChange::Removed { banned: false, .. }
    ));
    assert_eq!(text, "bob removed carol");
    send(&mut a, group.id, "a-1", "carol cannot read this")
        .await
        .unwrap();
    heard(&mut b, "carol cannot read this").await;
    // Carol's next frame is this marker: the message after her removal never came.
    let marker = open(&mut b, carol.user.id).await;
    assert!(
        matches!(c.stream_push().await, ServerEvent::ChatNew { chat, .. } if chat.id == marker.id)
    );

    assert_eq!(
        refusal(send(&mut c, group.id, "c-1", "still here?").await),
        (
            ErrorCode::Forbidden,
            Some(Refusal::NotMember { chat_id: group.id })
        )
    );
    // What she saw stays hers, by history and by sync, and nothing after it.
    let seen: Vec<String> = history(&mut c, group.id)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|m| m.body)
        .collect();
    assert_eq!(
        seen,
        vec![
            "alice added carol",
            "hello all",
            "alice renamed the group to \"Bouldering\"",
            "alice made bob an admin",
            "bob removed carol",
        ]
    );
    let Ok(Reply::Sync { events, .. }) = c.request(ClientEvent::Sync { epoch, after: pos }).await
    else {
        panic!("expected a sync reply")
    };
    let group_messages: Vec<String> = events
        .iter()
        .filter_map(|event| match event {
            ServerEvent::MessageNew { message, .. } if message.chat_id == group.id => {
                Some(message.body.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(group_messages, seen);
    assert_eq!(
        refusal(c.request(ClientEvent::ChatGet { chat_id: group.id }).await),
        (
            ErrorCode::Forbidden,
            Some(Refusal::NotMember { chat_id: group.id })
        )
    );
}

#[tokio::test]
async fn who_may_manage_a_group_is_checked_and_refusals_change_nothing() {
    let app = spawn_app().await;
    let mut all = people(&app, &["alice", "bob", "carol", "dan", "erin"]).await;
    let (erin, e) = all.pop().unwrap();
    let (dan, mut d) = all.pop().unwrap();
    let (carol, mut c) = all.pop().unwrap();
    let (bob, mut b) = all.pop().unwrap();
    let (alice, mut a) = all.pop().unwrap();
    let group = create(&mut a, "Team", &[&bob, &carol, &dan], false).await;
    change(&mut a, set_role(group.id, &bob, Role::Admin))
        .await
        .unwrap();
    let direct = open(&mut a, erin.user.id).await;
    for client in [&mut b, &mut c, &mut d] {
        chat_push(client).await;
        line_push(client).await;
        line_push(client).await;
    }
    let before = change(&mut a, ClientEvent::ChatGet { chat_id: group.id })
        .await
        .unwrap();

    let rename = |title: &str| ClientEvent::GroupUpdate {
        chat_id: group.id,
        title: Some(title.into()),
        public: None,
    };
    let not_member = Refusal::NotMember { chat_id: group.id };
    let not_a_group = Refusal::NotAGroup { chat_id: direct.id };
    let mut clients = [a, b, c, d, e];
    let [alice_, bob_, carol_, erin_] = [0, 1, 2, 4];
    let cases = [
        (carol_, rename("Mine"), Refusal::AdminsOnly),
        (carol_, add(group.id, &[&erin]), Refusal::AdminsOnly),
        (carol_, remove(group.id, &dan, false), Refusal::AdminsOnly),
        (
            carol_,
            ClientEvent::GroupBans { chat_id: group.id },
            Refusal::AdminsOnly,
        ),
        (
            carol_,
            ClientEvent::GroupDelete { chat_id: group.id },
            Refusal::OwnerOnly,
        ),
        (bob_, remove(group.id, &alice, false), Refusal::OwnerOnly),
        (
            bob_,
            set_role(group.id, &carol, Role::Admin),
            Refusal::OwnerOnly,
        ),
        (
            bob_,
            ClientEvent::GroupDelete { chat_id: group.id },
            Refusal::OwnerOnly,
        ),
        (
            alice_,
            set_role(group.id, &alice, Role::Member),
            Refusal::IsYou,
        ),
        (
            alice_,
            set_role(group.id, &bob, Role::Owner),
            Refusal::RoleNotAssignable,
        ),
        (alice_, remove(group.id, &alice, false), Refusal::IsYou),
        (
            alice_,
            remove(group.id, &erin, false),
            Refusal::NotInGroup {
                user_id: erin.user.id,
            },
        ),
        (
            alice_,
            add(group.id, &[&bob]),
            Refusal::AlreadyMember {
                user_id: bob.user.id,
            },
        ),
        (
            alice_,
            ClientEvent::GroupAdd {
                chat_id: group.id,
                user_ids: vec![UserId(999)],
            },
            Refusal::UnknownUser {
                user_id: UserId(999),
            },
        ),
        (alice_, add(group.id, &[]), Refusal::NothingToChange),
        (alice_, rename(" \u{200B} "), Refusal::GroupTitleBlank),
        (
            alice_,
            rename(&"x".repeat(101)),
            Refusal::GroupTitleTooLong { max_chars: 100 },
        ),
        (
            alice_,
            ClientEvent::GroupUpdate {
                chat_id: group.id,
                title: None,
                public: None,
            },
            Refusal::NothingToChange,
        ),
        (
            alice_,
            ClientEvent::GroupUpdate {
                chat_id: direct.id,
                title: Some("Us".into()),
                public: None,
            },
            not_a_group,
        ),
        (
            alice_,
            ClientEvent::ChatLeave { chat_id: direct.id },
            not_a_group,
        ),
        (erin_, rename("Outsider"), not_member),
        (erin_, add(group.id, &[&erin]), not_member),
        (
            erin_,
            ClientEvent::ChatLeave { chat_id: group.id },
            not_member,
        ),
        (
            erin_,
            ClientEvent::GroupBans { chat_id: group.id },
            not_member,
        ),
        (
            erin_,
            ClientEvent::ChatJoin { chat_id: group.id },
            Refusal::RoomNotFound { chat_id: group.id },
        ),
    ];
    for (who, event, kind) in cases {
        let described = format!("{event:?}");
        let refused = refusal(clients[who].request(event).await);
        assert_eq!(refused, (kind.code(), Some(kind)), "{described}");
    }
    let [mut a, mut b, mut c, mut d, mut e] = clients;
    assert!(
        history(&mut e, group.id).await.is_err(),
        "outsiders read nothing"
    );

    // Nothing changed, and nobody heard a thing: the marker is everyone's next push.
    let after = change(&mut a, ClientEvent::ChatGet { chat_id: group.id })
        .await
        .unwrap();
    assert_eq!(after, before);
    send(&mut a, group.id, "marker", "marker").await.unwrap();
    for client in [&mut b, &mut c, &mut d] {
        match client.stream_push().await {
            ServerEvent::MessageNew { message, .. } => assert_eq!(message.body, "marker"),
            other => panic!("expected only the marker, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_owner_who_leaves_hands_the_group_on_and_the_last_one_out_ends_it() {
    let app = spawn_app().await;
    let mut all = people(&app, &["alice", "bob", "carol"]).await;
    let (carol, mut c) = all.pop().unwrap();
    let (bob, mut b) = all.pop().unwrap();
    let (alice, mut a) = all.pop().unwrap();
    let group = create(&mut a, "Relay", &[&bob], true).await;
    change(&mut a, add(group.id, &[&carol])).await.unwrap();
    change(&mut a, set_role(group.id, &carol, Role::Admin))
        .await
        .unwrap();

    // The admin inherits, though bob has been there longer.
    assert_eq!(
        a.request(ClientEvent::ChatLeave { chat_id: group.id })
            .await,
        Ok(Reply::Left { chat_id: group.id })
    );
    let left = change(&mut b, ClientEvent::ChatGet { chat_id: group.id })
        .await
        .unwrap();
    assert_eq!(role_of(&left, &alice), None);
    assert_eq!(role_of(&left, &carol), Some(Role::Owner));
    let text = loop {
        let (change, text) = line_push(&mut b).await;
        if matches!(change, GroupChange::Left { .. }) {
            break text;
        }
    };
    assert_eq!(text, "alice left; carol owns the group now");

    c.request(ClientEvent::ChatLeave { chat_id: group.id })
        .await
        .unwrap();
    let left = change(&mut b, ClientEvent::ChatGet { chat_id: group.id })
        .await
        .unwrap();
    assert_eq!(
        role_of(&left, &bob),
        Some(Role::Owner),
        "then the longest-standing member"
    );
    assert_eq!(rooms(&mut a, None).await.len(), 1);

    b.request(ClientEvent::ChatLeave { chat_id: group.id })
        .await
        .unwrap();
    assert!(
        rooms(&mut a, None).await.is_empty(),
        "an empty group is gone"
    );
    assert_eq!(
        refusal(a.request(ClientEvent::ChatJoin { chat_id: group.id }).await).1,
        Some(Refusal::RoomNotFound { chat_id: group.id })
    );
}

#[tokio::test]
async fn public_rooms_are_listed_joined_left_and_banned_from() {
    let app = spawn_app().await;
    let mut all = people(&app, &["alice", "bob"]).await;
    let (bob, mut b) = all.pop().unwrap();
    let (_, mut a) = all.pop().unwrap();
    let room = create(&mut a, "Rust 100% fans", &[], true).await;
    let private = create(&mut a, "Secret", &[], false).await;
    for _ in [&room, &private] {
        line_push(&mut a).await;
    }

    let listed = rooms(&mut b, None).await;
    assert_eq!(
        listed,
        vec![Room {
            chat_id: room.id,
            title: "Rust 100% fans".into(),
            member_count: 1,
            joined: false,
        }]
    );
    assert_eq!(
        rooms(&mut b, Some("rUsT")).await.len(),
        1,
        "any letter case"
    );
    assert_eq!(rooms(&mut b, Some("100%")).await.len(), 1);
    assert!(
        rooms(&mut b, Some("0%x")).await.is_empty(),
        "% is a character"
    );
    assert!(rooms(&mut b, Some("secret")).await.is_empty());
    assert_eq!(
        refusal(
            b.request(ClientEvent::ChatJoin {
                chat_id: private.id
            })
            .await
        ),
        (
            ErrorCode::NotFound,
            Some(Refusal::RoomNotFound {
                chat_id: private.id
            })
        ),
        "a private group reads as no group at all"
    );

    let joined = change(&mut b, ClientEvent::ChatJoin { chat_id: room.id })
        .await
        .unwrap();
    assert_eq!(role_of(&joined, &bob), Some(Role::Member));
    assert_eq!(chat_push(&mut b).await.id, room.id);
    let (change_seen, text) = line_push(&mut a).await;
    assert_eq!(
        change_seen,
        GroupChange::Joined {
            user: bob.user.clone()
        }
    );
    assert_eq!(text, "bob joined");
    let listed = rooms(&mut b, None).await;
    assert_eq!((listed[0].member_count, listed[0].joined), (2, true));
    assert_eq!(
        refusal(b.request(ClientEvent::ChatJoin { chat_id: room.id }).await).1,
        Some(Refusal::AlreadyMember {
            user_id: bob.user.id
        })
    );

    change(&mut a, remove(room.id, &bob, true)).await.unwrap();
    assert_eq!(
        refusal(b.request(ClientEvent::ChatJoin { chat_id: room.id }).await),
        (
            ErrorCode::Forbidden,
            Some(Refusal::BannedFromRoom { chat_id: room.id })
        )
    );
    assert_eq!(
        a.request(ClientEvent::GroupBans { chat_id: room.id }).await,
        Ok(Reply::Bans {
            chat_id: room.id,
            users: vec![bob.user.clone()]
        })
    );
    assert_eq!(
        a.request(ClientEvent::GroupUnban {
            chat_id: room.id,
            user_id: bob.user.id
        })
        .await,
        Ok(Reply::Bans {
            chat_id: room.id,
            users: vec![]
        })
    );
    assert_eq!(
        refusal(
            a.request(ClientEvent::GroupUnban {
                chat_id: room.id,
                user_id: bob.user.id
            })
            .await
        )
        .1,
        Some(Refusal::NotBanned {
            user_id: bob.user.id
        })
    );
    change(&mut b, ClientEvent::ChatJoin { chat_id: room.id })
        .await
        .unwrap();
    assert_eq!(
        b.request(ClientEvent::ChatLeave { chat_id: room.id }).await,
        Ok(Reply::Left { chat_id: room.id })
    );

    // Made private, the room leaves the directory.
    change(
        &mut a,
        ClientEvent::GroupUpdate {
            chat_id: room.id,
            title: None,
            public: Some(false),
        },
    )
    .await
    .unwrap();
    assert!(rooms(&mut b, None).await.is_empty());
    assert_eq!(
        refusal(
            b.request(ClientEvent::RoomsList {
                query: Some("x".repeat(101)),
                before: None,
                limit: None
            })
            .await
        )
        .1,
        Some(Refusal::SearchTooLong { max_chars: 100 })
    );
}

#[tokio::test]
async fn deleting_a_group_erases_it_for_everyone() {
    let app = spawn_app().await;
    let mut all = people(&app, &["alice", "bob"]).await;
    let (bob, mut b) = all.pop().unwrap();
    let (_, mut a) = all.pop().unwrap();
    let ServerEvent::Ready { epoch, pos, .. } = app.connect(&bob).await.1 else {
        unreachable!()
    };
    let group = create(&mut a, "Short-lived", &[&bob], false).await;
    let sent = send(&mut a, group.id, "a-1", "soon gone").await.unwrap();
    let renamed = ClientEvent::GroupUpdate {
        chat_id: group.id,
        title: Some("Still short-lived".into()),
        public: None,
    };
    change(&mut a, renamed).await.unwrap();
    // Read after the rename line, which is no message to read: nothing is left unread.
    let Ok(Reply::Read { unread: 0, .. }) = b
        .request(ClientEvent::ChatRead {
            chat_id: group.id,
            message_id: sent.id,
        })
        .await
    else {
        panic!("read with nothing left unread")
    };
    assert_eq!(
        a.request(ClientEvent::GroupDelete { chat_id: group.id })
            .await,
        Ok(Reply::Left { chat_id: group.id })
    );
    let deleted = b
        .take_push(|event| matches!(event, ServerEvent::ChatDeleted { .. }))
        .await;
    assert!(matches!(deleted, ServerEvent::ChatDeleted { chat_id, .. } if chat_id == group.id));
    let not_member = Some(Refusal::NotMember { chat_id: group.id });
    assert_eq!(refusal(history(&mut b, group.id).await).1, not_member);
    assert_eq!(refusal(history(&mut a, group.id).await).1, not_member);
    assert_eq!(
        refusal(send(&mut b, group.id, "b-1", "hello?").await).1,
        not_member
    );
    // A sync across the deletion shows the messages erased, then the deletion.
    let Ok(Reply::Sync { events, .. }) = b.request(ClientEvent::Sync { epoch, after: pos }).await
    else {
        panic!("expected a sync reply")
    };
    let mut told = events.iter().filter_map(|event| match event {
        ServerEvent::MessageNew { message, .. } => {
            assert!(
                message.body.is_empty() && message.deleted_at.is_some(),
                "{message:?}"
            );
            // System lines stay system lines, without the titles written into them.
            if let Some(GroupChange::Created { title } | GroupChange::Renamed { title }) =
                &message.system
            {
                assert!(title.is_empty(), "{message:?}");
            }
            None
        }
        // A receipt replayed says what it said live.
        ServerEvent::Receipt { unread, .. } => {
            assert_eq!(*unread, 0);
            None
        }
        ServerEvent::ChatDeleted { chat_id, .. } => Some(*chat_id),
        _ => None,
    });
    assert_eq!(told.next(), Some(group.id));
    assert!(events.iter().any(|event| matches!(
        event,
        ServerEvent::MessageNew { message, .. } if message.system.is_some()
    )));
    assert!(events
        .iter()
        .any(|event| matches!(event, ServerEvent::Receipt { .. })));
}

#[tokio::test]
async fn a_group_holds_at_most_its_size_limit() {
    let app = spawn_app_with(&["--group-members-max", "3"]).await;
    let mut all = people(&app, &["alice", "bob", "carol", "dan"]).await;
    let (dan, mut d) = all.pop().unwrap();
    let (carol, _) = all.pop().unwrap();
    let (bob, _) = all.pop().unwrap();
    let (_, mut a) = all.pop().unwrap();
    let full = Some(Refusal::GroupFull { max: 3 });
    assert_eq!(
        refusal(
            change(
                &mut a,
                ClientEvent::GroupCreate {
                    title: "Four".into(),
                    members: vec![bob.user.id, carol.user.id, dan.user.id],
                    public: true,
                }
            )
            .await
        )
        .1,
        full
    );
    let group = create(&mut a, "Three", &[&bob, &carol], true).await;
    assert_eq!(
        refusal(change(&mut a, add(group.id, &[&dan])).await).1,
        full
    );
    assert_eq!(
        refusal(change(&mut d, ClientEvent::ChatJoin { chat_id: group.id }).await).1,
        full
    );
}

#[tokio::test]
async fn only_people_who_take_messages_from_you_can_be_added() {
    let app = spawn_app().await;
    let mut all = people(&app, &["alice", "bob", "carol"]).await;
    let (carol, mut c) = all.pop().unwrap();
    let (bob, mut b) = all.pop().unwrap();
    let (alice, mut a) = all.pop().unwrap();
    b.request(ClientEvent::SettingsUpdate {
        direct_messages: Some(MessagePolicy::Friends),
        friend_requests: None,
        presence_visibility: None,
    })
    .await
    .unwrap();
    let group = create(&mut a, "Invites", &[], false).await;
    let refused = Some(Refusal::AddNotAllowed {
        user_id: bob.user.id,
    });
    assert_eq!(
        refusal(change(&mut a, add(group.id, &[&bob])).await).1,
        refused
    );
    assert_eq!(
        refusal(
            change(
                &mut a,
                ClientEvent::GroupCreate {
                    title: "Again".into(),
                    members: vec![bob.user.id],
                    public: false
                }
            )
            .await
        )
        .1,
        refused
    );
    befriend(&mut a, alice.user.id, &mut b, bob.user.id).await;
    let added = change(&mut a, add(group.id, &[&bob])).await.unwrap();
    assert_eq!(role_of(&added, &bob), Some(Role::Member), "friends may");

    // Someone who blocked you cannot be added by you, and cannot tell you why.
    c.request(ClientEvent::UserBlock {
        user_id: alice.user.id,
    })
    .await
    .unwrap();
    assert_eq!(
        refusal(change(&mut a, add(group.id, &[&carol])).await),
        (
            ErrorCode::Forbidden,
            Some(Refusal::AddNotAllowed {
                user_id: carol.user.id
            })
        )
    );
}
