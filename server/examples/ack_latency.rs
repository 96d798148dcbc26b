//! How long a sender waits for each acknowledgement: two new people chat, one sends messages one after
//! another (the next once the last is acknowledged), and the figures are printed.
//!
//!     cargo run -p server --release --example ack_latency -- [base URL] [messages]
//!
//! The URL defaults to http://127.0.0.1:3000 (a server started by `scripts/run.sh`), the count to 200.
//! The server must allow two registrations from this address.

use app::model::ChatId;
use app::protocol::{ClientEvent, Credentials, Request, Session};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue, Message};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:3000".into());
    let count: usize = args.next().map_or(200, |n| n.parse().expect("a count"));
    let http = reqwest::Client::new();
    let tag = std::process::id();
    let sender = register(&http, &base, &format!("ack{tag}a")).await;
    let receiver = register(&http, &base, &format!("ack{tag}b")).await;

    let mut socket = connect(&base, &sender).await;
    let mut next_id = 0;
    let opened = request(
        &mut socket,
        &mut next_id,
        ClientEvent::ChatOpen {
            user_id: receiver.user.id,
        },
    )
    .await;
    let chat_id = ChatId(opened["chat"]["id"].as_i64().expect("a chat"));
    let mut waits = Vec::with_capacity(count);
    for n in 0..count {
        let started = Instant::now();
        let event = ClientEvent::MessageSend {
            chat_id,
            nonce: format!("ack-{n}"),
            body: format!("message {n}"),
        };
        request(&mut socket, &mut next_id, event).await;
        waits.push(started.elapsed());
    }
    waits.sort();
    let at = |quantile: f64| waits[((waits.len() - 1) as f64 * quantile) as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "acks: {count}  min {:.2} ms  median {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        ms(waits[0]),
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(waits[waits.len() - 1]),
    );
}

async fn register(http: &reqwest::Client, base: &str, username: &str) -> Session {
    let response = http
        .post(format!("{base}/api/auth/register"))
        .json(&Credentials {
            username: username.into(),
            password: "benchmark password".into(),
        })
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 201, "registering {username}");
    response.json().await.expect("a session")
}

async fn connect(base: &str, session: &Session) -> Socket {
    let url = base.replacen("http", "ws", 1) + "/ws";
    let mut request = url.into_client_request().expect("a WebSocket URL");
    let bearer = HeaderValue::from_str(&format!("Bearer {}", session.token)).expect("a token");
    request.headers_mut().insert("authorization", bearer);
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the socket opens");
    socket
}

/// Sends `event` and reads frames until its reply, skipping pushes; returns the reply's `result`. Frames
/// are read as plain JSON, so the measurement also runs against servers of earlier versions.
async fn request(socket: &mut Socket, next_id: &mut u64, event: ClientEvent) -> Value {
    *next_id += 1;
    let id = *next_id;
    let frame = serde_json::to_string(&Request { id, event }).expect("a request");
    socket
        .send(Message::Text(frame.into()))
        .await
        .expect("sent");
    loop {
        let text = match socket.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            ended => panic!("the socket ended: {ended:?}"),
        };
        let mut frame: Value = serde_json::from_str(text.as_str()).expect("a JSON frame");
        if frame["id"].as_u64() != Some(id) {
            continue;
        }
        match frame["type"].as_str() {
            Some("reply") => return frame["result"].take(),
            _ => panic!("refused: {}", frame["error"]),
        }
    }
}
