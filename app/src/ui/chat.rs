//! The chat page: people and chats on the side, the open conversation beside them.

use super::api;
use super::groups::{moderates, GroupSettings, NewGroup, RoomDirectory};
use super::notify::{ask_to_notify, may_ask, notify_arrival, notify_message, page_hidden};
use super::people::{requests_waiting, PeoplePanel};
use super::socket::{ChatClient, Connection};
use super::state::{
    chat_title, seen_by, typing_line, unread_total, ConversationStoreFields, Pending,
    StateStoreFields,
};
use crate::model::{
    limits, Chat, ChatId, ChatKind, Message, MessageBody, MessageId, PresenceMode, UserId,
};
use crate::protocol::Refusal;
use leptos::{ev::SubmitEvent, prelude::*};
use leptos_meta::Title;
use reactive_stores::Field;
use std::collections::HashMap;

/// What was written but not sent in each chat, kept while the page is open: leaving a chat and
/// coming back finds it in the composer.
#[derive(Clone, Copy)]
struct Drafts(StoredValue<HashMap<ChatId, String>>);

#[component]
pub fn ChatPage() -> impl IntoView {
    let client = ChatClient::new();
    provide_context(client);
    provide_context(Drafts(StoredValue::new(HashMap::new())));
    // Effects run only in the browser: the server renders the empty frame, the browser connects.
    Effect::new(move || client.start());
    let store = client.store;
    let me = move || {
        store
            .me()
            .with(|me| me.as_ref().map(|me| me.username.clone()))
    };
    // On a narrow screen the lists and the open conversation are views of their own.
    let view_shown = move || {
        if store.selected().with(Option::is_some) {
            "conversation"
        } else {
            "lists"
        }
    };

    let log_out = move |_| {
        leptos::task::spawn_local(async move {
            if let Err(problem) = api::logout().await {
                client.update(|s| s.tell(problem.message));
                return;
            }
            let _ = window().location().set_href(super::paths::LOGIN);
        });
    };

    // The unread count goes in the tab's title, where it shows while the page is in the background.
    let unread =
        move || store.chats().with(|chats| unread_total(chats)) + store.unread_elsewhere().get();
    let page_title = move || match unread() {
        0 => "Natter".to_string(),
        unread => format!("({unread}) Natter"),
    };

    view! {
        <Title text=page_title/>
        <div class="app" data-view=view_shown>
            <aside class="sidebar" aria-label="Sidebar">
                <header class="me">
                    <bdi class="username">{me}</bdi>
                    <button type="button" on:click=log_out>"Log out"</button>
                </header>
                <StatusPicker/>
                <ConnectionStatus/>
                <MessageNotifications/>
                <Lists/>
            </aside>
            <ChatView/>
            <p class="notice" role="alert">{move || store.notice().get()}</p>
            <Arrivals/>
        </div>
    }
}

/// Chats and People, one at a time.
#[component]
fn Lists() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let people_shown = RwSignal::new(false);
    let requests = requests_waiting(client);
    view! {
        <div class="tabs" role="group" aria-label="Lists">
            <button type="button" aria-pressed=move || (!people_shown.get()).to_string()
                on:click=move |_| people_shown.set(false)>"Chats"</button>
            <button type="button" aria-pressed=move || people_shown.get().to_string()
                on:click=move |_| people_shown.set(true)>
                "People"
                <Show when=move || { requests() > 0 }>
                    <span class="badge">
                        {move || requests()}
                        <span class="visually-hidden">
                            {move || if requests() == 1 { " friend request" } else { " friend requests" }}
                        </span>
                    </span>
                </Show>
            </button>
        </div>
        <Show when=move || people_shown.get() fallback=|| view! { <ChatList/> }>
            <PeoplePanel/>
        </Show>
    }
}

/// My presence mode and custom status text.
#[component]
fn StatusPicker() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let store = client.store;
    let mode = RwSignal::new(PresenceMode::Online);
    let text = RwSignal::new(String::new());
    // Text being written is not overwritten by what the server says meanwhile. Once the field is
    // left unsent, the next status the server sends (another device's) replaces it.
    let writing = RwSignal::new(false);
    // What the server holds (from `ready`, or another device) fills the form.
    Effect::new(move || {
        let status = store.status().get();
        mode.set(status.mode);
        if !writing.get_untracked() {
            text.set(status.text.unwrap_or_default());
        }
    });
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        writing.set(false);
        client.update(|s| s.set_status(mode.get_untracked(), text.get_untracked()));
    };
    let modes = [
        (PresenceMode::Online, "online", "Online"),
        (PresenceMode::Away, "away", "Away"),
        (PresenceMode::Busy, "busy", "Busy"),
        (
            PresenceMode::Invisible,
            "invisible",
            "Invisible (appear offline)",
        ),
    ];
    view! {
        <form class="status-picker" on:submit=on_submit>
            <select aria-label="Presence"
                on:change=move |ev| {
                    let chosen = event_target_value(&ev);
                    if let Some((picked, _, _)) = modes.iter().find(|(_, value, _)| *value == chosen) {
                        mode.set(*picked);
                    }
                }>
                {modes.map(|(value, name, label)| view! {
                    <option value=name prop:selected=move || mode.get() == value>{label}</option>
                })}
            </select>
            <input type="text" aria-label="Status text" placeholder="What are you up to?"
                maxlength=limits::STATUS_TEXT_MAX_CHARS.to_string() bind:value=text
                on:input=move |_| writing.set(true) on:blur=move |_| writing.set(false)/>
            <button type="submit">"Set status"</button>
        </form>
    }
}

/// New messages while the page is out of sight: a browser notification each (when allowed), whose
/// click opens that chat. In sight, the chat list tells already.
#[component]
fn MessageNotifications() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let store = client.store;
    // Offered until the browser has an answer.
    let can_ask = RwSignal::new(false);
    Effect::new(move || can_ask.set(may_ask()));
    Effect::new(move || {
        if store.news().with(Vec::is_empty) {
            return;
        }
        // Taken out of the store first: nothing outside runs while it is being read.
        let mut news = Vec::new();
        client.update(|s| {
            let (taken, effects) = s.take_news();
            news = taken;
            effects
        });
        if !page_hidden() {
            return;
        }
        for item in news {
            let chat_id = item.chat_id;
            notify_message(&item, move || {
                client.update(|s| s.select(chat_id));
            });
        }
    });
    view! {
        <Show when=move || can_ask.get()>
            <button type="button" class="allow-notifications" on:click=move |_| {
                ask_to_notify();
                can_ask.set(false);
            }>"Notify me of new messages"</button>
        </Show>
    }
}

/// News that someone I waited for came online: a toast, and a browser notification if allowed.
#[component]
fn Arrivals() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let store = client.store;
    let told = StoredValue::new(std::collections::HashSet::<UserId>::new());
    Effect::new(move || {
        // Read first, notify after: nothing outside runs while the store is being read.
        let arrivals = store.arrivals().get();
        for user in arrivals {
            let new = told
                .try_update_value(|told| told.insert(user.id))
                .unwrap_or(false);
            if new {
                notify_arrival(&user.username);
            }
        }
    });
    view! {
        <div class="toasts" role="status" aria-live="polite">
            <For each=move || store.arrivals().get() key=|user| user.id let:user>
                <p class="toast">
                    <bdi>{user.username.clone()}</bdi>" is online"
                    <button type="button" aria-label=format!("Dismiss: {} is online", user.username)
                        on:click=move |_| {
                            told.update_value(|told| { told.remove(&user.id); });
                            client.update(|s| s.dismiss_arrival(user.id));
                        }>"✕"</button>
                </p>
            </For>
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
fn ChatList() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let store = client.store;
    // A change of selection re-renders the two rows it concerns, not the list.
    let selected = Selector::new(move || store.selected().get());
    view! {
        <nav aria-labelledby="chats-heading">
            <h2 id="chats-heading">"Chats"</h2>
            <NewGroup/>
            <RoomDirectory/>
            <ul class="chats">
                <For each=move || store.chats() key=|chat| chat.key() let:chat>
                    <ChatRow chat selected=selected.clone()/>
                </For>
            </ul>
            <Show when=move || store.more_chats().get()>
                <button type="button" class="older"
                    on:click=move |_| { client.update(|s| s.load_more_chats()); }>
                    "Show older chats"
                </button>
            </Show>
        </nav>
    }
}

/// One chat in the list; re-renders only when that chat changes, or its selection does.
#[component]
fn ChatRow(#[prop(into)] chat: Field<Chat>, selected: Selector<Option<ChatId>>) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let store = client.store;
    let id = chat.with_untracked(|chat| chat.id);
    let me = move || store.me().with(|me| me.as_ref().map(|me| me.id));
    // `try_`: a row whose chat was just dropped may run once more before the list removes it.
    let title = move || {
        let me = me();
        chat.try_with(|chat| chat_title(chat, me))
            .unwrap_or_default()
    };
    let preview = move || chat.try_with(preview_text).unwrap_or_default();
    let unread = move || chat.try_with(|chat| chat.unread).unwrap_or(0);
    let muted = move || chat.try_with(|chat| chat.muted).unwrap_or(false);
    view! {
        <li>
            <button
                type="button"
                class="chat-link"
                data-chat=id.0
                aria-current=move || selected.selected(&Some(id)).then_some("true")
                on:click=move |_| { client.update(|s| s.select(id)); }
            >
                <bdi class="title">{title}</bdi>
                <Show when=move || { unread() > 0 }>
                    <span class="badge" class:muted=muted>
                        {unread}
                        <span class="visually-hidden">
                            {move || if muted() { " unread, muted" } else { " unread" }}
                        </span>
                    </span>
                </Show>
                <span class="preview" dir="auto">{preview}</span>
            </button>
        </li>
    }
}

/// The start of a chat's newest message, as its row in the list shows it.
fn preview_text(chat: &Chat) -> String {
    chat.last_message
        .as_ref()
        .map(|message| {
            if message.deleted {
                return "Message deleted".to_string();
            }
            let more = if message.truncated { "…" } else { "" };
            format!("{}{more}", message.text)
        })
        .unwrap_or_default()
}

#[component]
fn ChatView() -> impl IntoView {
    let store = expect_context::<ChatClient>().store;
    // A memo, so the conversation (and the draft in its composer) is rebuilt only when another chat
    // is chosen.
    let selected = Memo::new(move |_| store.selected().get());
    view! {
        <main class="chat">
            {move || match selected.get() {
                None => view! { <p class="empty">"Pick a chat, or find someone under People."</p> }.into_any(),
                Some(chat_id) => view! { <Conversation chat_id/> }.into_any(),
            }}
        </main>
    }
}

#[component]
fn Conversation(chat_id: ChatId) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let store = client.store;
    // The state keeps the selected chat's entry, so this stays valid while it is shown.
    let conversation = store.conversations().at_key(chat_id);
    let me = Memo::new(move |_| store.me().with(|me| me.as_ref().map(|me| me.id)));
    let title = move || {
        let me = me.get();
        store
            .chats()
            .with(|chats| {
                chats
                    .iter()
                    .find(|chat| chat.id == chat_id)
                    .map(|chat| chat_title(chat, me))
            })
            .unwrap_or_default()
    };
    // Someone removed from a group keeps what they saw, but has no say in it any more.
    let is_member = Memo::new(move |_| {
        let me = me.get();
        store.chats().with(|chats| {
            chats
                .iter()
                .find(|chat| chat.id == chat_id)
                .zip(me)
                .is_some_and(|(chat, me)| chat.role_of(me).is_some())
        })
    });
    let has_more = move || conversation.has_more().try_get().flatten() == Some(true);
    let drafts = expect_context::<Drafts>().0;
    let draft = RwSignal::new(drafts.with_value(|d| d.get(&chat_id).cloned().unwrap_or_default()));
    Effect::new(move || {
        let text = draft.get();
        drafts.update_value(|d| {
            if text.is_empty() {
                d.remove(&chat_id);
            } else {
                d.insert(chat_id, text);
            }
        });
    });
    let typing = move || {
        store
            .typing()
            .with(|typing| {
                typing
                    .get(&chat_id)
                    .and_then(|typists| typing_line(typists))
            })
            .unwrap_or_default()
    };
    let is_group = move || {
        store.chats().with(|chats| {
            chats
                .iter()
                .any(|chat| chat.id == chat_id && chat.kind == ChatKind::Group)
        })
    };
    let muted = move || {
        store
            .chats()
            .with(|chats| chats.iter().any(|chat| chat.id == chat_id && chat.muted))
    };
    // The receipt under my newest message: who of the others has read it.
    let seen = move || -> Vec<String> {
        let Some(me) = me.get() else {
            return Vec::new();
        };
        let shown = conversation.messages();
        store.chats().with(|chats| {
            let Some(chat) = chats.iter().find(|chat| chat.id == chat_id) else {
                return Vec::new();
            };
            shown
                .try_with(|messages| {
                    seen_by(chat, messages, me)
                        .into_iter()
                        .map(|user| user.username.clone())
                        .collect()
                })
                .unwrap_or_default()
        })
    };
    let seen_text = move || {
        let readers = seen();
        let group = store.chats().with(|chats| {
            chats
                .iter()
                .any(|chat| chat.id == chat_id && chat.kind == ChatKind::Group)
        });
        if !group {
            return view! { "Seen" }.into_any();
        }
        let names = readers.join(", ");
        // The names show on hover, and on focus for keyboards; screen readers hear them at once.
        view! {
            <span tabindex="0" class="seen-by" data-names=names.clone()>
                {format!("Seen by {}", readers.len())}
                <span class="visually-hidden">{format!(": {names}")}</span>
            </span>
        }
        .into_any()
    };
    // Tell the chat while something is being written here, and that it stopped when it is cleared
    // or the conversation is left.
    let on_input = move |ev: leptos::ev::Event| {
        let has_text = !event_target_value(&ev).trim().is_empty();
        let now = js_sys::Date::now() as i64;
        client.update(|s| s.composing(chat_id, has_text, now));
    };
    // An end needs no time (and the server, which renders this too, has no browser clock).
    on_cleanup(move || {
        client.update(|s| s.composing(chat_id, false, 0));
    });

    // Follow the conversation: scroll to the end when a newer message or a pending one appears, but
    // not when older history is loaded above.
    let list = NodeRef::<leptos::html::Ol>::new();
    // What is on screen is read, while the page is; what is scrolled past counts as seen.
    let read_in_view = move || {
        let seen = list.get_untracked().and_then(|list| newest_in_view(&list));
        if let (Some(seen), false) = (seen, page_hidden()) {
            client.update(|s| s.read_up_to(chat_id, seen));
        }
    };
    let newest = Memo::new(move |_| {
        let newest = conversation
            .messages()
            .try_with(|messages| messages.last().map(|message| message.id))
            .flatten();
        let pending = conversation.pending().try_with(Vec::len).unwrap_or(0);
        (newest, pending)
    });
    // Opened at its first unread message, the chat shows that; else its end.
    let has_newer = move || conversation.has_newer().try_get().unwrap_or(false);
    // The first that counts as unread: from someone else, not deleted, and no system line.
    let first_unread = Memo::new(move |_| {
        let read = conversation.read_when_opened().try_get().flatten()?;
        let me = me.get();
        conversation
            .messages()
            .try_with(|messages| {
                messages
                    .iter()
                    .find(|m| {
                        let counted = m.system.is_none() && m.deleted_at.is_none();
                        m.id > read && counted && Some(m.sender_id) != me
                    })
                    .map(|message| message.id)
            })
            .flatten()
    });
    // Once per opening, the first unread message is brought into view; after that, the end.
    let shown_first_unread = StoredValue::new(false);
    Effect::new(move || {
        newest.track();
        if let Some(list) = list.get() {
            let divider = list.query_selector(".first-unread").ok().flatten();
            match divider.filter(|_| !shown_first_unread.get_value() || has_newer()) {
                Some(divider) => {
                    divider.scroll_into_view();
                    shown_first_unread.set_value(true);
                }
                None => list.set_scroll_top(list.scroll_height()),
            }
        }
        read_in_view();
    });
    // Coming back to the page reads what the conversation shows.
    Effect::new(move || {
        let listener = window_event_listener(leptos::ev::focus, move |_| read_in_view());
        on_cleanup(move || listener.remove());
    });

    // Opening a conversation takes focus to its heading, so keyboards and screen readers follow
    // (on a narrow screen the list it was opened from is gone); going back returns it to the row.
    let heading = NodeRef::<leptos::html::H2>::new();
    Effect::new(move || {
        if let Some(heading) = heading.get() {
            let _ = heading.focus();
        }
    });
    let back = move |_| {
        client.update(|s| s.deselect());
        request_animation_frame(move || focus_in_lists(chat_id));
    };
    // New messages from others are read out as they arrive. The list itself is no live region,
    // so older history loaded above it is not read out. Each is a node of its own, so the same
    // words twice are told twice.
    let heard = move || {
        store
            .heard()
            .get()
            .filter(|(chat, _, _)| *chat == chat_id)
            .map(|(_, id, text)| (id, text))
    };

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
            <header class="conversation-head">
                <button type="button" class="back" aria-label="Back to the lists"
                    on:click=back>"←"</button>
                <h2 tabindex="-1" node_ref=heading><bdi>{title}</bdi></h2>
                // Always there, its words changing, so screen readers tell each change; seen only
                // while not connected.
                <p class="connection-inline" role="status"
                    class:visually-hidden=move || client.connection.get() == Connection::Connected>
                    {move || client.connection.get().label()}
                </p>
                <Show when=is_group>
                    <GroupSettings chat_id/>
                </Show>
                <button type="button" class="mute" aria-pressed=move || muted().to_string()
                    on:click=move |_| { client.update(|s| s.mute(chat_id, !muted())); }>
                    "Mute"
                </button>
            </header>
            <Show when=has_more>
                <button type="button" class="older"
                    on:click=move |_| { client.update(|s| s.load_older(chat_id)); }>
                    "Load older messages"
                </button>
            </Show>
            <ol class="messages" aria-label="Messages" node_ref=list
                on:scroll=move |_| read_in_view()>
                <For each=move || conversation.messages() key=|message| message.key() let:message>
                    <MessageRow message me first_unread/>
                </For>
                <For each=move || conversation.pending() key=|pending| pending.key() let:pending>
                    <PendingRow pending/>
                </For>
            </ol>
            <Show when=has_newer>
                <div class="newer">
                    <button type="button"
                        on:click=move |_| { client.update(|s| s.load_newer(chat_id)); }>
                        "Load newer messages"
                    </button>
                    <button type="button"
                        on:click=move |_| { client.update(|s| s.back_to_latest(chat_id)); }>
                        "Back to latest"
                    </button>
                </div>
            </Show>
            <Show when=move || !seen().is_empty()>
                <p class="seen">{seen_text}</p>
            </Show>
            <p class="typing" aria-live="polite">{typing}</p>
            <div class="visually-hidden" aria-live="polite">
                <For each=move || heard().into_iter() key=|(id, _)| *id let:heard>
                    <p>{heard.1}</p>
                </For>
            </div>
            <Show when=move || is_member.get()
                fallback=|| view! { <p class="composer">"You are no longer in this group."</p> }>
                <form class="composer" on:submit=on_submit>
                    <input type="text" aria-label="Message" placeholder="Write a message"
                        autocomplete="off" bind:value=draft on:input=on_input/>
                    <button type="submit">"Send"</button>
                </form>
            </Show>
        </section>
    }
}

/// Puts focus on the chat list's row of `chat_id`, or on the lists' tab shown when the chat list
/// is not (People is, or the row is gone).
fn focus_in_lists(chat_id: ChatId) {
    use wasm_bindgen::JsCast;
    let row = format!(".chat-link[data-chat=\"{}\"]", chat_id.0);
    let target = [row.as_str(), ".tabs button[aria-pressed=\"true\"]"]
        .into_iter()
        .find_map(|selector| document().query_selector(selector).ok().flatten())
        .and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(target) = target {
        let _ = target.focus();
    }
}

/// The newest message at least half shown in `list` as it is scrolled; none while the list is
/// itself not shown (a narrow screen's other view).
fn newest_in_view(list: &web_sys::HtmlOListElement) -> Option<MessageId> {
    use wasm_bindgen::JsCast;
    let frame = list.get_bounding_client_rect();
    if frame.height() <= 0.0 {
        return None;
    }
    let rows = list.query_selector_all("li[data-id]").ok()?;
    (0..rows.length())
        .rev()
        .filter_map(|at| rows.item(at)?.dyn_into::<web_sys::Element>().ok())
        .find(|row| {
            let rect = row.get_bounding_client_rect();
            (rect.top() + rect.bottom()) / 2.0 <= frame.bottom()
        })
        .and_then(|row| row.get_attribute("data-id")?.parse().ok())
        .map(MessageId)
}

/// A stored message. Its sender and time never change; its text does when it is edited or
/// deleted, and only that part re-renders.
#[component]
fn MessageRow(
    #[prop(into)] message: Field<Message>,
    me: Memo<Option<UserId>>,
    first_unread: Memo<Option<MessageId>>,
) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let (id, sender, sent_at, system) =
        message.with_untracked(|m| (m.id, m.sender_id, m.sent_at, m.system.is_some()));
    let is_first_unread = move || first_unread.get() == Some(id);
    if system {
        // A change to the group, told in a line of its own.
        let body = message.with_untracked(|m| m.body.clone());
        return view! {
            <li class="system-line" data-id=id.0>
                <span class="body" dir="auto">{body}</span>
                <time>{clock_time(sent_at)}</time>
            </li>
        }
        .into_any();
    }
    let author = client.store.with_untracked(|s| s.username(sender));
    let deleted = move || message.with(|m| m.deleted_at.is_some());
    let text = move || {
        message.with(|m| match m.deleted_at {
            Some(_) => view! { <span class="body tombstone">"Message deleted"</span> }.into_any(),
            None => view! { <span class="body" dir="auto">{m.body.clone()}</span> }.into_any(),
        })
    };
    let edited = move || message.with(|m| m.edited_at.is_some() && m.deleted_at.is_none());
    let store = client.store;
    let chat_id = message.with_untracked(|m| m.chat_id);
    let mine = move || me.get() == Some(sender);
    // The sender edits and deletes; a group's owner and admins delete too.
    let may_delete = move || {
        !deleted()
            && (mine()
                || store.chats().with(|chats| {
                    chats
                        .iter()
                        .find(|chat| chat.id == chat_id)
                        .zip(me.get())
                        .is_some_and(|(chat, me)| moderates(chat, me))
                }))
    };
    let editing = RwSignal::new(false);
    let draft = RwSignal::new(String::new());
    let start_editing = move |_| {
        draft.set(message.with_untracked(|m| m.body.clone()));
        editing.set(true);
    };
    let on_edit = move |ev: SubmitEvent| {
        ev.prevent_default();
        match MessageBody::parse(draft.get_untracked().trim().to_string()) {
            Ok(body) => {
                client.update(|s| s.edit_message(id, body));
                editing.set(false);
            }
            Err(refusal) => {
                client.update(|s| s.tell(refusal.to_string()));
            }
        }
    };
    let on_escape = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            editing.set(false);
        }
    };
    let versions = move || {
        store.versions().with(|versions| {
            versions
                .as_ref()
                .filter(|(shown, _)| *shown == id)
                .map(|(_, versions)| versions.clone())
        })
    };
    view! {
        <li class="message" data-id=id.0 class:mine=mine class:deleted=deleted
            class:first-unread=is_first_unread>
            <Show when=is_first_unread>
                <span class="divider">"New messages"</span>
            </Show>
            <bdi class="author">{author}</bdi>
            <Show when=move || editing.get() fallback=text>
                <form class="edit" on:submit=on_edit>
                    <input type="text" aria-label="Edit message" bind:value=draft
                        on:keydown=on_escape autofocus/>
                    <button type="submit">"Save"</button>
                    <button type="button" on:click=move |_| editing.set(false)>"Cancel"</button>
                </form>
            </Show>
            <span class="meta">
                <Show when=edited>
                    <span class="edited">"edited"</span>
                </Show>
                <time>{clock_time(sent_at)}</time>
            </span>
            <span class="message-actions">
                <Show when=move || mine() && !deleted() && !editing.get()>
                    <button type="button" aria-label="Edit this message" on:click=start_editing>
                        "Edit"
                    </button>
                </Show>
                <Show when=may_delete>
                    <button type="button" aria-label="Delete this message"
                        on:click=move |_| { client.update(|s| s.delete_message(id)); }>
                        "Delete"
                    </button>
                </Show>
                <Show when=edited>
                    <button type="button" aria-label="Show this message's edits"
                        on:click=move |_| { client.update(|s| s.load_versions(id)); }>
                        "Edits"
                    </button>
                </Show>
            </span>
            {move || versions().map(|versions| view! {
                <ol class="versions" aria-label="Earlier versions">
                    {versions.into_iter().map(|version| view! {
                        <li>
                            <span class="body" dir="auto">{version.body}</span>
                            <time>{clock_time(version.since)}</time>
                        </li>
                    }).collect_view()}
                </ol>
            })}
        </li>
    }
    .into_any()
}

/// A message on its way; re-renders when the server refuses it.
#[component]
fn PendingRow(#[prop(into)] pending: Field<Pending>) -> impl IntoView {
    let body = pending.with_untracked(|p| p.body.clone());
    let state = move || match pending.try_with(|p| p.failed.clone()).flatten() {
        Some(reason) => format!("Not sent: {reason}"),
        None => "Sending…".to_string(),
    };
    view! {
        <li class="message mine pending">
            <span class="body" dir="auto">{body}</span>
            <span class="state">{state}</span>
        </li>
    }
}

/// When someone was last seen, in the reader's own time zone: the time today, else the date too.
pub fn seen_at(at: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at as f64));
    let today = js_sys::Date::new_0();
    let same_day = date.to_date_string() == today.to_date_string();
    if same_day {
        format!("at {}", clock_time(at))
    } else {
        format!(
            "on {}-{:02}-{:02}",
            date.get_full_year(),
            date.get_month() + 1,
            date.get_date()
        )
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
