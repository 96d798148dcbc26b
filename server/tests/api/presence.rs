//! Presence: who sees whom come and go, modes and status text, invisibility, and the visibility
//! setting, including what people not allowed to see learn (nothing).

use crate::chat::{open, send};
use crate::harness::{befriend, pair, Client, Pair};
use app::model::{MyStatus, Person, Presence, PresenceMode, Status, UserId, Visibility};
use app::protocol::{ClientEvent, ErrorCode, Refusal, Reply, ServerEvent};

async fn set_status(client: &mut Client, mode: PresenceMode, text: &str) -> MyStatus {
    match client
        .request(ClientEvent::StatusSet {
            mode,
            text: text.into(),
        })
        .await
    {
        Ok(Reply::Status { status }) => status,
        other => panic!("expected status, got {other:?}"),
    }
}

async fn set_visibility(client: &mut Client, visibility: Visibility) {
    let reply = client
        .request(ClientEvent::SettingsUpdate {
            direct_messages: None,
            friend_requests: None,
            presence_visibility: Some(visibility),
        })
        .await;
    assert!(matches!(reply, Ok(Reply::Settings { .. })), "{reply:?}");
}

/// `user` as `people` shows them.
fn find(people: &[Person], user: UserId) -> Option<Presence> {
    people
        .iter()
        .find(|person| person.user.id == user)
        .unwrap_or_else(|| panic!("{user} is not listed: {people:?}"))
        .presence
        .clone()
}

async fn listed(client: &mut Client, user: UserId) -> Option<Presence> {
    match client
        .request(ClientEvent::UsersList {
            after: None,
            limit: None,
        })
        .await
    {
        Ok(Reply::People { people, .. }) => {
            let entry = people.into_iter().find(|entry| entry.user.id == user);
            entry
                .unwrap_or_else(|| panic!("{user} is not listed"))
                .presence
        }
        other => panic!("expected people, got {other:?}"),
    }
}

fn status_of(person: &Person) -> Option<Status> {
    person.presence.as_ref().map(|presence| presence.status)
}

/// The next push `client` gets is `marker`'s message: nothing of presence came before it.
async fn next_is_message(client: &mut Client, marker: &app::model::Message) {
    match client.push().await {
        ServerEvent::MessageNew { message, .. } => assert_eq!(&message, marker),
        other => panic!("expected only the marker message, got {other:?}"),
    }
}

#[tokio::test]
async fn friends_see_each_other_come_and_go_and_strangers_learn_nothing() {
    let Pair { app, alice, bob } = pair().await;
    let carol = app.register("carol").await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    befriend(&mut a, alice.user.id, &mut b, bob.user.id).await;
    let bob_seen = a.presence_push().await;
    assert_eq!(
        (bob_seen.user.id, status_of(&bob_seen)),
        (bob.user.id, Some(Status::Online)),
        "becoming friends shows each the other"
    );
    assert_eq!(status_of(&b.presence_push().await), Some(Status::Online));

    // Carol has a chat with bob, but bob shows his presence to friends only.
    let (mut c, _) = app.connect(&carol).await;
    let chat = open(&mut c, bob.user.id).await;
    c.stream_push().await;
    assert_eq!(listed(&mut c, bob.user.id).await, None);

    let before_leaving = server::now_ms();
    drop(b);
    let gone = a.presence_push().await.presence.expect("shown");
    assert_eq!(gone.status, Status::Offline);
    assert!(gone.last_seen.is_some_and(|seen| seen >= before_leaving));
    assert_eq!(gone.text, None);

    let (mut b, ready) = app.connect(&bob).await;
    assert_eq!(status_of(&a.presence_push().await), Some(Status::Online));
    let ServerEvent::Ready { people, .. } = ready else {
        unreachable!()
    };
    assert_eq!(
        find(&people, alice.user.id).map(|p| p.status),
        Some(Status::Online),
        "ready shows the friends' presence"
    );
    assert_eq!(find(&people, carol.user.id), None, "and not a stranger's");
    let marker = send(&mut b, chat.id, "marker", "hi carol").await.unwrap();
    next_is_message(&mut c, &marker).await;
    let ServerEvent::Ready { people, .. } = app.connect(&carol).await.1 else {
        unreachable!()
    };
    assert_eq!(find(&people, bob.user.id), None);
}

#[tokio::test]
async fn a_mode_and_status_text_reach_friends_and_outlive_the_connection() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    let (mut b_phone, _) = app.connect(&bob).await;
    befriend(&mut a, alice.user.id, &mut b, bob.user.id).await;
    a.presence_push().await;

    let status = set_status(&mut b, PresenceMode::Busy, "  in a meeting 📅 ").await;
    assert_eq!(
        status,
        MyStatus {
            mode: PresenceMode::Busy,
            text: Some("in a meeting 📅".into())
        }
    );
    let seen = a.presence_push().await.presence.expect("shown");
    assert_eq!(
        (seen.status, seen.text.as_deref()),
        (Status::Busy, Some("in a meeting 📅"))
    );
    let on_the_phone = b_phone
        .take_push(|event| matches!(event, ServerEvent::StatusChanged { .. }))
        .await;
    assert!(
        matches!(&on_the_phone, ServerEvent::StatusChanged { status: pushed, .. } if *pushed == status),
        "bob's other device hears of it: {on_the_phone:?}"
    );

    // Refused: nothing changes.
    let too_long = b
        .request(ClientEvent::StatusSet {
            mode: PresenceMode::Away,
            text: "x".repeat(101),
        })
        .await
        .unwrap_err();
    assert_eq!(too_long.code, ErrorCode::TooLarge);
    assert_eq!(
        too_long.refusal,
        Some(Refusal::StatusTextTooLong { max_chars: 100 })
    );

    drop((b, b_phone));
    assert_eq!(status_of(&a.presence_push().await), Some(Status::Offline));
    let (_, ready) = app.connect(&bob).await;
    let ServerEvent::Ready {
        status: kept,
        user_seq,
        ..
    } = ready
    else {
        unreachable!()
    };
    assert_eq!(kept, status, "a reconnect keeps the mode and text set");
    let seen = a.presence_push().await.presence.expect("shown");
    assert_eq!(seen.status, Status::Busy);

    // Setting the same again changes nothing and logs nothing.
    let (mut b, _) = app.connect(&bob).await;
    set_status(&mut b, PresenceMode::Busy, "in a meeting 📅").await;
    let ServerEvent::Ready { user_seq: now, .. } = app.connect(&bob).await.1 else {
        unreachable!()
    };
    assert_eq!(now, user_seq);
}

#[tokio::test]
async fn invisible_looks_offline_to_everyone() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    befriend(&mut a, alice.user.id, &mut b, bob.user.id).await;
    a.presence_push().await;
    set_visibility(&mut b, Visibility::Everyone).await;
    // Told again at the new version: her view of him did not change.
    assert_eq!(status_of(&a.presence_push().await), Some(Status::Online));
    let chat = open(&mut a, bob.user.id).await;

    set_status(&mut b, PresenceMode::Invisible, "secret").await;
    let hidden = a.presence_push().await.presence.expect("shown");
    assert_eq!(
        hidden,
        Presence {
            status: Status::Offline,
            text: None,
            last_seen: hidden.last_seen,
        }
    );
    assert!(hidden.last_seen.is_some(), "as if bob had just left");
    assert_eq!(listed(&mut a, bob.user.id).await, Some(hidden.clone()));

    // Coming and going while invisible shows nothing at all.
    drop(b);
    let (mut b, _) = app.connect(&bob).await;
    let marker = send(&mut b, chat.id, "marker", "boo").await.unwrap();
    loop {
        match a.push().await {
            ServerEvent::ChatNew { .. } => continue,
            ServerEvent::MessageNew { message, .. } => {
                assert_eq!(message, marker);
                break;
            }
            other => panic!("expected only the marker message, got {other:?}"),
        }
    }
    assert_eq!(listed(&mut a, bob.user.id).await, Some(hidden));

    set_status(&mut b, PresenceMode::Online, "").await;
    assert_eq!(status_of(&a.presence_push().await), Some(Status::Online));
}

#[tokio::test]
async fn the_visibility_setting_decides_who_sees_and_tells_those_who_lose_the_view() {
    let Pair { app, alice, bob } = pair().await;
    let carol = app.register("carol").await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    let (mut c, _) = app.connect(&carol).await;
    befriend(&mut a, alice.user.id, &mut b, bob.user.id).await;
    a.presence_push().await;
    let chat = open(&mut c, bob.user.id).await;
    c.stream_push().await;

    // Nobody: even friends lose the view, last seen included.
    set_visibility(&mut b, Visibility::Nobody).await;
    let revoked = a.presence_push().await;
    assert_eq!((revoked.user.id, revoked.presence), (bob.user.id, None));
    assert_eq!(listed(&mut a, bob.user.id).await, None);
    drop(b);
    let (mut b, _) = app.connect(&bob).await;
    assert_eq!(listed(&mut a, bob.user.id).await, None);

    // Everyone: the friend and carol, who has a chat with bob, see him again.
    set_visibility(&mut b, Visibility::Everyone).await;
    assert_eq!(status_of(&a.presence_push().await), Some(Status::Online));
    assert_eq!(status_of(&c.presence_push().await), Some(Status::Online));
    assert_eq!(
        listed(&mut c, bob.user.id).await.map(|p| p.status),
        Some(Status::Online)
    );

    // Back to friends: carol loses it (and hears nothing more); alice, a friend, keeps it.
    set_visibility(&mut b, Visibility::Friends).await;
    assert_eq!(c.presence_push().await.presence, None);
    assert_eq!(status_of(&a.presence_push().await), Some(Status::Online));
    drop(b);
    assert_eq!(status_of(&a.presence_push().await), Some(Status::Offline));
    let (mut b, _) = app.connect(&bob).await;
    let marker = send(&mut b, chat.id, "marker", "still here").await.unwrap();
    next_is_message(&mut c, &marker).await;
}

#[tokio::test]
async fn a_block_hides_presence_both_ways_and_is_not_announced() {
    let Pair { app, alice, bob } = pair().await;
    let carol = app.register("carol").await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    let (mut c, _) = app.connect(&carol).await;
    for (client, session) in [(&mut a, &alice), (&mut b, &bob)] {
        set_visibility(client, Visibility::Everyone).await;
        // Carol has a chat with each, so both are known to her.
        open(&mut c, session.user.id).await;
    }
    assert!(listed(&mut a, bob.user.id).await.is_some());

    let reply = b
        .request(ClientEvent::UserBlock {
            user_id: alice.user.id,
        })
        .await;
    assert!(matches!(reply, Ok(Reply::Contact { .. })), "{reply:?}");
    let hidden = b.presence_push().await;
    assert_eq!(
        (hidden.user.id, hidden.presence),
        (alice.user.id, None),
        "the blocker no longer sees the blocked"
    );
    assert_eq!(listed(&mut a, bob.user.id).await, None);
    assert_eq!(listed(&mut b, alice.user.id).await, None);

    // Alice, who shared no chat with bob, was told nothing: no presence or contact push comes
    // before carol's message.
    let chat = open(&mut c, alice.user.id).await;
    let marker = send(&mut c, chat.id, "marker", "hi").await.unwrap();
    loop {
        match a.push().await {
            ServerEvent::MessageNew { message, .. } => {
                assert_eq!(message, marker);
                break;
            }
            told @ (ServerEvent::UserStatus { .. } | ServerEvent::ContactChanged { .. }) => {
                panic!("the block was announced to alice: {told:?}")
            }
            _ => continue,
        }
    }

    // Nor is the unblock.
    let reply = b
        .request(ClientEvent::UserUnblock {
            user_id: alice.user.id,
        })
        .await;
    assert!(reply.is_ok(), "{reply:?}");
    let marker = send(&mut c, chat.id, "marker-2", "hi again").await.unwrap();
    match a.push().await {
        ServerEvent::MessageNew { message, .. } => assert_eq!(message, marker),
        other => panic!("the unblock was announced to alice: {other:?}"),
    }
}
