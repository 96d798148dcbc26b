//! Sign-up and log-in pages.

use super::{api, paths};
use crate::model::{validate_password, validate_username};
use crate::protocol::Credentials;
use leptos::{ev::SubmitEvent, prelude::*};

#[component]
pub fn LoginPage() -> impl IntoView {
    view! { <AuthForm register=false/> }
}

#[component]
pub fn SignupPage() -> impl IntoView {
    view! { <AuthForm register=true/> }
}

#[component]
fn AuthForm(register: bool) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let (title, action, other_page, other_label) = if register {
        (
            "Create your Natter account",
            "Sign up",
            paths::LOGIN,
            "I have an account: log in",
        )
    } else {
        (
            "Log in to Natter",
            "Log in",
            paths::SIGNUP,
            "New here? Sign up",
        )
    };

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let credentials = Credentials {
            username: username.get_untracked().trim().to_string(),
            password: password.get_untracked(),
        };
        // The server checks the same rules; checking here too saves a round trip.
        if register {
            if let Err(problem) = validate_username(&credentials.username)
                .and_then(|()| validate_password(&credentials.password))
            {
                error.set(Some(problem.to_string()));
                return;
            }
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::authenticate(register, &credentials).await {
                Ok(_) => {
                    let _ = window().location().set_href(paths::CHAT);
                }
                Err(problem) => {
                    error.set(Some(problem.message));
                    busy.set(false);
                }
            }
        });
    };

    view! {
        <main class="auth">
            <h1>{title}</h1>
            // method="post" keeps the password out of the URL should the form submit before the
            // page's script has loaded.
            <form method="post" on:submit=on_submit>
                <label>
                    "Username"
                    <input type="text" name="username" autocomplete="username" required
                        bind:value=username/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" required
                        autocomplete=if register { "new-password" } else { "current-password" }
                        bind:value=password/>
                </label>
                <p class="error" role="alert">{move || error.get()}</p>
                <button type="submit" disabled=move || busy.get()>{action}</button>
            </form>
            <p><a href=other_page>{other_label}</a></p>
        </main>
    }
}
