//! Natter's shared crate.
//!
//! - [`protocol`]: every type that crosses the socket or the HTTP API.
//! - [`model`]: the domain types those are made of, and the rules for user input.
//! - [`errors`]: the error shape both carry, and the refusals a client can react to.
//! - [`groups`]: who may do what in a group, asked by the server and by the browser's controls.
//! - [`ui`]: the Leptos app, rendered by the server (`ssr`) and hydrated in the browser (`hydrate`).

#![recursion_limit = "256"]

pub mod errors;
pub mod groups;
pub mod model;
pub mod protocol;
pub mod ui;

pub use ui::{shell, App};
