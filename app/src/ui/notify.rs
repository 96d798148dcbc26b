//! Browser notifications: asking leave once, and showing news while the page is out of sight.

use super::state::News;
use leptos::prelude::*;
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{Notification, NotificationOptions, NotificationPermission};

/// Whether this browser has notifications at all (some, such as Safari on a phone, do not): calling
/// into a missing API would throw.
fn notifications_exist() -> bool {
    js_sys::Reflect::has(&window(), &"Notification".into()).unwrap_or(false)
}

fn allowed() -> bool {
    notifications_exist() && Notification::permission() == NotificationPermission::Granted
}

/// Whether the browser may still be asked for leave to notify.
pub fn may_ask() -> bool {
    notifications_exist() && Notification::permission() == NotificationPermission::Default
}

/// Asks the browser, once, for leave to show notifications.
pub fn ask_to_notify() {
    if may_ask() {
        let _ = Notification::request_permission();
    }
}

/// Shows a browser notification that `name` is online, if the page may.
pub fn notify_arrival(name: &str) {
    if allowed() {
        let _ = Notification::new(&format!("{name} is online"));
    }
}

/// Shows a browser notification of a new message, if the page may; clicking it brings the page
/// back and runs `open` (which opens the chat).
pub fn notify_message(news: &News, open: impl FnOnce() + 'static) {
    if !allowed() {
        return;
    }
    let options = NotificationOptions::new();
    options.set_body(&news.text);
    // One notification per chat: a newer message replaces the one before.
    options.set_tag(&format!("natter-chat-{}", news.chat_id));
    if let Ok(notification) = Notification::new_with_options(&news.title, &options) {
        let on_click = Closure::once_into_js(move || {
            let _ = window().focus();
            open();
        });
        notification.set_onclick(Some(on_click.unchecked_ref()));
    }
}

/// Whether the page is out of sight (another tab, a minimised window).
pub fn page_hidden() -> bool {
    document().visibility_state() != web_sys::VisibilityState::Visible
}
