//! Start, health, pages, restart and shutdown.

use crate::harness::{pair, spawn_app, Ended, Pair};
use app::protocol::{ClientEvent, Reply, ServerEvent};

#[tokio::test]
async fn health_and_pages_answer() {
    let app = spawn_app().await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));

    let page = app.http.get(app.url("/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Log in to Natter"), "{html}");
    assert!(html.contains("/pkg/natter.css"));
}

#[tokio::test]
async fn pages_send_people_where_their_session_fits() {
    let app = spawn_app().await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let location = |response: reqwest::Response| {
        assert_eq!(response.status(), 303);
        response.headers()["location"].to_str().unwrap().to_string()
    };
    let response = no_redirects.get(app.url("/")).send().await.unwrap();
    assert_eq!(location(response), "/login");

    let session = app.register("alice").await;
    let cookie = format!("natter_session={}", session.token);
    let chat = no_redirects
        .get(app.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 200);
    for form in ["/login", "/signup"] {
        let response = no_redirects
            .get(app.url(form))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(location(response), "/");
    }
}

#[tokio::test]
async fn messages_survive_a_restart() {
    let Pair { app, alice, bob } = pair().await;
    let (mut a, _) = app.connect(&alice).await;
    let Reply::Chat { chat } = a
        .request(ClientEvent::ChatOpen {
            user_id: bob.user.id,
        })
        .await
        .unwrap()
    else {
        panic!()
    };
    let send = ClientEvent::MessageSend {
        chat_id: chat.id,
        nonce: "before-restart".into(),
        body: "durable".into(),
    };
    let Reply::Message { message } = a.request(send.clone()).await.unwrap() else {
        panic!()
    };

    let app = app.restart().await;
    let (mut b, ready) = app.connect(&bob).await;
    let ServerEvent::Ready { chats, .. } = ready else {
        unreachable!()
    };
    assert_eq!(
        chats[0].last_message,
        Some(app::model::MessagePreview::of(&message))
    );
    let history = ClientEvent::MessageHistory {
        chat_id: chat.id,
        before: None,
        after: None,
        limit: None,
    };
    let Reply::History { messages, .. } = b.request(history).await.unwrap() else {
        panic!()
    };
    assert_eq!(messages, vec![message.clone()]);

    // A retry of the acknowledged send after the restart still yields the one stored copy.
    let (mut a, _) = app.connect(&alice).await;
    let Reply::Message { message: retried } = a.request(send).await.unwrap() else {
        panic!()
    };
    assert_eq!(retried, message);
}

#[tokio::test]
async fn shutdown_tells_open_sockets_the_server_is_going_away() {
    let mut app = spawn_app().await;
    let alice = app.register("alice").await;
    let (mut a, _) = app.connect(&alice).await;
    app.stop().await;
    assert_eq!(a.closed().await, Ended::Closed(Some(1001)));
}
