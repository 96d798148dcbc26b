//! Natter's server. `main.rs` only parses the [`config::Config`] and runs the [`startup::Application`].

// Rendering the app's pages nests its view types deeply (each keyed list and component adds a layer).
#![recursion_limit = "256"]

pub mod auth;
pub mod client_address;
pub mod cluster;
pub mod config;
pub mod connection_counts;
pub mod db;
pub mod error;
pub mod hub;
pub mod media;
pub mod pages;
pub mod password;
pub mod presence;
pub mod relations;
pub mod relay;
pub mod routes;
pub mod security;
pub mod serve;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod throttle;
pub mod typing;
pub mod visibility;
pub mod ws;

/// Milliseconds since the Unix epoch, the unit of every stored time.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}
