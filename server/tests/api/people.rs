//! Friends, blocking and the settings that say who may reach whom.

use crate::chat::{open, send};
use crate::harness::{pair, spawn_app_with, Client, Pair};
use app::model::{Contact, MessagePolicy, Relation, RequestPolicy, Settings, UserId, Visibility};
use app::protocol::{ApiError, ClientEvent, ErrorCode, Refusal, Reply, ServerEvent, Session};

/// `event`'s reply: the user's relation to someone afterwards.
async fn change(client: &mut Client, event: ClientEvent) -> Result<Contact, ApiError> {
    match client.request(event).await? {
        Reply::Contact { contact } => Ok(contact),
        other => panic!("expected a contact, got {other:?}"),
    }
}

fn request(to: &Session) -> ClientEvent {
    ClientEvent::FriendRequest {
        user_id: Some(to.user.id),
        username: None,
    }
}

async fn contacts(client: &mut Client) -> Vec<Contact> {
    match client.request(ClientEvent::ContactsList).await {
        Ok(Reply::Contacts { contacts }) => contacts,
        other => panic!("expected contacts, got {other:?}"),
    }
}

/// The relation `contacts` has with `user`: none when it holds no entry.
fn relation_with(contacts: &[Contact], user: UserId) -> Relation {
    contacts
        .iter()
        .find(|contact| contact.user.id == user)
        .map_or(Relation::None, |contact| contact.relation)
}

async fn contact_push(client: &mut Client) -> Contact {
    client.contact_push().await
}

async fn befriend(a: &mut Client, b: &mut Client, b_session: &Session, a_session: &Session) {
    crate::harness::befriend(a, a_session.user.id, b, b_session.user.id).await;
}

async fn set(
    client: &mut Client,
    direct_messages: Option<MessagePolicy>,
    friend_requests: Option<RequestPolicy>,
) -> Settings {
    match client
        .request(ClientEvent::SettingsUpdate {
            direct_messages,
            friend_requests,
            presence_visibility: None,
        })
        .await
    {
        Ok(Reply::Settings { settings }) => settings,
        other => panic!("expected settings, got {other:?}"),
    }
}

#[tokio::test]
async fn a_friend_request_is_seen_live_and_accepted() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut a_phone, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;

    let sent = change(
        &mut a,
        ClientEvent::FriendRequest {
            user_id: None,
            username: Some("BOB".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (sent.user.id, sent.relation),
        (bob.user.id, Relation::RequestSent)
    );
    let received = contact_push(&mut b).await;
    assert_eq!(
        (received.user, received.relation),
        (alice.user.clone(), Relation::RequestReceived)
    );
    assert_eq!(
        contact_push(&mut a_phone).await,
        sent,
        "alice's other device hears too"
    );
    assert_eq!(
        contact_push(&mut a).await,
        sent,
        "and so does the one that asked"
    );

    let accepted = change(
        &mut b,
        ClientEvent::FriendAccept {
            user_id: alice.user.id,
        },
    )
    .await
    .unwrap();
    assert_eq!(accepted.relation, Relation::Friend);
    assert_eq!(contact_push(&mut a).await.relation, Relation::Friend);
    assert_eq!(contact_push(&mut b).await.relation, Relation::Friend);
    assert_eq!(
        relation_with(&contacts(&mut a).await, bob.user.id),
        Relation::Friend
    );
    assert_eq!(
        relation_with(&contacts(&mut b).await, alice.user.id),
        Relation::Friend
    );

    // Either side may end it.
    let ended = change(
        &mut a,
        ClientEvent::FriendRemove {
            user_id: bob.user.id,
        },
    )
    .await
    .unwrap();
    assert_eq!(ended.relation, Relation::None);
    assert_eq!(contact_push(&mut b).await.relation, Relation::None);
    assert!(contacts(&mut b).await.is_empty());
}

#[tokio::test]
async fn requests_can_be_cancelled_rejected_and_cross_into_a_friendship() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;

    change(&mut a, request(&bob)).await.unwrap();
    let cancelled = change(
        &mut a,
        ClientEvent::FriendCancel {
            user_id: bob.user.id,
        },
    )
    .await
    .unwrap();
    assert_eq!(cancelled.relation, Relation::None);
    assert_eq!(
        contact_push(&mut b).await.relation,
        Relation::RequestReceived
    );
    assert_eq!(contact_push(&mut b).await.relation, Relation::None);

    change(&mut a, request(&bob)).await.unwrap();
    change(
        &mut b,
        ClientEvent::FriendReject {
            user_id: alice.user.id,
        },
    )
    .await
    .unwrap();
    assert!(
        contacts(&mut a).await.is_empty(),
        "a rejected request is gone"
    );

    // Both ask: the second request is the answer to the first.
    change(&mut a, request(&bob)).await.unwrap();
    let crossed = change(&mut b, request(&alice)).await.unwrap();
    assert_eq!(crossed.relation, Relation::Friend);
    assert_eq!(
        relation_with(&contacts(&mut a).await, bob.user.id),
        Relation::Friend
    );
}

#[tokio::test]
async fn refused_changes_write_nothing_and_push_nothing() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, ready) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    let ServerEvent::Ready {
        epoch,
        pos,
        user_seq,
        ..
    } = ready
    else {
        unreachable!()
    };
    change(&mut a, request(&bob)).await.unwrap();
    contact_push(&mut b).await;

    let refusal = |result: Result<Contact, ApiError>| {
        let error = result.expect_err("refused");
        (error.code, error.refusal)
    };
    let cases = [
        (request(&alice), ErrorCode::Invalid, Refusal::IsYou),
        (
            request(&bob),
            ErrorCode::Conflict,
            Refusal::AlreadyRequested,
        ),
        (
            ClientEvent::FriendRequest {
                user_id: Some(UserId(999)),
                username: None,
            },
            ErrorCode::NotFound,
            Refusal::UnknownUser {
                user_id: UserId(999),
            },
        ),
        (
            ClientEvent::FriendRequest {
                user_id: None,
                username: Some("nobody-here".into()),
            },
            ErrorCode::NotFound,
            Refusal::UnknownUsername,
        ),
        (
            ClientEvent::FriendRequest {
                user_id: Some(bob.user.id),
                username: Some("bob".into()),
            },
            ErrorCode::Invalid,
            Refusal::PersonUnnamed,
        ),
        (
            ClientEvent::FriendAccept {
                user_id: bob.user.id,
            },
            ErrorCode::NotFound,
            Refusal::NoFriendRequest,
        ),
        (
            ClientEvent::FriendRemove {
                user_id: bob.user.id,
            },
            ErrorCode::NotFound,
            Refusal::NotFriends,
        ),
        (
            ClientEvent::UserUnblock {
                user_id: bob.user.id,
            },
            ErrorCode::NotFound,
            Refusal::NotBlocked,
        ),
    ];
    for (event, code, kind) in cases {
        let described = format!("{event:?}");
        assert_eq!(
            refusal(change(&mut a, event).await),
            (code, Some(kind)),
            "{described}"
        );
    }
    assert_eq!(
        refusal(
            change(
                &mut b,
                ClientEvent::FriendCancel {
                    user_id: alice.user.id
                }
            )
            .await
        ),
        (ErrorCode::NotFound, Some(Refusal::NoFriendRequest)),
        "only the sender cancels"
    );

    // Nothing was logged for alice but her one request, and nothing changed.
    let Ok(Reply::Sync { events, .. }) = a.request(ClientEvent::Sync { epoch, after: pos }).await
    else {
        panic!("expected a sync reply")
    };
    let seqs: Vec<_> = events
        .iter()
        .map(|event| match event {
            ServerEvent::ContactChanged { seq, .. } => *seq,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(seqs, vec![user_seq + 1]);
    assert_eq!(
        relation_with(&contacts(&mut b).await, alice.user.id),
        Relation::RequestReceived
    );
    // Bob's next frame is the marker below: the refusals pushed him nothing at all.
    change(
        &mut a,
        ClientEvent::FriendCancel {
            user_id: bob.user.id,
        },
    )
    .await
    .unwrap();
    match b.push().await {
        ServerEvent::ContactChanged { contact, .. } => assert_eq!(contact.relation, Relation::None),
        other => panic!("expected only the marker, got {other:?}"),
    }
}

#[tokio::test]
async fn someone_offline_finds_their_requests_on_return() {
    let Pair { app, alice, bob } = pair().await;
    let (_, bob_before) = app.connect(&bob).await;
    let ServerEvent::Ready { epoch, pos, .. } = bob_before else {
        unreachable!()
    };
    let (mut a, _) = app.connect(&alice).await;
    change(&mut a, request(&bob)).await.unwrap();

    let (mut b, ready) = app.connect(&bob).await;
    let ServerEvent::Ready { contacts, .. } = ready else {
        unreachable!()
    };
    assert_eq!(
        relation_with(&contacts, alice.user.id),
        Relation::RequestReceived
    );
    let Ok(Reply::Sync { events, .. }) = b.request(ClientEvent::Sync { epoch, after: pos }).await
    else {
        panic!("expected a sync reply")
    };
    assert!(
        matches!(&events[..], [ServerEvent::ContactChanged { contact, .. }]
            if contact.user == alice.user && contact.relation == Relation::RequestReceived),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_block_ends_the_friendship_and_stops_requests_and_messages() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    befriend(&mut a, &mut b, &bob, &alice).await;
    let chat = open(&mut a, bob.user.id).await;
    send(&mut a, chat.id, "before", "hi").await.unwrap();

    let blocked = change(
        &mut b,
        ClientEvent::UserBlock {
            user_id: alice.user.id,
        },
    )
    .await
    .unwrap();
    assert_eq!(blocked.relation, Relation::Blocked);
    assert_eq!(
        contact_push(&mut a).await.relation,
        Relation::None,
        "to alice it reads as the friendship ending"
    );

    let refused_request = change(&mut a, request(&bob)).await.unwrap_err();
    assert_eq!(refused_request.code, ErrorCode::Forbidden);
    assert_eq!(
        refused_request.refusal,
        Some(Refusal::RequestsNotAllowed {
            user_id: bob.user.id
        })
    );
    let refused_message = send(&mut a, chat.id, "after", "hello?").await.unwrap_err();
    assert_eq!(refused_message.code, ErrorCode::Forbidden);
    assert_eq!(
        refused_message.refusal,
        Some(Refusal::MessagesNotAllowed {
            user_id: bob.user.id
        })
    );
    assert_eq!(
        open(&mut a, bob.user.id).await.id,
        chat.id,
        "the chat and its history stay open"
    );
    let own = send(&mut b, chat.id, "b-after", "bye").await.unwrap_err();
    assert_eq!(
        own.refusal,
        Some(Refusal::YouBlocked {
            user_id: alice.user.id
        })
    );

    change(
        &mut b,
        ClientEvent::UserUnblock {
            user_id: alice.user.id,
        },
    )
    .await
    .unwrap();
    send(&mut a, chat.id, "after-2", "hello again")
        .await
        .unwrap();
    assert_eq!(
        relation_with(&contacts(&mut a).await, bob.user.id),
        Relation::None,
        "unblocking does not restore the friendship"
    );
}

#[tokio::test]
async fn a_block_reads_the_same_as_not_being_allowed() {
    let Pair { app, alice, bob } = pair().await;
    let carol = app.register("carol").await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    let (mut c, _) = app.connect(&carol).await;

    // Bob blocks alice, a stranger to him: she is told nothing.
    change(
        &mut b,
        ClientEvent::UserBlock {
            user_id: alice.user.id,
        },
    )
    .await
    .unwrap();
    // Carol takes neither requests nor messages from strangers.
    let settings = set(
        &mut c,
        Some(MessagePolicy::Friends),
        Some(RequestPolicy::Nobody),
    )
    .await;
    assert_eq!(
        settings,
        Settings {
            direct_messages: MessagePolicy::Friends,
            friend_requests: RequestPolicy::Nobody,
            presence_visibility: Visibility::Friends,
        }
    );

    let without_id = |mut error: ApiError| {
        error.refusal = error.refusal.map(|refusal| match refusal {
            Refusal::RequestsNotAllowed { .. } => {
                Refusal::RequestsNotAllowed { user_id: UserId(0) }
            }
            Refusal::MessagesNotAllowed { .. } => {
                Refusal::MessagesNotAllowed { user_id: UserId(0) }
            }
            other => other,
        });
        error
    };
    let to_blocker = change(&mut a, request(&bob)).await.unwrap_err();
    let to_unwilling = change(&mut a, request(&carol)).await.unwrap_err();
    assert_eq!(without_id(to_blocker), without_id(to_unwilling));

    let open_blocker = a
        .request(ClientEvent::ChatOpen {
            user_id: bob.user.id,
        })
        .await
        .unwrap_err();
    let open_unwilling = a
        .request(ClientEvent::ChatOpen {
            user_id: carol.user.id,
        })
        .await
        .unwrap_err();
    assert_eq!(open_blocker.code, ErrorCode::Forbidden);
    assert_eq!(without_id(open_blocker), without_id(open_unwilling));

    // Alice's first frame since connecting is this marker: the block announced nothing.
    change(
        &mut b,
        ClientEvent::UserUnblock {
            user_id: alice.user.id,
        },
    )
    .await
    .unwrap();
    change(&mut b, request(&alice)).await.unwrap();
    match a.push().await {
        ServerEvent::ContactChanged { contact, .. } => {
            assert_eq!(contact.relation, Relation::RequestReceived)
        }
        other => panic!("expected only the marker, got {other:?}"),
    }
}

#[tokio::test]
async fn friends_only_messages_let_friends_through() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    let (mut b_phone, _) = app.connect(&bob).await;
    let chat = open(&mut a, bob.user.id).await;

    set(&mut b, Some(MessagePolicy::Friends), None).await;
    match b_phone.stream_push().await {
        ServerEvent::ChatNew { .. } => {}
        other => panic!("expected chat:new, got {other:?}"),
    }
    match b_phone.stream_push().await {
        ServerEvent::SettingsChanged { settings, .. } => {
            assert_eq!(settings.direct_messages, MessagePolicy::Friends)
        }
        other => panic!("expected settings:changed, got {other:?}"),
    }
    let refused = send(&mut a, chat.id, "n1", "hi").await.unwrap_err();
    assert_eq!(
        refused.message,
        "They are not taking direct messages from you."
    );

    befriend(&mut a, &mut b, &bob, &alice).await;
    send(&mut a, chat.id, "n2", "hi, friend").await.unwrap();

    // The setting outlives the connection, and setting it again changes nothing.
    let (mut b_again, ready) = app.connect(&bob).await;
    let ServerEvent::Ready {
        settings, user_seq, ..
    } = ready
    else {
        unreachable!()
    };
    assert_eq!(settings.direct_messages, MessagePolicy::Friends);
    set(&mut b_again, Some(MessagePolicy::Friends), None).await;
    let (_, ready) = app.connect(&bob).await;
    let ServerEvent::Ready {
        user_seq: after, ..
    } = ready
    else {
        unreachable!()
    };
    assert_eq!(after, user_seq, "an unchanged setting logs nothing");
}

/// One page of `users:search` (or `users:list` without a query), as (username, relation, presence
/// shown) triples, and whether more follow.
async fn search(
    client: &mut Client,
    query: Option<&str>,
    after: Option<&str>,
    limit: Option<u32>,
) -> Result<(Vec<(String, Relation, bool)>, bool), ApiError> {
    let after = after.map(str::to_string);
    let event = match query {
        Some(query) => ClientEvent::UsersSearch {
            query: query.into(),
            after,
            limit,
        },
        None => ClientEvent::UsersList { after, limit },
    };
    match client.request(event).await? {
        Reply::People { people, has_more } => Ok((
            people
                .into_iter()
                .map(|entry| {
                    (
                        entry.user.username,
                        entry.relation,
                        entry.presence.is_some(),
                    )
                })
                .collect(),
            has_more,
        )),
        other => panic!("expected people, got {other:?}"),
    }
}

#[tokio::test]
async fn the_directory_finds_people_by_the_start_of_their_name_page_by_page() {
    let app = spawn_app_with(&["--registrations-per-hour", "100"]).await;
    let alice = app.register("alice").await;
    let mut sessions = Vec::new();
    for name in ["Anna", "anne", "annie", "Anton", "bob"] {
        sessions.push(app.register(name).await);
    }
    let (mut a, _) = app.connect(&alice).await;
    let (mut anne, _) = app.connect(&sessions[1]).await;
    befriend(&mut a, &mut anne, &sessions[1], &alice).await;
    change(&mut a, request(&sessions[2])).await.unwrap();
    change(
        &mut a,
        ClientEvent::UserBlock {
            user_id: sessions[3].user.id,
        },
    )
    .await
    .unwrap();

    let (first, more) = search(&mut a, Some("ANN"), None, Some(2)).await.unwrap();
    assert_eq!(
        first,
        vec![
            ("Anna".to_string(), Relation::None, false),
            ("anne".to_string(), Relation::Friend, true),
        ]
    );
    assert!(more);
    let (rest, more) = search(&mut a, Some("ANN"), Some("anne"), Some(2))
        .await
        .unwrap();
    assert_eq!(
        rest,
        vec![("annie".to_string(), Relation::RequestSent, false)]
    );
    assert!(!more);

    let (everyone, more) = search(&mut a, None, None, None).await.unwrap();
    let listed: Vec<_> = everyone
        .iter()
        .map(|(name, relation, _)| (name.as_str(), *relation))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("Anna", Relation::None),
            ("anne", Relation::Friend),
            ("annie", Relation::RequestSent),
            ("Anton", Relation::Blocked),
            ("bob", Relation::None),
        ],
        "everyone but the one asking, by name in any case"
    );
    assert!(!more);
    assert!(search(&mut a, Some("zed"), None, None)
        .await
        .unwrap()
        .0
        .is_empty());

    // Anton, blocked, finds alice like anyone else does: no relation, no presence.
    let (mut anton, _) = app.connect(&sessions[3]).await;
    let (found, _) = search(&mut anton, Some("al"), None, None).await.unwrap();
    assert_eq!(found, vec![("alice".to_string(), Relation::None, false)]);

    for (query, limit, kind) in [
        (Some(" "), None, Refusal::SearchQueryBlank),
        (None, Some(0), Refusal::LimitOutOfRange { max: 50 }),
        (Some("a b"), None, Refusal::SearchQueryInvalid),
        (Some("a\u{0}"), None, Refusal::SearchQueryInvalid),
        (Some("a"), Some(51), Refusal::LimitOutOfRange { max: 50 }),
    ] {
        let refused = search(&mut a, query, None, limit).await.unwrap_err();
        assert_eq!(
            (refused.code, refused.refusal),
            (ErrorCode::Invalid, Some(kind))
        );
    }
}

#[tokio::test]
async fn two_requests_crossing_at_once_make_one_friendship() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    let (from_alice, from_bob) = tokio::join!(
        change(&mut a, request(&bob)),
        change(&mut b, request(&alice))
    );
    let mut outcomes = vec![from_alice.unwrap().relation, from_bob.unwrap().relation];
    outcomes.sort_by_key(|relation| relation.as_str());
    assert_eq!(outcomes, vec![Relation::Friend, Relation::RequestSent]);
    assert_eq!(
        relation_with(&contacts(&mut a).await, bob.user.id),
        Relation::Friend
    );
    assert_eq!(
        relation_with(&contacts(&mut b).await, alice.user.id),
        Relation::Friend
    );
}
