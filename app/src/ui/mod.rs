//! The Leptos UI: routes, pages and the client state behind them.

mod api;
mod auth;
mod chat;
mod groups;
mod notify;
mod people;
mod reactivity;
mod socket;
/// Public so the server's tests can run the browser's own model against the real server.
pub mod state;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path,
};

/// The app's pages. The server sends people without a session from the chat to the log-in page, and
/// people with one from the forms to the chat.
pub mod paths {
    pub const CHAT: &str = "/";
    pub const LOGIN: &str = "/login";
    pub const SIGNUP: &str = "/signup";
}

/// The HTML document the server renders around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Marks the page as live, so tests (and people's scripts) know the controls now work.
    Effect::new(|| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Stylesheet id="leptos" href="/pkg/natter.css"/>
        <Title text="Natter"/>
        <Router>
            <Routes fallback=|| view! { <main class="page"><h1>"Page not found"</h1></main> }>
                <Route path=path!("/") view=chat::ChatPage/>
                <Route path=path!("/login") view=auth::LoginPage/>
                <Route path=path!("/signup") view=auth::SignupPage/>
            </Routes>
        </Router>
    }
}
