//! Several nodes sharing one PostgreSQL database and one NATS server, each started by the test.

use crate::chat::{open, send};
use crate::harness::{spawn_app_on, Ended, TestApp};
use crate::services::{fresh_postgres_database, Nats};
use app::protocol::{close_code, ServerEvent};

/// Three nodes of one cluster, on a database of their own.
struct Nodes {
    nodes: Vec<TestApp>,
    nats: Nats,
}

async fn three_nodes() -> Nodes {
    let database = tokio::task::spawn_blocking(fresh_postgres_database)
        .await
        .unwrap();
    let nats = tokio::task::spawn_blocking(Nats::start).await.unwrap();
    let url = nats.url();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(spawn_app_on(database.clone(), &["--nats-url", &url]).await);
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
