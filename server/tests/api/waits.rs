//! Waiting for someone to come online (`user:wait`): one notice, to every device, once.

use crate::chat::{open, send};
use crate::harness::{befriend, pair, Client, Pair};
use app::model::{PresenceMode, Status, User, UserId, Visibility};
use app::protocol::{ApiError, ClientEvent, ErrorCode, Refusal, Reply, ServerEvent};

async fn wait_for(client: &mut Client, user: UserId) -> Result<Vec<User>, ApiError> {
    match client
        .request(ClientEvent::UserWait { user_id: user })
        .await?
    {
        Reply::Waiting { waiting } => Ok(waiting),
        other => panic!("expected waiting, got {other:?}"),
    }
}

/// The next `user:arrived` pushed to `client`, leaving other pushes queued.
async fn arrival(client: &mut Client) -> User {
    match client
        .take_push(|event| matches!(event, ServerEvent::UserArrived { .. }))
        .await
    {
        ServerEvent::UserArrived { user, .. } => user,
        _ => unreachable!(),
    }
}

/// Reads presence pushes until `client`, who may see `user`'s presence, sees them with `status`.
async fn until_status(client: &mut Client, user: UserId, status: Status) {
    loop {
        let person = client.presence_push().await;
        if person.user.id == user && person.presence.is_some_and(|p| p.status == status) {
            return;
        }
    }
}

/// Asserts `client` was told of no arrival before `marker`, a message sent to it afterwards.
async fn no_arrival_before(client: &mut Client, marker: &app::model::Message) {
    loop {
        match client.stream_push().await {
            ServerEvent::MessageNew { message, .. } if &message == marker => return,
            ServerEvent::UserArrived { user, .. } => panic!("{user:?} was announced"),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn a_wait_ends_with_one_notice_on_every_device() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut a_phone, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    befriend(&mut a, alice.user.id, &mut b, bob.user.id).await;
    let chat = open(&mut b, alice.user.id).await;
    drop(b);
    until_status(&mut a, bob.user.id, Status::Offline).await;

    assert_eq!(
        wait_for(&mut a, bob.user.id).await.unwrap(),
        vec![bob.user.clone()]
    );
    let on_phone = a_phone
        .take_push(|event| matches!(event, ServerEvent::WaitingChanged { .. }))
        .await;
    assert!(
        matches!(&on_phone, ServerEvent::WaitingChanged { waiting, .. } if waiting == &vec![bob.user.clone()]),
        "{on_phone:?}"
    );
    let refused = wait_for(&mut a, bob.user.id).await.unwrap_err();
    assert_eq!(
        (refused.code, refused.refusal),
        (ErrorCode::Conflict, Some(Refusal::AlreadyWaiting))
    );

    let (b, _) = app.connect(&bob).await;
    assert_eq!(arrival(&mut a).await, bob.user);
    assert_eq!(arrival(&mut a_phone).await, bob.user);
    let ServerEvent::Ready { waiting, .. } = app.connect(&alice).await.1 else {
        unreachable!()
    };
    assert!(waiting.is_empty(), "the wait is over");

    // Bob leaves and comes back: nobody waits any more, so nothing is said.
    drop(b);
    until_status(&mut a, bob.user.id, Status::Offline).await;
    let (mut b, _) = app.connect(&bob).await;
    let marker = send(&mut b, chat.id, "marker", "back").await.unwrap();
    no_arrival_before(&mut a, &marker).await;
}

#[tokio::test]
async fn a_wait_outlives_a_restart_and_fires_once() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    befriend(&mut a, alice.user.id, &mut b, bob.user.id).await;
    drop(b);
    until_status(&mut a, bob.user.id, Status::Offline).await;
    wait_for(&mut a, bob.user.id).await.unwrap();
    drop(a);

    let app = app.restart().await;
    let (mut a, ready) = app.connect(&alice).await;
    let ServerEvent::Ready { waiting, .. } = ready else {
        unreachable!()
    };
    assert_eq!(waiting, vec![bob.user.clone()], "kept across the restart");
    let (b, _) = app.connect(&bob).await;
    assert_eq!(arrival(&mut a).await, bob.user);
    drop(b);
    until_status(&mut a, bob.user.id, Status::Offline).await;
    let (mut b, _) = app.connect(&bob).await;
    let chat = open(&mut b, alice.user.id).await;
    let marker = send(&mut b, chat.id, "marker", "hello").await.unwrap();
    no_arrival_before(&mut a, &marker).await;
}

#[tokio::test]
async fn only_people_whose_presence_one_may_see_can_be_waited_for() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;

    for (user, code, kind) in [
        (alice.user.id, ErrorCode::Invalid, Refusal::IsYou),
        (
            UserId(999),
            ErrorCode::NotFound,
            Refusal::UnknownUser {
                user_id: UserId(999),
            },
        ),
        // A stranger, who shows their presence to friends only.
        (
            bob.user.id,
            ErrorCode::Forbidden,
            Refusal::PresenceHidden {
                user_id: bob.user.id,
            },
        ),
    ] {
        let refused = wait_for(&mut a, user).await.unwrap_err();
        assert_eq!((refused.code, refused.refusal), (code, Some(kind)));
    }
    let not_waiting = a
        .request(ClientEvent::UserStopWaiting {
            user_id: bob.user.id,
        })
        .await
        .unwrap_err();
    assert_eq!(not_waiting.refusal, Some(Refusal::NotWaiting));

    // Shown to everyone: alice may wait, and stop.
    let reply = b
        .request(ClientEvent::SettingsUpdate {
            direct_messages: None,
            friend_requests: None,
            presence_visibility: Some(Visibility::Everyone),
        })
        .await;
    assert!(reply.is_ok(), "{reply:?}");
    wait_for(&mut a, bob.user.id).await.unwrap();
    let stopped = a
        .request(ClientEvent::UserStopWaiting {
            user_id: bob.user.id,
        })
        .await;
    assert!(matches!(stopped, Ok(Reply::Waiting { ref waiting }) if waiting.is_empty()));
}

#[tokio::test]
async fn a_blocked_persons_wait_never_fires() {
    let Pair { app, alice, bob } = pair().await;
    let carol = app.register("carol").await;
    let (mut b, _) = app.connect(&bob).await;
    let (mut c, _) = app.connect(&carol).await;
    // Carol, bob's friend, sees him come and go: how this test knows he did.
    befriend(&mut b, bob.user.id, &mut c, carol.user.id).await;
    c.presence_push().await;
    let reply = b
        .request(ClientEvent::SettingsUpdate {
            direct_messages: None,
            friend_requests: None,
            presence_visibility: Some(Visibility::Everyone),
        })
        .await;
    assert!(reply.is_ok(), "{reply:?}");

    let (mut a, _) = app.connect(&alice).await;
    wait_for(&mut a, bob.user.id).await.unwrap();
    let blocked = b
        .request(ClientEvent::UserBlock {
            user_id: alice.user.id,
        })
        .await;
    assert!(blocked.is_ok(), "{blocked:?}");
    drop(b);
    until_status(&mut c, bob.user.id, Status::Offline).await;
    let (_b, _) = app.connect(&bob).await;
    until_status(&mut c, bob.user.id, Status::Online).await;

    let chat = open(&mut c, alice.user.id).await;
    let marker = send(&mut c, chat.id, "marker", "hi alice").await.unwrap();
    no_arrival_before(&mut a, &marker).await;
    let ServerEvent::Ready { waiting, .. } = app.connect(&alice).await.1 else {
        unreachable!()
    };
    assert_eq!(
        waiting,
        vec![bob.user],
        "the wait stays, and never fires while blocked"
    );
}

#[tokio::test]
async fn coming_out_of_invisible_is_an_arrival() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let (mut b, _) = app.connect(&bob).await;
    befriend(&mut a, alice.user.id, &mut b, bob.user.id).await;
    let invisible = b
        .request(ClientEvent::StatusSet {
            mode: PresenceMode::Invisible,
            text: String::new(),
        })
        .await;
    assert!(invisible.is_ok(), "{invisible:?}");
    until_status(&mut a, bob.user.id, Status::Offline).await;
    wait_for(&mut a, bob.user.id).await.unwrap();
    let online = b
        .request(ClientEvent::StatusSet {
            mode: PresenceMode::Online,
            text: String::new(),
        })
        .await;
    assert!(online.is_ok(), "{online:?}");
    assert_eq!(arrival(&mut a).await, bob.user);
}
