//! How a change to the [`State`] reaches the views: the reducer writes the state untracked and
//! reports what it touched, and [`wake`] fires exactly the triggers of those parts. A view of one chat
//! row re-runs when that chat changes, a message list when messages arrive, and nothing else does.

use super::state::{
    Change, ConversationStoreFields, DirectoryStoreFields, RoomsStoreFields, State,
    StateStoreFields,
};
use crate::model::ChatId;
use leptos::prelude::*;
use reactive_stores::{Store, StoreField};
use std::collections::BTreeSet;

/// Brings the store's keys up to date with what changed, then notifies the views of it.
pub fn wake(store: Store<State>, changed: &BTreeSet<Change>) {
    use Change::*;
    let conversation = |id: ChatId| store.conversations().at_key(id);
    if changed.contains(&All) {
        store.people().update_keys();
        store.contacts().update_keys();
        store.chats().update_keys();
        store.conversations().update_keys();
        store.directory().found().update_keys();
        store.rooms().found().update_keys();
        let ids: Vec<ChatId> =
            store.with_untracked(|state| state.conversations.keys().copied().collect());
        for id in ids {
            conversation(id).messages().update_keys();
            conversation(id).pending().update_keys();
        }
        store.notify();
        return;
    }
    // Keys first, outer before inner: an item's path is found through its collection's keys.
    for change in changed {
        match *change {
            PeopleList => store.people().update_keys(),
            Contacts => store.contacts().update_keys(),
            ChatList => store.chats().update_keys(),
            Conversations => store.conversations().update_keys(),
            Directory => store.directory().found().update_keys(),
            Rooms => store.rooms().found().update_keys(),
            _ => {}
        }
    }
    for change in changed {
        match *change {
            Messages(id) => conversation(id).messages().update_keys(),
            Pending(id) => conversation(id).pending().update_keys(),
            _ => {}
        }
    }
    for change in changed {
        match *change {
            All => {}
            PeopleList => reshaped(store.people()),
            Person(id) => written(store.people().at_key(id)),
            Contacts => written(store.contacts()),
            Settings => written(store.settings()),
            Status => written(store.status()),
            Waiting => written(store.waiting()),
            Arrivals => written(store.arrivals()),
            News => written(store.news()),
            Heard => written(store.heard()),
            ChatList => reshaped(store.chats()),
            Chat(id) => written(store.chats().at_key(id)),
            MoreChats => written(store.more_chats()),
            UnreadElsewhere => written(store.unread_elsewhere()),
            Conversations => reshaped(store.conversations()),
            Messages(id) => reshaped(conversation(id).messages()),
            Message(chat, id) => written(conversation(chat).messages().at_key(id)),
            Pending(id) => written(conversation(id).pending()),
            HasMore(id) => {
                written(conversation(id).has_more());
                written(conversation(id).has_newer());
                written(conversation(id).read_when_opened());
            }
            Selected => written(store.selected()),
            Typing(_) => written(store.typing()),
            Rooms => written(store.rooms()),
            Bans => written(store.bans()),
            Versions => written(store.versions()),
            Notice => written(store.notice()),
            Directory => written(store.directory()),
            FriendFormError => written(store.friend_form_error()),
        }
    }
}

/// What writing `field` through its guard would fire: its own triggers and every ancestor's
/// "something below changed".
fn written(field: impl StoreField) {
    field.triggers_for_current_path().notify();
}

/// What a keyed collection whose items came, went or moved needs: its readers (a `<For>`) re-run,
/// while the rows, which track the collection's own "written" trigger, do not. That trigger comes
/// last in `triggers_for_current_path` (reactive_stores 0.4.4, store_field.rs); re-check on upgrade.
fn reshaped(field: impl StoreField) {
    let mut triggers = field.triggers_for_current_path();
    triggers.pop();
    triggers.notify();
}
