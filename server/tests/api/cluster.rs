//! Several nodes sharing one PostgreSQL database and one NATS server, each started by the test.

use crate::chat::{open, send};
use crate::harness::{befriend, spawn_app_on, Ended, TestApp};
use crate::proxy::{assert_over_the_cap_at_the_upgrade, connect_for};
use crate::services::{fresh_postgres_database, Nats, NodeProcess};
use app::model::{Status, UserId};
use app::protocol::{close_code, ServerEvent};
use std::time::Duration;

/// Three nodes of one cluster, on a database of their own.
struct Nodes {
    nodes: Vec<TestApp>,
    nats: Nats,
}

async fn three_nodes() -> Nodes {
    three_nodes_with(&[]).await
}

async fn three_nodes_with(flags: &[&str]) -> Nodes {
    let database = tokio::task::spawn_blocking(fresh_postgres_database)
        .await
        .unwrap();
    let nats = tokio::task::spawn_blocking(Nats::start).await.unwrap();
    let url = nats.url();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let mut all = vec!["--nats-url", &url];
        all.extend_from_slice(flags);
        nodes.push(spawn_app_on(database.clone(), &all).await);
    }
    Nodes { nodes, nats }
}

/// Runs `change` on the NATS server away from the runtime the nodes run on.
async fn with_nats(nats: Nats, change: fn(&mut Nats)) -> Nats {
    tokio::task::spawn_blocking(move || {
        let mut nats = nats;
        change(&mut nats);
        nats
    })
    .await
    .unwrap()
}

async fn health(node: &TestApp) -> String {
    let response = node.http.get(node.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// Waits (a few seconds at most) until `node`'s health starts with `expected`.
async fn health_becomes(node: &TestApp, expected: &str) {
    for _ in 0..100 {
        if health(node).await.starts_with(expected) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("health never became {expected:?}: {}", health(node).await);
}

#[tokio::test]
async fn people_on_different_nodes_chat_live_and_logout_reaches_every_node() {
    let Nodes { nodes, nats: _nats } = three_nodes().await;
    let alice = nodes[0].register("alice").await;
    let bob = nodes[1].register("bob").await;
    let (mut a, _) = nodes[0].connect(&alice).await;
    let (mut b, _) = nodes[1].connect(&bob).await;

    let chat = open(&mut a, bob.user.id).await;
    assert!(
        matches!(b.stream_push().await, ServerEvent::ChatNew { chat: c, .. } if c.id == chat.id)
    );
    let sent = send(&mut a, chat.id, "n1", "hello from node 0")
        .await
        .unwrap();
    match b.stream_push().await {
        ServerEvent::MessageNew { message, .. } => assert_eq!(message, sent),
        other => panic!("expected the message on node 1, got {other:?}"),
    }

    // Bob logs out through the third node: his socket on the second closes.
    assert_eq!(nodes[2].logout(&bob.token).await.status(), 204);
    assert_eq!(
        b.closed().await,
        Ended::Closed(Some(close_code::UNAUTHORIZED))
    );
}

#[tokio::test]
async fn delivery_goes_on_while_nats_is_down_and_after_it_is_back() {
    let Nodes { nodes, mut nats } = three_nodes().await;
    let alice = nodes[0].register("alice").await;
    let bob = nodes[1].register("bob").await;
    let (mut a, _) = nodes[0].connect(&alice).await;
    let (mut b, _) = nodes[1].connect(&bob).await;
    let chat = open(&mut a, bob.user.id).await;
    assert_eq!(health(&nodes[1]).await, "ok");

    let mut sent = Vec::new();
    for i in 0..60 {
        if i == 20 {
            nats = with_nats(nats, Nats::stop).await;
            health_becomes(&nodes[1], "degraded").await;
        }
        if i == 40 {
            nats = with_nats(nats, Nats::resume).await;
        }
        sent.push(
            send(&mut a, chat.id, &format!("n{i}"), "hi")
                .await
                .unwrap()
                .id,
        );
    }
    health_becomes(&nodes[1], "ok").await;

    let mut received = Vec::new();
    while received.len() < sent.len() {
        if let ServerEvent::MessageNew { seq, message, .. } = b.stream_push().await {
            received.push((seq, message.id));
        }
    }
    let expected: Vec<_> = (1..).zip(sent).collect();
    assert_eq!(received, expected, "every message once, in order");
    drop(nats);
}

/// The next presence push `client` gets: who, and whether online.
async fn status(client: &mut crate::harness::Client) -> (UserId, bool) {
    let person = client.presence_push().await;
    let online = person
        .presence
        .is_some_and(|presence| presence.status == Status::Online);
    (person.user.id, online)
}

#[tokio::test]
async fn presence_is_cluster_wide() {
    let Nodes { nodes, nats: _nats } = three_nodes().await;
    let alice = nodes[0].register("alice").await;
    let bob = nodes[1].register("bob").await;
    let (mut a, _) = nodes[0].connect(&alice).await;

    let (mut on_one, _) = nodes[1].connect(&bob).await;
    befriend(&mut a, alice.user.id, &mut on_one, bob.user.id).await;
    assert_eq!(status(&mut a).await, (bob.user.id, true));
    let (_, ready) = nodes[1].connect(&bob).await;
    let ServerEvent::Ready { people, .. } = ready else {
        unreachable!()
    };
    assert!(
        people.iter().any(|p| p.user.id == alice.user.id
            && p.presence.as_ref().map(|p| p.status) == Some(Status::Online)),
        "bob sees alice online on another node: {people:?}"
    );

    // Still connected on another node: leaving one is no goodbye.
    let (mut on_two, _) = nodes[2].connect(&bob).await;
    drop(on_one);
    on_two.close().await;
    assert_eq!(
        status(&mut a).await,
        (bob.user.id, false),
        "offline once the last one closed"
    );
}

#[tokio::test]
async fn the_users_of_a_node_that_stops_renewing_its_lease_go_offline() {
    let Nodes { nodes, nats: _nats } = three_nodes_with(&["--presence-lease-secs", "3"]).await;
    let alice = nodes[0].register("alice").await;
    let bob = nodes[1].register("bob").await;
    let (mut a, _) = nodes[0].connect(&alice).await;
    // A node that held bob and died without a word: its lease ran out a while ago.
    let database = sqlx::AnyPool::connect(&nodes[0].database_url)
        .await
        .unwrap();
    sqlx::query("INSERT INTO nodes (id, expires_at) VALUES ('gone', 0)")
        .execute(&database)
        .await
        .unwrap();
    sqlx::query("INSERT INTO presence (user_id, node_id) VALUES ($1, 'gone')")
        .bind(bob.user.id.0)
        .execute(&database)
        .await
        .unwrap();
    // Friends, so alice may see it.
    sqlx::query(
        "INSERT INTO contacts (user_id, other_id, relation, since)
         VALUES ($1, $2, 'friend', 0), ($2, $1, 'friend', 0)",
    )
    .bind(alice.user.id.0)
    .bind(bob.user.id.0)
    .execute(&database)
    .await
    .unwrap();
    // Within a renewal (a second) a live node reaps it and announces bob offline.
    assert_eq!(status(&mut a).await, (bob.user.id, false));
    let left = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM nodes WHERE id = 'gone'")
        .fetch_one(&database)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn login_limits_hold_for_the_cluster_as_a_whole() {
    let Nodes { nodes, nats: _nats } = three_nodes().await;
    nodes[0].register("alice").await;
    // Five wrong guesses, spread over the nodes, spend the account's budget everywhere.
    for guess in 0..5 {
        let node = &nodes[guess % 3];
        let response = node
            .post_credentials("/api/auth/login", "alice", "wrong password")
            .await;
        assert_eq!(response.status(), 401);
    }
    for node in &nodes {
        let response = node
            .post_credentials("/api/auth/login", "alice", "correct horse")
            .await;
        assert_eq!(response.status(), 429);
    }
}

#[tokio::test]
async fn connection_caps_hold_for_the_cluster_as_a_whole() {
    // Behind a load balancer, as `scripts/cluster.sh` runs them: the cap counts forwarded clients.
    let flags = [
        "--trusted-proxies",
        "127.0.0.1",
        "--max-connections-per-address",
        "4",
    ];
    let Nodes { nodes, nats: _nats } = three_nodes_with(&flags).await;
    let session = nodes[0].register("ada").await;
    let client = "203.0.113.7";
    let mut held = Vec::new();
    for node in [&nodes[0], &nodes[0], &nodes[1], &nodes[1]] {
        held.push(connect_for(node, &session, client).await.unwrap());
    }
    // Each node reports its counts every half second; until the third has heard, it may admit.
    let refused = async {
        loop {
            match connect_for(&nodes[2], &session, client).await {
                Ok(mut admitted) => {
                    admitted.close().await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                refused => return assert_over_the_cap_at_the_upgrade(refused),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), refused)
        .await
        .expect("the third node learns of the sockets on the others");
    assert!(connect_for(&nodes[2], &session, "198.51.100.4")
        .await
        .is_ok());

    held[0].close().await;
    let freed = async {
        loop {
            if let Ok(socket) = connect_for(&nodes[2], &session, client).await {
                return socket;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), freed)
        .await
        .expect("a socket closed on one node frees a place on another");
}

/// Sends until `count` messages are acknowledged or the connection dies; the acknowledged ids.
async fn storm(
    mut client: crate::harness::Client,
    chat: app::model::ChatId,
    tag: &'static str,
    count: usize,
) -> Vec<app::model::MessageId> {
    let mut acknowledged = Vec::new();
    for i in 0..count {
        let send = app::protocol::ClientEvent::MessageSend {
            chat_id: chat,
            nonce: format!("{tag}-{i}"),
            body: format!("{tag} {i}"),
        };
        match client.try_request(send).await {
            Some(Ok(app::protocol::Reply::Message { message })) => acknowledged.push(message.id),
            Some(other) => panic!("send refused: {other:?}"),
            None => break,
        }
    }
    acknowledged
}

#[tokio::test]
async fn a_node_killed_mid_storm_loses_no_acknowledged_message() {
    const EACH: usize = 150;
    let database = tokio::task::spawn_blocking(fresh_postgres_database)
        .await
        .unwrap();
    let nats = tokio::task::spawn_blocking(Nats::start).await.unwrap();
    let (db, url) = (database.clone(), nats.url());
    let mut processes = tokio::task::spawn_blocking(move || {
        (0..3)
            .map(|_| NodeProcess::start(&db, &url))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let nodes: Vec<TestApp> = processes
        .iter()
        .map(|process| TestApp::attached(process.addr, database.clone()))
        .collect();
    let alice = nodes[0].register("alice").await;
    let bob = nodes[1].register("bob").await;
    let (mut b, _) = nodes[1].connect(&bob).await;
    let (mut a0, _) = nodes[0].connect(&alice).await;
    let chat = open(&mut a0, bob.user.id).await;
    let (a2, _) = nodes[2].connect(&alice).await;

    let survivor = tokio::spawn(storm(a0, chat.id, "node0", EACH));
    let doomed = tokio::spawn(storm(a2, chat.id, "node2", EACH));
    // Let the storm run a little, then kill the node under one of the senders.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut doomed_node = processes.pop().unwrap();
    tokio::task::spawn_blocking(move || doomed_node.kill())
        .await
        .unwrap();
    let mut acknowledged = survivor.await.unwrap();
    let cut_short = doomed.await.unwrap();
    assert!(cut_short.len() < EACH, "the kill came mid-storm");
    assert_eq!(acknowledged.len(), EACH);
    acknowledged.extend(cut_short);

    // The database holds every acknowledged message; bob, on a live node, gets everything the
    // database holds (an unacknowledged send may have been stored too) exactly once, in order.
    let mut stored = Vec::new();
    let mut before = None;
    loop {
        let page = b
            .request(app::protocol::ClientEvent::MessageHistory {
                chat_id: chat.id,
                before,
                after: None,
                limit: Some(100),
            })
            .await
            .unwrap();
        let app::protocol::Reply::History {
            messages, has_more, ..
        } = page
        else {
            panic!("not history")
        };
        before = messages.last().map(|m| m.id);
        stored.extend(messages.into_iter().map(|m| m.id));
        if !has_more {
            break;
        }
    }
    for id in &acknowledged {
        assert!(stored.contains(id), "acknowledged message {id} is stored");
    }
    let mut received = Vec::new();
    while received.len() < stored.len() {
        if let ServerEvent::MessageNew { seq, message, .. } = b.stream_push().await {
            received.push((seq, message.id));
        }
    }
    let seqs: Vec<_> = received.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(
        seqs,
        (1..=stored.len() as i64).collect::<Vec<_>>(),
        "once each, in order"
    );
    let mut ids: Vec<_> = received.into_iter().map(|(_, id)| id).collect();
    ids.sort();
    stored.sort();
    assert_eq!(ids, stored);
    drop(nats);
}
