//! The people panel: friend requests, friends (online first), adding a friend by name, and the
//! directory; and what one can do about a person from any of them.

use super::notify::ask_to_notify;
use super::socket::ChatClient;
use super::state::{DirectoryStoreFields, PersonAction, StateStoreFields};
use crate::model::{
    DirectoryEntry, MessagePolicy, Presence, Relation, RequestPolicy, Settings, Status, User,
    UserId, Visibility,
};
use leptos::{ev::SubmitEvent, prelude::*};
use reactive_stores::Field;

#[component]
pub fn PeoplePanel() -> impl IntoView {
    view! {
        <section class="people-panel" aria-labelledby="people-heading">
            <h2 id="people-heading">"People"</h2>
            <Friends/>
            <Requests/>
            <AddFriend/>
            <FindPeople/>
            <Privacy/>
        </section>
    }
}

/// How many friend requests wait for my answer: the badge on the People tab.
pub fn requests_waiting(client: ChatClient) -> impl Fn() -> usize + Copy {
    move || {
        client.store.contacts().with(|contacts| {
            contacts
                .values()
                .filter(|contact| contact.relation == Relation::RequestReceived)
                .count()
        })
    }
}

/// The people I have `relation` with, by name.
fn with_relation(client: ChatClient, relation: Relation) -> Memo<Vec<User>> {
    Memo::new(move |_| {
        let mut users: Vec<User> = client.store.contacts().with(|contacts| {
            contacts
                .values()
                .filter(|contact| contact.relation == relation)
                .map(|contact| contact.user.clone())
                .collect()
        });
        users.sort_by_key(|user| user.username.to_lowercase());
        users
    })
}

#[component]
fn Requests() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let incoming = with_relation(client, Relation::RequestReceived);
    let outgoing = with_relation(client, Relation::RequestSent);
    let any = move || !incoming.with(Vec::is_empty) || !outgoing.with(Vec::is_empty);
    view! {
        <Show when=any>
            <h3>"Friend requests"</h3>
            <ul class="people">
                <For each=move || incoming.get() key=|user| user.id let:user>
                    <li class="person">
                        <bdi class="name">{user.username.clone()}</bdi>
                        <span class="detail">"wants to be your friend"</span>
                        <span class="actions">
                            <ActionButton user=user.clone() action=PersonAction::Accept/>
                            <ActionButton user=user.clone() action=PersonAction::Reject/>
                        </span>
                    </li>
                </For>
                <For each=move || outgoing.get() key=|user| user.id let:user>
                    <li class="person">
                        <bdi class="name">{user.username.clone()}</bdi>
                        <span class="detail">"request sent"</span>
                        <span class="actions">
                            <ActionButton user=user.clone() action=PersonAction::CancelRequest/>
                        </span>
                    </li>
                </For>
            </ul>
        </Show>
    }
}

/// `user`'s presence as I may see it, from the people I know.
fn presence_of(client: ChatClient, user: UserId) -> Option<Presence> {
    client
        .store
        .people()
        .with(|people| {
            people
                .iter()
                .find(|person| person.user.id == user)
                .map(|person| person.presence.clone())
        })
        .flatten()
}

fn is_online(presence: &Option<Presence>) -> bool {
    presence
        .as_ref()
        .is_some_and(|presence| presence.status != Status::Offline)
}

#[component]
fn Friends() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let friends = with_relation(client, Relation::Friend);
    // Online friends first; the rows themselves follow their own presence.
    let ordered = Memo::new(move |_| {
        let mut friends = friends.get();
        friends.sort_by_key(|friend| !is_online(&presence_of(client, friend.id)));
        friends
    });
    view! {
        <h3>"Friends"</h3>
        <Show
            when=move || !ordered.with(Vec::is_empty)
            fallback=|| view! { <p class="empty">"No friends yet: add one by name below."</p> }
        >
            <ul class="people">
                <For each=move || ordered.get() key=|user| user.id let:user>
                    <FriendRow user/>
                </For>
            </ul>
        </Show>
    }
}

#[component]
fn FriendRow(user: User) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let id = user.id;
    let presence = Memo::new(move |_| presence_of(client, id));
    view! {
        <li class="person">
            <PresenceDot presence/>
            <bdi class="name">{user.username.clone()}</bdi>
            <PresenceText presence/>
            <span class="actions">
                <MessageButton user=user.clone()/>
                <WaitButton user=user.clone() presence/>
                <ActionButton user=user.clone() action=PersonAction::Unfriend/>
                <ActionButton user=user.clone() action=PersonAction::Block/>
            </span>
        </li>
    }
}

#[component]
fn AddFriend() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let name = RwSignal::new(String::new());
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let typed = name.get_untracked();
        if typed.trim().is_empty() {
            return;
        }
        client.update(|s| s.add_friend(&typed));
    };
    view! {
        <form class="inline-form" on:submit=on_submit>
            <label for="add-friend">"Add a friend by username"</label>
            <div class="row">
                <input id="add-friend" type="text" autocomplete="off" bind:value=name/>
                <button type="submit">"Send request"</button>
            </div>
            <p class="error" role="alert">{move || client.store.friend_form_error().get()}</p>
        </form>
    }
}

#[component]
fn FindPeople() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let store = client.store;
    let query = RwSignal::new(store.directory().query().get_untracked());
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        client.update(|s| s.search(&query.get_untracked()));
    };
    let searched = move || !store.directory().query().with(String::is_empty);
    let nobody = move || searched() && store.directory().found().with(Vec::is_empty);
    view! {
        <form class="inline-form" role="search" on:submit=on_submit>
            <label for="find-people">"Find people by name"</label>
            <div class="row">
                <input id="find-people" type="search" autocomplete="off" bind:value=query/>
                <button type="submit">"Search"</button>
            </div>
        </form>
        <Show when=searched>
            <ul class="people" aria-label="People found">
                <For each=move || store.directory().found() key=|entry| entry.key() let:entry>
                    <FoundRow entry/>
                </For>
            </ul>
        </Show>
        <Show when=nobody>
            <p class="empty">"No one by that name."</p>
        </Show>
        <Show when=move || store.directory().has_more().get()>
            <button type="button" class="older"
                on:click=move |_| { client.update(|s| s.search_more()); }>
                "More people"
            </button>
        </Show>
    }
}

/// A person the directory found, with what I can do about them. Their relation follows my
/// contacts, and their presence the live one when I follow them; the rest is as found.
#[component]
fn FoundRow(#[prop(into)] entry: Field<DirectoryEntry>) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let user = entry.with_untracked(|entry| entry.user.clone());
    let id = user.id;
    let relation = Memo::new(move |_| {
        client.store.contacts().with(|contacts| {
            contacts
                .get(&id)
                .map_or(Relation::None, |contact| contact.relation)
        })
    });
    let presence = Memo::new(move |_| {
        let followed = client
            .store
            .people()
            .with(|people| people.iter().any(|person| person.user.id == id));
        if followed {
            presence_of(client, id)
        } else {
            entry.try_with(|entry| entry.presence.clone()).flatten()
        }
    });
    let actions = {
        let user = user.clone();
        move || {
            let user = user.clone();
            let answers: &[PersonAction] = match relation.get() {
                Relation::Blocked => {
                    return view! { <ActionButton user action=PersonAction::Unblock/> }.into_any()
                }
                Relation::None => &[PersonAction::Befriend],
                Relation::RequestSent => &[PersonAction::CancelRequest],
                Relation::RequestReceived => &[PersonAction::Accept, PersonAction::Reject],
                Relation::Friend => &[PersonAction::Unfriend],
            };
            view! {
                <MessageButton user=user.clone()/>
                <WaitButton user=user.clone() presence/>
                {answers.iter().map(|action| view! { <ActionButton user=user.clone() action=*action/> }).collect_view()}
                <ActionButton user=user.clone() action=PersonAction::Block/>
            }
            .into_any()
        }
    };
    view! {
        <li class="person">
            <PresenceDot presence/>
            <bdi class="name">{user.username.clone()}</bdi>
            <span class="detail">{move || relation_label(relation.get())}</span>
            <PresenceText presence/>
            <span class="actions">{actions}</span>
        </li>
    }
}

fn relation_label(relation: Relation) -> &'static str {
    match relation {
        Relation::None => "",
        Relation::Friend => "friend",
        Relation::RequestSent => "request sent",
        Relation::RequestReceived => "asked to be your friend",
        Relation::Blocked => "blocked",
    }
}

/// A coloured dot, with its meaning as text for those who cannot see it.
#[component]
fn PresenceDot(presence: Memo<Option<Presence>>) -> impl IntoView {
    let status = move || presence.with(|p| p.as_ref().map(|p| p.status));
    view! {
        <span class="presence" aria-hidden="true"
            data-status=move || status().map_or("hidden", status_label)></span>
    }
}

/// Presence as text: the status, the custom status text, or when they were last seen.
#[component]
fn PresenceText(presence: Memo<Option<Presence>>) -> impl IntoView {
    let text = move || {
        presence.with(|presence| match presence {
            None => "presence hidden".to_string(),
            Some(Presence {
                status: Status::Offline,
                last_seen: Some(seen),
                ..
            }) => format!("offline, last seen {}", super::chat::seen_at(*seen)),
            Some(presence) => match &presence.text {
                Some(text) => format!("{}: {text}", status_label(presence.status)),
                None => status_label(presence.status).to_string(),
            },
        })
    };
    view! { <span class="status-text" dir="auto">{text}</span> }
}

pub fn status_label(status: Status) -> &'static str {
    match status {
        Status::Online => "online",
        Status::Away => "away",
        Status::Busy => "busy",
        Status::Offline => "offline",
    }
}

#[component]
fn MessageButton(user: User) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let id = user.id;
    view! {
        <button type="button" on:click=move |_| { client.update(|s| s.open_direct(id)); }>
            "Message"<span class="visually-hidden">" "{user.username}</span>
        </button>
    }
}

/// A button whose visible label is short, and whose name, read out, says whom it concerns.
#[component]
fn ActionButton(user: User, action: PersonAction) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let name = &user.username;
    let (label, rest) = match action {
        PersonAction::Befriend => ("Add friend", format!(" {name}")),
        PersonAction::CancelRequest => ("Cancel", format!(" the request to {name}")),
        PersonAction::Accept => ("Accept", format!(" {name}'s friend request")),
        PersonAction::Reject => ("Reject", format!(" {name}'s friend request")),
        PersonAction::Unfriend => ("Remove", format!(" {name} from friends")),
        PersonAction::Block => ("Block", format!(" {name}")),
        PersonAction::Unblock => ("Unblock", format!(" {name}")),
        PersonAction::Wait => ("Notify me", format!(" when {name} is online")),
        PersonAction::StopWaiting => ("Stop", format!(" waiting for {name}")),
    };
    let id = user.id;
    view! {
        <button type="button"
            on:click=move |_| {
                if action == PersonAction::Wait {
                    ask_to_notify();
                }
                client.update(|s| s.act(action, id));
            }>
            {label}<span class="visually-hidden">{rest}</span>
        </button>
    }
}

/// "Notify me when online", for someone shown offline; "stop" while waiting.
#[component]
fn WaitButton(user: User, presence: Memo<Option<Presence>>) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let id = user.id;
    let waiting = move || {
        client
            .store
            .waiting()
            .with(|waiting| waiting.iter().any(|waited| waited.id == id))
    };
    let offline =
        move || presence.with(|p| p.as_ref().is_some_and(|p| p.status == Status::Offline));
    move || {
        let user = user.clone();
        if waiting() {
            Some(view! { <ActionButton user action=PersonAction::StopWaiting/> }.into_any())
        } else if offline() {
            Some(view! { <ActionButton user action=PersonAction::Wait/> }.into_any())
        } else {
            None
        }
    }
}

/// Who may see my presence, message me, and ask me to be friends.
#[component]
fn Privacy() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let settings = client.store.settings();
    let change = move |edit: fn(&mut Settings, &str)| {
        move |ev: leptos::ev::Event| {
            let mut changed = settings.get_untracked();
            edit(&mut changed, &event_target_value(&ev));
            client.update(|s| s.change_settings(changed));
        }
    };
    // Each option says whether it is the one set: a select's value set before its options exist
    // would not take.
    let option = move |current: fn(&Settings) -> &'static str, value: &'static str, label| {
        view! {
            <option value=value prop:selected=move || settings.with(|s| current(s) == value)>
                {label}
            </option>
        }
    };
    let presence = |s: &Settings| s.presence_visibility.as_str();
    let messages = |s: &Settings| s.direct_messages.as_str();
    let requests = |s: &Settings| s.friend_requests.as_str();
    view! {
        <h3>"Privacy"</h3>
        <div class="privacy">
            <label for="presence-visibility">"Who sees when I am online, my status and last seen"</label>
            <select id="presence-visibility"
                on:change=change(|s, v| s.presence_visibility = Visibility::from_stored(v).unwrap_or_default())>
                {option(presence, "everyone", "Everyone")}
                {option(presence, "friends", "Friends")}
                {option(presence, "nobody", "Nobody")}
            </select>
            <label for="direct-messages">"Who can message me"</label>
            <select id="direct-messages"
                on:change=change(|s, v| s.direct_messages = MessagePolicy::from_stored(v).unwrap_or_default())>
                {option(messages, "everyone", "Everyone")}
                {option(messages, "friends", "Friends")}
            </select>
            <label for="friend-requests">"Who can send me friend requests"</label>
            <select id="friend-requests"
                on:change=change(|s, v| s.friend_requests = RequestPolicy::from_stored(v).unwrap_or_default())>
                {option(requests, "everyone", "Everyone")}
                {option(requests, "nobody", "Nobody")}
            </select>
        </div>
    }
}
