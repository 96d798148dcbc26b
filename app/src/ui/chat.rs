//! The chat page: people and chats on the side, the open conversation beside them.

use super::api;
use super::socket::ChatClient;
use crate::model::{ChatId, Message, MessageBody, Status, UserId};
use crate::protocol::Refusal;
use leptos::{ev::SubmitEvent, prelude::*};

#[component]
pub fn ChatPage() -> impl IntoView {
    let client = ChatClient::new();
    provide_context(client);
    // Effects run only in the browser: the server renders the empty frame, the browser connects.
    Effect::new(move || client.start());
    let store = client.store;
    let me = move || store.with(|s| s.me.as_ref().map(|me| me.username.clone()));

    let log_out = move |_| {
        leptos::task::spawn_local(async move {
            if let Err(problem) = api::logout().await {
                client.update(|s| s.tell(problem.message));
                return;
            }
            let _ = window().location().set_href(super::paths::LOGIN);
        });
    };

    view! {
        <div class="app">
            <aside class="sidebar" aria-label="Sidebar">
                <header class="me">
                    <bdi class="username">{me}</bdi>
                    <button type="button" on:click=log_out>"Log out"</button>
                </header>
                <ConnectionStatus/>
                <ChatList/>
                <PeopleList/>
            </aside>
            <ChatView/>
        </div>
    }
}

#[component]
fn ConnectionStatus() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let state = move || client.connection.get();
    view! {
        <p class="connection" role="status" data-state=move || format!("{:?}", state()).to_lowercase()>
            {move || state().label()}
        </p>
    }
}

#[component]
fn PeopleList() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let people = move || client.store.with(|s| s.people.clone());
    view! {
        <section aria-labelledby="people-heading">
            <h2 id="people-heading">"People"</h2>
            <ul class="people">
                <For each=people key=|person| (person.user.id, person.presence.clone()) let:person>
                    <li>
                        <button
                            type="button"
                            aria-label=format!("Chat with {}", person.user.username)
                            on:click=move |_| { client.update(|s| s.open_direct(person.user.id)); }
                        >
                            <span class="presence"
                                class:online=person.presence.as_ref().is_some_and(|p| p.status != Status::Offline)
                                title=person.presence.as_ref().map_or("presence hidden", |p| status_label(p.status))></span>
                            <bdi>{person.user.username.clone()}</bdi>
                        </button>
                    </li>
                </For>
            </ul>
        </section>
    }
}

#[component]
fn ChatList() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let store = client.store;
    let rows = move || {
        store.with(|s| {
            s.chats
                .iter()
                .map(|chat| {
                    let preview = chat
                        .last_message
                        .as_ref()
                        .map(|m| {
                            let more = if m.truncated { "…" } else { "" };
                            format!("{}{more}", m.text)
                        })
                        .unwrap_or_default();
                    (chat.id, s.chat_title(chat), preview)
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <nav aria-labelledby="chats-heading">
            <h2 id="chats-heading">"Chats"</h2>
            <ul class="chats">
                <For each=rows key=|row| row.clone() let:row>
                    <li>
                        <button
                            type="button"
                            class="chat-link"
                            aria-pressed=move || (store.with(|s| s.selected) == Some(row.0)).to_string()
                            on:click=move |_| { client.update(|s| s.select(row.0)); }
                        >
                            <bdi class="title">{row.1.clone()}</bdi>
                            <span class="preview" dir="auto">{row.2.clone()}</span>
                        </button>
                    </li>
                </For>
            </ul>
            <Show when=move || store.with(|s| s.more_chats)>
                <button type="button" class="older"
                    on:click=move |_| { client.update(|s| s.load_more_chats()); }>
                    "Show older chats"
                </button>
            </Show>
        </nav>
    }
}

#[component]
fn ChatView() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let store = client.store;
    // A memo, so the conversation (and the draft in its composer) is rebuilt only when another chat
    // is chosen, not on every change to the store.
    let selected = Memo::new(move |_| store.with(|s| s.selected));
    view! {
        <main class="chat">
            {move || match selected.get() {
                None => view! { <p class="empty">"Pick someone from People to start chatting."</p> }.into_any(),
                Some(chat_id) => view! { <Conversation chat_id/> }.into_any(),
            }}
            <p class="notice" role="alert">{move || store.with(|s| s.notice.clone())}</p>
        </main>
    }
}

#[component]
fn Conversation(chat_id: ChatId) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let store = client.store;
    let title = move || {
        store.with(|s| {
            s.chat(chat_id)
                .map(|chat| s.chat_title(chat))
                .unwrap_or_default()
        })
    };
    let messages = move || store.with(|s| s.messages.get(&chat_id).cloned().unwrap_or_default());
    let pending = move || {
        store.with(|s| {
            s.pending
                .iter()
                .filter(|p| p.chat_id == chat_id)
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let has_more = move || store.with(|s| s.has_more.get(&chat_id).copied().unwrap_or(false));
    let me = move || store.with(|s| s.me.as_ref().map(|me| me.id));
    let draft = RwSignal::new(String::new());

    // Follow the conversation: scroll to the end when a newer message or a pending one appears, but
    // not when older history is loaded above.
    let list = NodeRef::<leptos::html::Ol>::new();
    let newest = move || {
        store.with(|s| {
            let newest = s
                .messages
                .get(&chat_id)
                .and_then(|m| m.last())
                .map(|m| m.id);
            let pending = s.pending.iter().filter(|p| p.chat_id == chat_id).count();
            (newest, pending)
        })
    };
    Effect::new(move || {
        newest();
        if let Some(list) = list.get() {
            list.set_scroll_top(list.scroll_height());
        }
    });

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let body = match MessageBody::parse(draft.get_untracked().trim().to_string()) {
            Ok(body) => body,
            // Nothing to send yet; the button stays quiet.
            Err(Refusal::MessageBlank) => return,
            Err(refusal) => {
                client.update(|s| s.tell(refusal.to_string()));
                return;
            }
        };
        draft.set(String::new());
        client.update(|s| s.send(chat_id, body, new_nonce()));
    };

    view! {
        <section class="conversation" aria-label=move || format!("Conversation with {}", title())>
            <h2><bdi>{title}</bdi></h2>
            <Show when=has_more>
                <button type="button" class="older"
                    on:click=move |_| { client.update(|s| s.load_older(chat_id)); }>
                    "Load older messages"
                </button>
            </Show>
            <ol class="messages" aria-label="Messages" aria-live="polite" node_ref=list>
                <For each=messages key=|message| message.id let:message>
                    <MessageRow message=message.clone() mine=me() == Some(message.sender_id)/>
                </For>
                <For each=pending key=|p| (p.nonce.clone(), p.failed.clone()) let:pending>
                    <li class="message mine pending">
                        <span class="body" dir="auto">{pending.body.clone()}</span>
                        <span class="state">
                            {match pending.failed {
                                Some(reason) => format!("Not sent: {reason}"),
                                None => "Sending…".to_string(),
                            }}
                        </span>
                    </li>
                </For>
            </ol>
            <form class="composer" on:submit=on_submit>
                <input type="text" aria-label="Message" placeholder="Write a message"
                    autocomplete="off" bind:value=draft/>
                <button type="submit">"Send"</button>
            </form>
        </section>
    }
}

#[component]
fn MessageRow(message: Message, mine: bool) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let sender: UserId = message.sender_id;
    let author = client.store.with_untracked(|s| s.username(sender));
    let time = clock_time(message.sent_at);
    view! {
        <li class="message" class:mine=mine>
            <bdi class="author">{author}</bdi>
            <span class="body" dir="auto">{message.body}</span>
            <time>{time}</time>
        </li>
    }
}

fn status_label(status: Status) -> &'static str {
    match status {
        Status::Online => "online",
        Status::Away => "away",
        Status::Busy => "busy",
        Status::Offline => "offline",
    }
}

/// Hours and minutes in the reader's own time zone.
fn clock_time(sent_at: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(sent_at as f64));
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}

/// A client-chosen id for one message, unique enough that two sends never share it.
fn new_nonce() -> String {
    let random = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
    format!("{:x}-{random:x}", js_sys::Date::now() as u64)
}
