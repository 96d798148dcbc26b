//! Integration tests: the real router on port 0, a temporary SQLite file, tokio-tungstenite clients.
//! One test binary, so the server crate links once.

mod accounts;
mod chat;
mod harness;
mod http;
mod lifecycle;
mod socket;
