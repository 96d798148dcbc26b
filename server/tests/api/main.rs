//! Integration tests: the real router on port 0, tokio-tungstenite clients, and a temporary SQLite
//! file, or with `NATTER_TEST_DATABASE=postgres` a PostgreSQL cluster of the tests' own
//! (`services`). One test binary, so the server crate links once.

mod accounts;
mod chat;
mod cluster;
mod edits;
mod faults;
mod groups;
mod harness;
mod http;
mod lifecycle;
mod media;
mod people;
mod presence;
mod proxy;
mod reads;
mod services;
mod socket;
mod storage;
mod typing;
mod waits;
