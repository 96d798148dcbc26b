//! `spawn_app()` and clients that speak the protocol.

use crate::services::{fresh_postgres_database, test_database, TestDatabase};
use app::model::{Contact, Person, Relation, UserId};
use app::protocol::{ApiError, ClientEvent, Credentials, Reply, Request, ServerEvent, Session};
use clap::Parser;
use futures::{SinkExt, StreamExt};
use server::{config::Config, startup::Application};
use std::{collections::VecDeque, net::SocketAddr, path::Path, time::Duration};
use tokio::{net::TcpStream, task::JoinHandle};
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, http::HeaderValue, protocol::CloseFrame, Message},
    MaybeTlsStream, WebSocketStream,
};
use tokio_util::sync::CancellationToken;

/// How long a test waits for a frame it expects.
const PATIENCE: Duration = Duration::from_secs(10);

pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    /// Where its data lives: the SQLite file in `data_dir`, or a PostgreSQL database of its own.
    pub database_url: String,
    shutdown: CancellationToken,
    server: Option<JoinHandle<std::io::Result<()>>>,
    // Dropped last: the database lives here.
    pub data_dir: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// An app started with these extra flags.
pub async fn spawn_app_with(flags: &[&str]) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let database_url = match test_database() {
        TestDatabase::Sqlite => format!("sqlite://{}/natter.db", path_str(data_dir.path())),
        TestDatabase::Postgres => tokio::task::spawn_blocking(fresh_postgres_database)
            .await
            .expect("a database"),
    };
    start(data_dir, database_url, flags).await
}

/// An app on the database at `database_url`, one the test started itself, with these extra flags.
pub async fn spawn_app_on(database_url: String, flags: &[&str]) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temporary directory");
    start(data_dir, database_url, flags).await
}

/// A running app with two registered people, alice and bob.
pub struct Pair {
    pub app: TestApp,
    pub alice: Session,
    pub bob: Session,
}

pub async fn pair() -> Pair {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    Pair { app, alice, bob }
}

async fn start(data_dir: tempfile::TempDir, database_url: String, flags: &[&str]) -> TestApp {
    server::telemetry::init("warn");
    let mut args = vec![
        "natter",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        path_str(data_dir.path()),
        "--database-url",
        &database_url,
    ];
    args.extend_from_slice(flags);
    let config = Config::parse_from(args);
    let app = Application::build(config).await.expect("the app starts");
    let addr = app.local_addr();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        http: reqwest::Client::new(),
        database_url,
        shutdown,
        server: Some(server),
        data_dir,
    }
}

impl TestApp {
    /// A client of a server running elsewhere (a `NodeProcess`) at `addr`.
    pub fn attached(addr: SocketAddr, database_url: String) -> TestApp {
        TestApp {
            addr,
            http: reqwest::Client::new(),
            database_url,
            shutdown: CancellationToken::new(),
            server: None,
            data_dir: tempfile::tempdir().expect("temporary directory"),
        }
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temporary path")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server gracefully and waits until it has.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }

    /// Stops this server and starts a new one on the same data.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let data_dir = std::mem::replace(&mut self.data_dir, tempfile::tempdir().unwrap());
        start(data_dir, self.database_url.clone(), &[]).await
    }

    pub async fn post_credentials(
        &self,
        path: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        self.post_credentials_from(&self.http, path, username, password)
            .await
    }

    /// `post_credentials` from a client of the test's own (one that keeps cookies, say).
    pub async fn post_credentials_from(
        &self,
        client: &reqwest::Client,
        path: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        client
            .post(self.url(path))
            .json(&Credentials {
                username: username.into(),
                password: password.into(),
            })
            .send()
            .await
            .expect("request sent")
    }

    pub async fn logout(&self, token: &str) -> reqwest::Response {
        self.http
            .post(self.url("/api/auth/logout"))
            .bearer_auth(token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("request sent")
    }

    /// Registers `username` (password "correct horse") and returns the session.
    pub async fn register(&self, username: &str) -> Session {
        let response = self
            .post_credentials("/api/auth/register", username, "correct horse")
            .await;
        assert_eq!(response.status(), 201, "registering {username}");
        response.json().await.expect("a session")
    }

    /// Opens a socket with a Bearer token and reads its `ready`.
    pub async fn connect(&self, session: &Session) -> (Client, ServerEvent) {
        let mut client = self
            .try_connect(&[("authorization", format!("Bearer {}", session.token))])
            .await
            .expect("handshake accepted");
        let ready = client.next_event().await;
        assert!(
            matches!(ready, ServerEvent::Ready { .. }),
            "first frame is ready: {ready:?}"
        );
        (client, ready)
    }

    /// Like `connect`, over a TCP connection whose receive buffer is only `bytes` large, as a client
    /// on a slow link has.
    pub async fn connect_with_receive_buffer(&self, session: &Session, bytes: u32) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(bytes).unwrap();
        self.handshake(socket, session)
            .await
            .expect("handshake accepted")
    }

    /// Like `connect`, from the local address `from` (any of 127.0.0.0/8), or the refusal.
    pub async fn try_connect_from(
        &self,
        session: &Session,
        from: &str,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::new(from.parse().unwrap(), 0))
            .unwrap();
        self.handshake(socket, session).await
    }

    /// Opens a socket with a Bearer token over `socket` and reads its `ready`.
    async fn handshake(
        &self,
        socket: tokio::net::TcpSocket,
        session: &Session,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let stream = socket.connect(self.addr).await.expect("connected");
        let mut request = format!("ws://{}/ws", self.addr)
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {}", session.token)).unwrap(),
        );
        let (ws, _) =
            tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream)).await?;
        let mut client = Client {
            ws,
            next_id: 0,
            pushes: VecDeque::new(),
        };
        assert!(matches!(
            client.next_event().await,
            ServerEvent::Ready { .. }
        ));
        Ok(client)
    }

    pub async fn try_connect(
        &self,
        headers: &[(&'static str, String)],
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let mut request = format!("ws://{}/ws", self.addr)
            .into_client_request()
            .unwrap();
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, HeaderValue::from_str(value).unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Client {
            ws,
            next_id: 0,
            pushes: VecDeque::new(),
        })
    }
}

/// Makes the people on connections `a` (user `a_id`) and `b` (`b_id`) friends: `a` asks, `b`
/// accepts. Takes the `contact:changed` pushes that causes; presence pushes stay queued.
pub async fn befriend(a: &mut Client, a_id: UserId, b: &mut Client, b_id: UserId) {
    let asked = a
        .request(ClientEvent::FriendRequest {
            user_id: Some(b_id),
            username: None,
        })
        .await;
    assert!(matches!(asked, Ok(Reply::Contact { .. })), "{asked:?}");
    let accepted = b.request(ClientEvent::FriendAccept { user_id: a_id }).await;
    assert!(
        matches!(accepted, Ok(Reply::Contact { .. })),
        "{accepted:?}"
    );
    for client in [a, b] {
        client.contact_push().await;
        assert_eq!(client.contact_push().await.relation, Relation::Friend);
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Pushes read while waiting for a reply, kept in order for `push()`.
    pushes: VecDeque<ServerEvent>,
}

/// How a connection ended, as the client saw it.
#[derive(Debug, PartialEq)]
pub enum Ended {
    Closed(Option<u16>),
    Dropped,
}

impl Client {
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::Text(text.into().into()))
            .await
            .expect("frame sent");
    }

    /// The next protocol frame, skipping control frames. Panics on close or timeout.
    pub async fn next_event(&mut self) -> ServerEvent {
        self.try_next_event().await.expect("the socket is open")
    }

    /// The next protocol frame, or `None` once the connection is gone. Panics on timeout.
    pub async fn try_next_event(&mut self) -> Option<ServerEvent> {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame within the patience window");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(text.as_str()).expect("a valid server event"))
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Like `request`, but `None` once the connection is gone (its server died, say).
    pub async fn try_request(&mut self, event: ClientEvent) -> Option<Result<Reply, ApiError>> {
        self.next_id += 1;
        let id = self.next_id;
        let frame = serde_json::to_string(&Request { id, event }).unwrap();
        self.ws.send(Message::Text(frame.into())).await.ok()?;
        loop {
            match self.try_next_event().await? {
                ServerEvent::Reply { id: got, result } if got == id => return Some(Ok(result)),
                ServerEvent::Error {
                    id: Some(got),
                    error,
                } if got == id => return Some(Err(error)),
                push => self.pushes.push_back(push),
            }
        }
    }

    /// Sends `event` and waits for the answer naming it, keeping pushes that arrive meanwhile.
    pub async fn request(&mut self, event: ClientEvent) -> Result<Reply, ApiError> {
        self.next_id += 1;
        let id = self.next_id;
        let frame = serde_json::to_string(&Request { id, event }).unwrap();
        self.send_text(frame).await;
        self.answer(id).await
    }

    pub async fn answer(&mut self, id: u64) -> Result<Reply, ApiError> {
        loop {
            match self.next_event().await {
                ServerEvent::Reply { id: got, result } if got == id => return Ok(result),
                ServerEvent::Error {
                    id: Some(got),
                    error,
                } if got == id => return Err(error),
                push => self.pushes.push_back(push),
            }
        }
    }

    /// The next push (a frame that answers no request).
    pub async fn push(&mut self) -> ServerEvent {
        match self.pushes.pop_front() {
            Some(push) => push,
            None => self.next_event().await,
        }
    }

    /// The next push `wanted` accepts, leaving the others queued in the order they came.
    pub async fn take_push(&mut self, wanted: impl Fn(&ServerEvent) -> bool) -> ServerEvent {
        if let Some(at) = self.pushes.iter().position(&wanted) {
            return self.pushes.remove(at).expect("a queued push");
        }
        loop {
            let event = self.next_event().await;
            if wanted(&event) {
                return event;
            }
            self.pushes.push_back(event);
        }
    }

    /// The next `user:status` push, leaving the others queued.
    pub async fn presence_push(&mut self) -> Person {
        match self
            .take_push(|event| matches!(event, ServerEvent::UserStatus { .. }))
            .await
        {
            ServerEvent::UserStatus { person } => person,
            _ => unreachable!(),
        }
    }

    /// The next `contact:changed` push, leaving the others queued.
    pub async fn contact_push(&mut self) -> Contact {
        match self
            .take_push(|event| matches!(event, ServerEvent::ContactChanged { .. }))
            .await
        {
            ServerEvent::ContactChanged { contact, .. } => contact,
            _ => unreachable!(),
        }
    }

    /// The next push other than presence updates.
    pub async fn stream_push(&mut self) -> ServerEvent {
        loop {
            let push = self.push().await;
            if !matches!(push, ServerEvent::UserStatus { .. }) {
                return push;
            }
        }
    }

    /// Sends a text frame whose payload is not UTF-8, as only a broken client would.
    pub async fn send_invalid_utf8(&mut self) {
        use tokio_tungstenite::tungstenite::protocol::frame::{
            coding::{Data, OpCode},
            Frame,
        };
        let frame = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
        self.ws
            .send(Message::Frame(frame))
            .await
            .expect("frame sent");
    }

    /// Starts the closing handshake with a normal close (1000).
    pub async fn close(&mut self) {
        let frame = CloseFrame {
            code: 1000.into(),
            reason: "bye".into(),
        };
        self.ws
            .send(Message::Close(Some(frame)))
            .await
            .expect("close sent");
    }

    /// Reads until the server closes the connection and returns the close code.
    pub async fn closed(&mut self) -> Ended {
        loop {
            match tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("closed within the patience window")
            {
                Some(Ok(Message::Close(frame))) => {
                    return Ended::Closed(frame.map(|f: CloseFrame| u16::from(f.code)))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Ended::Dropped,
            }
        }
    }
}
