//! Groups in the browser: creating one, the public room directory, and a group's settings. The
//! controls offered follow `crate::groups`, the rules the server applies.

use super::socket::ChatClient;
use super::state::{RoomsStoreFields, StateStoreFields};
use crate::groups::{may, GroupAction};
use crate::model::{Chat, ChatId, ChatKind, GroupTitle, Member, Role, Room, User, UserId};
use leptos::{ev::SubmitEvent, prelude::*};
use reactive_stores::Field;

/// The people I could put in a group: those I know and those I chat with, by name.
fn known_people(client: ChatClient) -> Memo<Vec<User>> {
    Memo::new(move |_| {
        let store = client.store;
        let me = store.me().with(|me| me.as_ref().map(|me| me.id));
        let mut people: Vec<User> = store
            .people()
            .with(|people| people.iter().map(|person| person.user.clone()).collect());
        store.chats().with(|chats| {
            let members = chats.iter().flat_map(|chat| chat.members.iter());
            people.extend(members.map(|member| member.user.clone()));
        });
        people.retain(|user| Some(user.id) != me);
        people.sort_by(|a, b| {
            (a.username.to_lowercase(), a.id).cmp(&(b.username.to_lowercase(), b.id))
        });
        people.dedup_by_key(|user| user.id);
        people
    })
}

/// A form that creates a group with a title and the people ticked.
#[component]
pub fn NewGroup() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let people = known_people(client);
    let title = RwSignal::new(String::new());
    let public = RwSignal::new(false);
    let picked = RwSignal::new(Vec::<UserId>::new());
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let members = picked.get_untracked();
        let valid = GroupTitle::parse(&title.get_untracked()).is_ok();
        client.update(|s| s.create_group(&title.get_untracked(), members, public.get_untracked()));
        // A refused title stays, with what was ticked, to be mended.
        if valid {
            title.set(String::new());
            picked.set(Vec::new());
            public.set(false);
        }
    };
    view! {
        <details class="new-group">
            <summary>"New group"</summary>
            <form on:submit=on_submit>
                <label>"Group title" <input type="text" required bind:value=title/></label>
                <fieldset>
                    <legend>"Members"</legend>
                    <For each=move || people.get() key=|user| user.id let:user>
                        <PickPerson user picked/>
                    </For>
                </fieldset>
                <label class="pick">
                    <input type="checkbox" bind:checked=public/>
                    "Public: listed, and anyone may join"
                </label>
                <button type="submit">"Create group"</button>
            </form>
        </details>
    }
}

/// A checkbox that puts `user` in `picked`, or takes them out.
#[component]
fn PickPerson(user: User, picked: RwSignal<Vec<UserId>>) -> impl IntoView {
    let id = user.id;
    view! {
        <label class="pick">
            <input type="checkbox"
                prop:checked=move || picked.with(|p| p.contains(&id))
                on:change=move |_| picked.update(|p| {
                    if let Some(at) = p.iter().position(|known| *known == id) {
                        p.remove(at);
                    } else {
                        p.push(id);
                    }
                })/>
            <bdi>{user.username}</bdi>
        </label>
    }
}

/// Public groups: a search, and a join button for each found.
#[component]
pub fn RoomDirectory() -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let store = client.store;
    let query = RwSignal::new(String::new());
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        client.update(|s| s.search_rooms(&query.get_untracked()));
    };
    view! {
        <details class="rooms">
            <summary>"Public groups"</summary>
            <form class="search" role="search" on:submit=on_submit>
                <input type="search" aria-label="Find public groups by title" bind:value=query/>
                <button type="submit">"Find groups"</button>
            </form>
            <Show when=move || store.rooms().searched().get()
                && store.rooms().found().with(Vec::is_empty)>
                <p class="empty">"No public groups found."</p>
            </Show>
            <ul class="people">
                <For each=move || store.rooms().found() key=|room| room.key() let:room>
                    <RoomRow room/>
                </For>
            </ul>
        </details>
    }
}

/// One public group found: its title, its size, and a join button until I am in it.
#[component]
fn RoomRow(#[prop(into)] room: Field<Room>) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let id = room.with_untracked(|room| room.chat_id);
    let title = move || room.try_with(|room| room.title.clone()).unwrap_or_default();
    let size = move || match room.try_with(|room| room.member_count).unwrap_or(0) {
        1 => "1 member".to_string(),
        count => format!("{count} members"),
    };
    let joined = move || room.try_with(|room| room.joined).unwrap_or(false);
    view! {
        <li class="person">
            <bdi class="name">{title}</bdi>
            <span class="detail">{size}</span>
            <span class="actions">
                <Show when=joined
                    fallback=move || view! {
                        <button type="button"
                            on:click=move |_| { client.update(|s| s.join_room(id)); }>
                            "Join"<span class="visually-hidden">" "{title}</span>
                        </button>
                    }>
                    <span class="detail">"joined"</span>
                </Show>
            </span>
        </li>
    }
}

/// A group's settings: its title and visibility, its members and what may be done about each,
/// adding people, bans, leaving and deleting.
#[component]
pub fn GroupSettings(chat_id: ChatId) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let store = client.store;
    let me = Memo::new(move |_| store.me().with(|me| me.as_ref().map(|me| me.id)));
    let chat = Memo::new(move |_| {
        store
            .chats()
            .with(|chats| chats.iter().find(|chat| chat.id == chat_id).cloned())
    });
    let my_role = Memo::new(move |_| {
        chat.with(|chat| {
            chat.as_ref()
                .zip(me.get())
                .and_then(|(c, me)| c.role_of(me))
        })
    });
    let allowed = move |action| my_role.get().is_some_and(|role| may(role, action).is_ok());
    let manages = move || allowed(GroupAction::Manage);
    let owns = move || allowed(GroupAction::Delete);
    let title = RwSignal::new(String::new());
    let on_rename = move |ev: SubmitEvent| {
        ev.prevent_default();
        client.update(|s| s.rename_group(chat_id, &title.get_untracked()));
        title.set(String::new());
    };
    let public = move || chat.with(|chat| chat.as_ref().is_some_and(|chat| chat.public));
    let members =
        move || chat.with(|chat| chat.as_ref().map(|c| c.members.clone()).unwrap_or_default());
    let people = known_people(client);
    let addable = Memo::new(move |_| {
        let present: Vec<UserId> = members().iter().map(|m| m.user.id).collect();
        people.with(|people| {
            people
                .iter()
                .filter(|user| !present.contains(&user.id))
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    let to_add = RwSignal::new(String::new());
    let on_add = move |ev: SubmitEvent| {
        ev.prevent_default();
        if let Ok(id) = to_add.get_untracked().parse::<i64>() {
            client.update(|s| s.add_to_group(chat_id, vec![UserId(id)]));
        }
    };
    let confirming = RwSignal::new(false);
    let delete_button = NodeRef::<leptos::html::Button>::new();
    let bans = move || {
        store
            .bans()
            .with(|bans| bans.get(&chat_id).cloned().unwrap_or_default())
    };
    view! {
        <details class="group-settings">
            <summary>"Group settings"</summary>
            <Show when=manages>
                <form class="rename" on:submit=on_rename>
                    <label>"New title" <input type="text" required bind:value=title/></label>
                    <button type="submit">"Rename"</button>
                </form>
                <label class="pick">
                    <input type="checkbox" prop:checked=public
                        on:change=move |_| { client.update(|s| s.make_public(chat_id, !public())); }/>
                    "Public: listed, and anyone may join"
                </label>
            </Show>
            <h3>"Members"</h3>
            <ul class="people">
                <For each=members key=|member| (member.user.id, member.role) let:member>
                    <MemberRow chat_id member my_role me/>
                </For>
            </ul>
            <Show when=manages>
                <form class="add-member" on:submit=on_add>
                    <label>"Add someone"
                        <select bind:value=to_add>
                            <option value="">"Choose a person"</option>
                            <For each=move || addable.get() key=|user| user.id let:user>
                                <option value=user.id.to_string()>{user.username.clone()}</option>
                            </For>
                        </select>
                    </label>
                    <button type="submit">"Add"</button>
                </form>
                <button type="button" on:click=move |_| { client.update(|s| s.load_bans(chat_id)); }>
                    "Show banned people"
                </button>
                <Show when=move || store.bans().with(|bans| bans.get(&chat_id).is_some_and(Vec::is_empty))>
                    <p class="empty">"No one is banned."</p>
                </Show>
                <ul class="people" aria-label="Banned people">
                    <For each=bans key=|user| user.id let:user>
                        <li class="person">
                            <bdi class="name">{user.username.clone()}</bdi>
                            <span class="actions">
                                <button type="button" on:click=move |_| {
                                    client.update(|s| s.unban(chat_id, user.id));
                                }>
                                    "Unban"<span class="visually-hidden">" "{user.username.clone()}</span>
                                </button>
                            </span>
                        </li>
                    </For>
                </ul>
            </Show>
            <div class="leave">
                <button type="button" on:click=move |_| { client.update(|s| s.leave(chat_id)); }>
                    "Leave group"
                </button>
                <Show when=owns>
                    // Deleting erases every message for everyone, so it is asked twice; focus stays
                    // on the first button, the question follows it.
                    <button type="button" class="danger" aria-expanded=move || confirming.get().to_string()
                        node_ref=delete_button
                        on:click=move |_| confirming.update(|shown| *shown = !*shown)>
                        "Delete group"
                    </button>
                    <Show when=move || confirming.get()>
                        <p>"Delete this group and all its messages, for everyone?"</p>
                        <button type="button" class="danger"
                            on:click=move |_| { client.update(|s| s.delete_group(chat_id)); }>
                            "Delete for everyone"
                        </button>
                        <button type="button" on:click=move |_| {
                            confirming.set(false);
                            if let Some(button) = delete_button.get_untracked() {
                                let _ = button.focus();
                            }
                        }>
                            "Keep the group"
                        </button>
                    </Show>
                </Show>
            </div>
        </details>
    }
}

/// One member, their role, and the actions my role allows on them.
#[component]
fn MemberRow(
    chat_id: ChatId,
    member: Member,
    my_role: Memo<Option<Role>>,
    me: Memo<Option<UserId>>,
) -> impl IntoView {
    let client = expect_context::<ChatClient>();
    let Member { user, role, .. } = member;
    let (id, name) = (user.id, user.username);
    let allowed = move |action| {
        me.get() != Some(id) && my_role.get().is_some_and(|mine| may(mine, action).is_ok())
    };
    let promotion = match role {
        Role::Member => Some((Role::Admin, "Make admin")),
        Role::Admin => Some((Role::Member, "Make member")),
        Role::Owner => None,
    };
    let role_text = match role {
        Role::Owner => "owner",
        Role::Admin => "admin",
        Role::Member => "member",
    };
    // Each button names the person too, for those who hear the buttons out of their row.
    let named = |action: &str| format!("{action} {name}");
    let promote = promotion.map(|(to, label)| {
        let aria = named(label);
        view! {
            <Show when=move || allowed(GroupAction::SetRole { target: role, to })>
                <button type="button" aria-label=aria.clone()
                    on:click=move |_| { client.update(|s| s.set_role(chat_id, id, to)); }>
                    {label}
                </button>
            </Show>
        }
    });
    let (remove, remove_and_ban) = (named("Remove"), named("Remove and ban"));
    view! {
        <li class="person">
            <bdi class="name">{name.clone()}</bdi>
            <span class="detail">{role_text}</span>
            <span class="actions">
                {promote}
                <Show when=move || allowed(GroupAction::Remove { target: role })>
                    <button type="button" aria-label=remove.clone()
                        on:click=move |_| { client.update(|s| s.remove_from_group(chat_id, id, false)); }>
                        "Remove"
                    </button>
                    <button type="button" aria-label=remove_and_ban.clone()
                        on:click=move |_| { client.update(|s| s.remove_from_group(chat_id, id, true)); }>
                        "Remove and ban"
                    </button>
                </Show>
            </span>
        </li>
    }
}

/// Whether `chat` is a group I may moderate: delete others' messages in.
pub fn moderates(chat: &Chat, me: UserId) -> bool {
    chat.kind == ChatKind::Group && chat.role_of(me).is_some_and(Role::manages)
}
