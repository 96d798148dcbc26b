//! The browser's picture of the world, and how each server frame changes it.
//!
//! Plain data with no signals or sockets inside, so every rule here is unit tested natively. Every
//! change returns its [`Effects`]: the requests to send, what the connection is to do next, and what
//! changed, so the socket layer carries them out and holds no rules of its own. The UI keeps the
//! state in a `reactive_stores::Store` and wakes only the views of what changed (`reactivity::wake`).

use crate::model::{
    Chat, ChatId, ChatKind, ChatPosition, Contact, DirectoryEntry, GroupChange, GroupTitle, Member,
    Message, MessageBody, MessageId, MessagePreview, MessageVersion, MyStatus, Person, Pos,
    PresenceMode, Relation, Role, Room, Seq, Settings, Timestamp, User, UserId,
};
use crate::protocol::{ApiError, ClientEvent, ErrorCode, Reply, Request, RequestId, ServerEvent};
use reactive_stores::Store;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A place in the server's event log: the `epoch` of the log and a position in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPosition {
    pub epoch: String,
    pub pos: Pos,
}

/// A message the user sent that the server has not acknowledged yet. It is re-sent with the same nonce
/// after a reconnect, and the server's dedup makes that safe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub nonce: String,
    pub body: String,
    /// Why the server refused it, if it did; refused messages are not re-sent.
    pub failed: Option<String>,
}

/// One chat's loaded messages and unacknowledged sends.
#[derive(Clone, Debug, Default, PartialEq, Store)]
pub struct Conversation {
    /// Oldest first.
    #[store(key: MessageId = |message| message.id)]
    pub messages: Vec<Message>,
    #[store(key: String = |pending| pending.nonce.clone())]
    pub pending: Vec<Pending>,
    /// Whether older history exists beyond what is loaded; `None` until the first page.
    pub has_more: Option<bool>,
    /// Newer messages exist beyond what is loaded: the chat was opened at its first unread
    /// message. New messages wait there rather than leave a gap; "back to latest" fetches them.
    pub has_newer: bool,
    /// The newest message read when the chat was opened at its first unread: a divider goes after it.
    pub read_when_opened: Option<MessageId>,
    /// Counts the times the loaded window was dropped, so a page asked for before is not taken in.
    #[store(skip)]
    generation: u32,
}

/// A message someone sent to a chat I have not muted, as a notification tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct News {
    pub chat_id: ChatId,
    /// The chat's title as I see it.
    pub title: String,
    /// Who sent it, and the start of what they said.
    pub text: String,
}

/// Which way a page of history was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Page {
    Older,
    Newer,
}

/// An `unread:count` asked for the chats beyond those loaded.
#[derive(Clone, Copy, Debug)]
struct Recount {
    request: RequestId,
    /// The last chat loaded when it was asked.
    before: Option<ChatPosition>,
    /// Something changed beyond the loaded chats since: ask again once it is answered.
    again: bool,
}

/// How many new messages wait to be told as news at most: only the newest few are worth it.
const NEWS_KEPT: usize = 5;

/// Messages before the first unread shown for context when a chat opens there.
const CONTEXT_BEFORE_UNREAD: u32 = 10;

/// The directory as last searched.
#[derive(Clone, Debug, Default, PartialEq, Store)]
pub struct Directory {
    /// What was searched for; empty when nothing is.
    pub query: String,
    #[store(key: UserId = |entry| entry.user.id)]
    pub found: Vec<DirectoryEntry>,
    /// More people follow the ones found.
    pub has_more: bool,
}

/// The room directory (public groups) as last searched.
#[derive(Clone, Debug, Default, PartialEq, Store)]
pub struct Rooms {
    /// Whether it has been asked for yet.
    pub searched: bool,
    #[store(key: ChatId = |room| room.chat_id)]
    pub found: Vec<Room>,
    pub has_more: bool,
}

/// Something one person can do about another, from a button next to their name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersonAction {
    Befriend,
    CancelRequest,
    Accept,
    Reject,
    Unfriend,
    Block,
    Unblock,
    Wait,
    StopWaiting,
}

/// What a change asks of the connection, and what it changed.
#[derive(Debug, Default, PartialEq)]
pub struct Effects {
    /// To send, in order.
    pub requests: Vec<Request>,
    pub next: Next,
    pub changed: BTreeSet<Change>,
}

/// What the connection does after a change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Next {
    #[default]
    Stay,
    /// The loaded picture was dropped (an event was missed, or the position refused): reconnect for
    /// a fresh `ready`.
    Reconnect,
    /// The session is gone: log in again; reconnecting cannot help.
    LogOut,
}

/// A part of the state a change touched. `…List` means items came, went or moved (the list's
/// views re-run, its rows do not); an id names one item changed in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// A fresh picture: everything.
    All,
    PeopleList,
    Person(UserId),
    Contacts,
    Settings,
    Status,
    Waiting,
    Arrivals,
    News,
    Heard,
    ChatList,
    Chat(ChatId),
    MoreChats,
    UnreadElsewhere,
    Conversations,
    Messages(ChatId),
    /// One loaded message changed in place (edited or deleted).
    Message(ChatId, MessageId),
    Pending(ChatId),
    HasMore(ChatId),
    Selected,
    /// Who types in this chat changed.
    Typing(ChatId),
    Rooms,
    Bans,
    Versions,
    Notice,
    Directory,
    FriendFormError,
}

#[derive(Clone, Debug, Default, Store)]
pub struct State {
    pub me: Option<User>,
    /// People I know or found, by username, with their presence as I may see it.
    #[store(key: UserId = |person| person.user.id)]
    pub people: Vec<Person>,
    /// Everyone I have a relation with.
    #[store(key: UserId = |(id, _)| *id)]
    pub contacts: BTreeMap<UserId, Contact>,
    pub settings: Settings,
    /// The presence mode and status text I set.
    pub status: MyStatus,
    /// The people I wait for (`user:wait`).
    pub waiting: Vec<User>,
    /// People I waited for who came online, newest last, until shown.
    pub arrivals: Vec<User>,
    /// New messages worth a notification while the page is hidden, newest last, until shown.
    pub news: Vec<News>,
    /// The newest message someone else sent that arrived live in the open chat, as a screen
    /// reader is told it: its chat, id and text.
    pub heard: Option<(ChatId, MessageId, String)>,
    /// Most recent activity first.
    #[store(key: ChatId = |chat| chat.id)]
    pub chats: Vec<Chat>,
    /// The server has older chats than those loaded.
    pub more_chats: bool,
    /// Unread messages in the chats beyond those loaded, muted ones left out, as of the server's
    /// last count: the page's title shows them with the loaded chats' own.
    pub unread_elsewhere: u32,
    /// Holds the selected chat's entry whenever one is selected, so its views may rely on it.
    #[store(key: ChatId = |(id, _)| *id)]
    pub conversations: BTreeMap<ChatId, Conversation>,
    pub selected: Option<ChatId>,
    /// The last error worth showing, if any.
    pub notice: Option<String>,
    pub directory: Directory,
    /// Why the last "add a friend" request was refused, shown beside its form.
    pub friend_form_error: Option<String>,
    /// Who is typing in each chat, in the order they began.
    pub typing: BTreeMap<ChatId, Vec<User>>,
    pub rooms: Rooms,
    /// The people banned from groups I manage, as last asked.
    pub bans: BTreeMap<ChatId, Vec<User>>,
    /// The texts a message had, as last asked.
    pub versions: Option<(MessageId, Vec<MessageVersion>)>,
    /// The chat I am typing in, and when I last said so.
    #[store(skip)]
    my_typing: Option<(ChatId, Timestamp)>,
    /// The search whose answer the directory waits for; older answers are dropped.
    #[store(skip)]
    search_request: Option<RequestId>,
    /// The "add a friend" request in flight, whose refusal goes beside its form.
    #[store(skip)]
    friend_form_request: Option<RequestId>,
    /// The settings change in flight: if it is refused, the form shows the settings held again.
    #[store(skip)]
    settings_request: Option<RequestId>,
    /// How far into the server's log this picture is complete; `None` until the first `ready`.
    #[store(skip)]
    pub position: Option<LogPosition>,
    /// The `seq` of my newest own event applied.
    #[store(skip)]
    pub user_seq: Seq,
    /// While a `sync` after a reconnect is under way: the newest position pushed meanwhile. Pushes
    /// then run ahead of the sync, so they do not move `position` until it has caught up.
    #[store(skip)]
    syncing: Option<Pos>,
    /// An event was missed (a `seq` skipped) or the position was refused: drop what is loaded and
    /// reconnect for a fresh `ready`.
    #[store(skip)]
    reload: bool,
    /// The server said the session is gone.
    #[store(skip)]
    logged_out: bool,
    /// The log positions of the arrivals taken in, so one replayed by a `sync` is not told twice.
    #[store(skip)]
    arrival_positions: HashSet<Pos>,
    #[store(skip)]
    next_request: RequestId,
    /// In-flight pages of history: their chat, direction, and the window they were asked for.
    #[store(skip)]
    pages: HashMap<RequestId, (ChatId, Page, u32)>,
    /// In-flight sends by request id, so a refusal marks the right pending message.
    #[store(skip)]
    sends: HashMap<RequestId, (ChatId, String)>,
    /// New messages in chats not loaded yet: told as news once their chat arrives, unless muted.
    #[store(skip)]
    news_waiting: Vec<Message>,
    /// The `unread:count` in flight, the chat it counted beyond, and whether to ask again when it
    /// is answered (something changed beyond the loaded chats meanwhile): one at a time, however
    /// many events call for it.
    #[store(skip)]
    recount: Option<Recount>,
    /// What the change under way touched.
    #[store(skip)]
    changed: BTreeSet<Change>,
}

impl State {
    fn request(&mut self, event: ClientEvent) -> Request {
        self.next_request += 1;
        if let ClientEvent::MessageSend { chat_id, nonce, .. } = &event {
            self.sends
                .insert(self.next_request, (*chat_id, nonce.clone()));
        }
        Request {
            id: self.next_request,
            event,
        }
    }

    fn touched(&mut self, change: Change) {
        self.changed.insert(change);
    }

    /// The effects of the change just made: `requests` and what it touched.
    fn effects(&mut self, requests: Vec<Request>) -> Effects {
        Effects {
            requests,
            next: Next::Stay,
            changed: std::mem::take(&mut self.changed),
        }
    }

    pub fn username(&self, id: UserId) -> String {
        let known = self
            .me
            .iter()
            .chain(self.people.iter().map(|person| &person.user));
        let members = self
            .chats
            .iter()
            .flat_map(|chat| chat.members.iter().map(|member| &member.user));
        known
            .chain(members)
            .find(|user| user.id == id)
            .map(|user| user.username.clone())
            .unwrap_or_else(|| format!("user {id}"))
    }

    /// Applies one frame from the server.
    pub fn apply(&mut self, event: ServerEvent) -> Effects {
        let requests = self.step(event);
        if std::mem::take(&mut self.logged_out) {
            let mut effects = self.effects(Vec::new());
            effects.next = Next::LogOut;
            return effects;
        }
        if self.reset_if_reloading() {
            // What this frame asked for rests on the picture just dropped.
            let mut effects = self.effects(Vec::new());
            effects.next = Next::Reconnect;
            return effects;
        }
        self.effects(requests)
    }

    /// Applies one frame; returns the requests it calls for.
    fn step(&mut self, event: ServerEvent) -> Vec<Request> {
        let mut requests = Vec::new();
        // Newer than the picture held before this connection: what `ready` could not show.
        let unseen = event
            .pos()
            .is_some_and(|pos| self.position.as_ref().is_some_and(|held| pos > held.pos));
        if let Some(pos) = event.pos() {
            self.pushed(pos);
        }
        match event {
            ServerEvent::Ready {
                user,
                epoch,
                pos,
                user_seq,
                people,
                contacts,
                settings,
                status,
                waiting,
                chats,
                more_chats,
            } => {
                self.touched(Change::All);
                // Typing began anew with this connection, on both sides; what the old one asked
                // is not answered.
                self.typing.clear();
                self.my_typing = None;
                self.recount = None;
                self.news_waiting.clear();
                self.waiting = waiting;
                self.me = Some(user);
                self.set_people(people);
                self.set_contacts(contacts);
                self.settings = settings;
                self.status = status;
                for chat in chats {
                    self.upsert_chat(chat);
                }
                self.more_chats = more_chats;
                requests.extend(self.recount_elsewhere());
                self.user_seq = self.user_seq.max(user_seq);
                match &self.position {
                    // A reconnect: fetch what happened while we were away.
                    Some(known) => {
                        let sync = ClientEvent::Sync {
                            epoch: known.epoch.clone(),
                            after: known.pos,
                        };
                        self.syncing = Some(pos);
                        requests.push(self.request(sync));
                    }
                    None => self.position = Some(LogPosition { epoch, pos }),
                }
                let resend: Vec<_> = self
                    .conversations
                    .iter()
                    .flat_map(|(chat_id, conversation)| {
                        conversation
                            .pending
                            .iter()
                            .filter(|pending| pending.failed.is_none())
                            .map(|pending| ClientEvent::MessageSend {
                                chat_id: *chat_id,
                                nonce: pending.nonce.clone(),
                                body: pending.body.clone(),
                            })
                    })
                    .collect();
                for event in resend {
                    requests.push(self.request(event));
                }
                if let Some(chat_id) = self.selected {
                    requests.extend(self.load_history_if_missing(chat_id));
                }
            }
            ServerEvent::Reply { id, result } => {
                self.sends.remove(&id);
                requests.extend(self.apply_reply(id, result));
            }
            ServerEvent::Error { id, error } => requests.extend(self.apply_error(id, error)),
            ServerEvent::MessageNew { seq, message, .. } => {
                let chat_id = message.chat_id;
                let mine = self.me.as_ref().map(|me| me.id) == Some(message.sender_id);
                let i_left = mine && matches!(message.system, Some(GroupChange::Left { .. }));
                let mut hear = false;
                match self.chats.iter_mut().find(|chat| chat.id == chat_id) {
                    Some(chat) => {
                        self.reload |= self.syncing.is_none() && seq > chat.seq + 1;
                        // A chat read after the change already shows it.
                        let fresh = seq > chat.seq;
                        chat.seq = chat.seq.max(seq);
                        if i_left {
                            self.forget_chat(chat_id);
                            return requests;
                        }
                        // Not what a sync replays: that was said while this page was away.
                        hear = fresh
                            && !mine
                            && self.syncing.is_none()
                            && message.deleted_at.is_none();
                        // Someone else's new message is one more unread, until a receipt says
                        // otherwise, and news unless the chat is muted.
                        if fresh && !mine && message.system.is_none() {
                            chat.unread = chat.unread.saturating_add(1);
                            let muted = chat.muted;
                            self.touched(Change::Chat(chat_id));
                            if !muted && message.deleted_at.is_none() {
                                self.tell_news(&message);
                            }
                        }
                        if let (Some(change), true) = (&message.system, fresh) {
                            self.changed_group(chat_id, message.sender_id, change);
                        }
                    }
                    // Leaving on another device: the chat is gone here already (or was never
                    // loaded, and counted elsewhere).
                    None if i_left => {
                        requests.extend(self.recount_elsewhere());
                        return requests;
                    }
                    // A chat beyond the pages loaded just became the most recent: fetch the top
                    // page, which now holds it, and tell the news once it is there.
                    None => {
                        if !mine && message.system.is_none() && message.deleted_at.is_none() {
                            self.news_waiting.push(message.clone());
                            if self.news_waiting.len() > NEWS_KEPT {
                                self.news_waiting.remove(0);
                            }
                        }
                        requests.push(self.request(ClientEvent::ChatsList {
                            before: None,
                            limit: None,
                        }));
                    }
                }
                if hear {
                    self.hear(&message);
                }
                self.add_message(message);
            }
            ServerEvent::MessageEdited { seq, message, .. } => {
                self.chat_event(message.chat_id, seq);
                self.replace_message(message);
            }
            ServerEvent::MessageDeleted { seq, message, .. } => {
                let me = self.me.as_ref().map(|me| me.id);
                requests.extend(self.recount_if_elsewhere(message.chat_id));
                if self.chat_event(message.chat_id, seq) {
                    // A deleted message someone else sent after my read position was counted.
                    if let Some(chat) = self.chats.iter_mut().find(|c| c.id == message.chat_id) {
                        let read = chat.read_through.unwrap_or(MessageId(0));
                        let counted = Some(message.sender_id) != me
                            && message.system.is_none()
                            && message.id > read;
                        if counted && chat.unread > 0 {
                            chat.unread -= 1;
                            self.touched(Change::Chat(message.chat_id));
                        }
                    }
                }
                self.replace_message(message);
            }
            ServerEvent::Receipt {
                seq,
                chat_id,
                user_id,
                read,
                unread,
                ..
            } => {
                let me = self.me.as_ref().map(|me| me.id);
                if Some(user_id) == me {
                    requests.extend(self.recount_if_elsewhere(chat_id));
                }
                if self.chat_event(chat_id, seq) {
                    if let Some(chat) = self.chats.iter_mut().find(|c| c.id == chat_id) {
                        for member in chat.members.iter_mut().filter(|m| m.user.id == user_id) {
                            member.read = member.read.max(Some(read));
                        }
                        // Read on one of my devices: every other one takes the position and count.
                        if Some(user_id) == me {
                            chat.read_through = chat.read_through.max(Some(read));
                            chat.unread = unread;
                        }
                        self.touched(Change::Chat(chat_id));
                    }
                }
            }
            ServerEvent::ChatMuted {
                seq,
                chat_id,
                muted,
                ..
            } => {
                requests.extend(self.recount_if_elsewhere(chat_id));
                if self.user_event(seq) {
                    if let Some(chat) = self.chats.iter_mut().find(|c| c.id == chat_id) {
                        chat.muted = muted;
                        self.touched(Change::Chat(chat_id));
                    }
                }
            }
            ServerEvent::ChatNew { seq, chat, .. } => {
                self.user_event(seq);
                self.upsert_chat(chat);
            }
            ServerEvent::ChatDeleted { chat_id, .. } => {
                if self.rooms.found.iter().any(|room| room.chat_id == chat_id) {
                    self.rooms.found.retain(|room| room.chat_id != chat_id);
                    self.touched(Change::Rooms);
                }
                if self.forget_chat(chat_id) {
                    self.notice = Some("A group you were in was deleted.".into());
                    self.touched(Change::Notice);
                } else {
                    requests.extend(self.recount_elsewhere());
                }
            }
            ServerEvent::ContactChanged { seq, contact, .. } => {
                if self.user_event(seq) {
                    self.set_contact(contact);
                }
            }
            ServerEvent::SettingsChanged { seq, settings, .. } => {
                if self.user_event(seq) {
                    self.settings = settings;
                    self.touched(Change::Settings);
                }
            }
            ServerEvent::StatusChanged { seq, status, .. } => {
                if self.user_event(seq) {
                    self.status = status;
                    self.touched(Change::Status);
                }
            }
            ServerEvent::WaitingChanged { seq, waiting, .. } => {
                if self.user_event(seq) {
                    self.waiting = waiting;
                    self.touched(Change::Waiting);
                }
            }
            ServerEvent::UserArrived { pos, seq, user } => {
                self.user_event(seq);
                if self.waiting.iter().any(|waited| waited.id == user.id) {
                    self.waiting.retain(|waited| waited.id != user.id);
                    self.touched(Change::Waiting);
                }
                // `ready` after a reconnect holds the wait's end but not the news of it: an arrival
                // the `sync` replays is still told, once.
                if unseen && self.arrival_positions.insert(pos) {
                    self.arrivals.retain(|shown| shown.id != user.id);
                    self.arrivals.push(user);
                    self.touched(Change::Arrivals);
                }
            }
            ServerEvent::UserStatus { person } => self.set_person(person),
            ServerEvent::Typing {
                chat_id,
                user,
                typing,
            } => self.set_typing(chat_id, user, typing),
        }
        requests
    }

    fn apply_reply(&mut self, id: RequestId, reply: Reply) -> Vec<Request> {
        match reply {
            Reply::People { people, has_more } => {
                // Only the newest search counts: an answer to an older query is dropped.
                if self.search_request == Some(id) {
                    self.search_request = None;
                    let found = &mut self.directory.found;
                    for entry in people {
                        if found.iter().all(|known| known.user.id != entry.user.id) {
                            found.push(entry);
                        }
                    }
                    self.directory.has_more = has_more;
                    self.touched(Change::Directory);
                }
            }
            Reply::Chat { chat } => {
                let id = chat.id;
                self.upsert_chat(chat);
                return self.select_chat(id);
            }
            Reply::Chats { chats, has_more } => {
                for chat in chats {
                    self.upsert_chat(chat);
                }
                self.set_more_chats(has_more);
                // News waits on for a chat this page did not hold (an older page answered first).
                for message in std::mem::take(&mut self.news_waiting) {
                    match self.chats.iter().find(|chat| chat.id == message.chat_id) {
                        Some(chat) if !chat.muted => self.tell_news(&message),
                        Some(_) => {}
                        None => self.news_waiting.push(message),
                    }
                }
                // Chats counted elsewhere may be loaded now.
                return self.recount_elsewhere().into_iter().collect();
            }
            Reply::Left { chat_id } => {
                self.forget_chat(chat_id);
            }
            // The receipt that follows a read carries its count.
            Reply::Ok | Reply::Read { .. } => {}
            Reply::Unread { messages, .. } => {
                let Some(recount) = self.recount.filter(|recount| recount.request == id) else {
                    return Vec::new();
                };
                self.recount = None;
                // Counted beyond a chat no longer the last loaded: it counts loaded ones too.
                let current = recount.before == self.chats.last().map(Chat::position);
                if current {
                    self.set_unread_elsewhere(if self.more_chats { messages } else { 0 });
                }
                if recount.again || !current {
                    return self.recount_elsewhere().into_iter().collect();
                }
            }
            Reply::Rooms { rooms, has_more } => {
                self.rooms = Rooms {
                    searched: true,
                    found: rooms,
                    has_more,
                };
                self.touched(Change::Rooms);
            }
            Reply::Bans { chat_id, users } => {
                self.bans.insert(chat_id, users);
                self.touched(Change::Bans);
            }
            Reply::Versions {
                message_id,
                versions,
            } => {
                self.versions = Some((message_id, versions));
                self.touched(Change::Versions);
            }
            Reply::Message { message } => self.add_message(message),
            Reply::Contact { contact } => {
                if self.friend_form_request == Some(id) {
                    self.friend_form_request = None;
                    self.set_friend_form_error(None);
                }
                self.set_contact(contact);
            }
            Reply::Contacts { contacts } => self.set_contacts(contacts),
            Reply::Settings { settings } => {
                self.settings = settings;
                self.touched(Change::Settings);
            }
            Reply::Status { status } => {
                self.status = status;
                self.touched(Change::Status);
            }
            Reply::Waiting { waiting } => {
                self.waiting = waiting;
                self.touched(Change::Waiting);
            }
            Reply::History {
                chat_id,
                messages,
                has_more,
            } => {
                // A page asked for a window since dropped would leave a gap: it is not taken in.
                let Some((_, page, generation)) = self.pages.remove(&id) else {
                    return Vec::new();
                };
                let conversation = self.conversation(chat_id);
                if conversation.generation != generation {
                    return Vec::new();
                }
                match page {
                    Page::Newer => conversation.has_newer = has_more,
                    Page::Older => conversation.has_more = Some(has_more),
                }
                self.touched(Change::HasMore(chat_id));
                for message in messages {
                    self.insert_message(message);
                }
            }
            Reply::Sync {
                events,
                pos,
                has_more,
            } => {
                let mut requests = Vec::new();
                for event in events {
                    requests.extend(self.step(event));
                }
                let Some(position) = self.position.as_mut() else {
                    return requests;
                };
                position.pos = position.pos.max(pos);
                if has_more {
                    let sync = ClientEvent::Sync {
                        epoch: position.epoch.clone(),
                        after: pos,
                    };
                    requests.push(self.request(sync));
                } else if let Some(pushed) = self.syncing.take() {
                    // Caught up: from here the pushes are complete.
                    position.pos = position.pos.max(pushed);
                }
                return requests;
            }
        }
        Vec::new()
    }

    fn apply_error(&mut self, id: Option<RequestId>, error: ApiError) -> Vec<Request> {
        match error.code {
            ErrorCode::ResyncRequired => {
                self.reload = true;
                return Vec::new();
            }
            ErrorCode::Unauthorized => {
                self.logged_out = true;
                return Vec::new();
            }
            _ => {}
        }
        if id.is_some() && id == self.friend_form_request {
            self.friend_form_request = None;
            self.set_friend_form_error(Some(error.message));
            return Vec::new();
        }
        if id.is_some() && id == self.search_request {
            self.search_request = None;
        }
        // A count asked in the background tells no one it failed; the next change asks again.
        if let Some(recount) = self.recount.filter(|recount| Some(recount.request) == id) {
            self.recount = None;
            if !recount.again {
                return Vec::new();
            }
            return self.recount_elsewhere().into_iter().collect();
        }
        if id.is_some() && id == self.settings_request {
            self.settings_request = None;
            self.touched(Change::Settings);
        }
        // A page that failed is not waited for; "back to latest" or scrolling asks again.
        if let Some(id) = id {
            self.pages.remove(&id);
        }
        if let Some((chat_id, nonce)) = id.and_then(|id| self.sends.remove(&id)) {
            let pending = self
                .conversations
                .get_mut(&chat_id)
                .and_then(|conversation| {
                    conversation.pending.iter_mut().find(|p| p.nonce == nonce)
                });
            if let Some(pending) = pending {
                pending.failed = Some(error.message.clone());
                self.touched(Change::Pending(chat_id));
            }
        }
        self.notice = Some(error.message);
        self.touched(Change::Notice);
        Vec::new()
    }

    /// Takes the log position of an applied push.
    fn pushed(&mut self, pos: Pos) {
        match (&mut self.syncing, &mut self.position) {
            (Some(pushed), _) => *pushed = (*pushed).max(pos),
            (None, Some(position)) => position.pos = position.pos.max(pos),
            (None, None) => {}
        }
    }

    /// Drops what the loaded picture rests on, when `reload` asks for it: the socket then reconnects
    /// and the next `ready` starts afresh. Unacknowledged sends stay, to be sent again, and so does
    /// the open chat's (emptied) entry. True if it did.
    fn reset_if_reloading(&mut self) -> bool {
        if !std::mem::take(&mut self.reload) {
            return false;
        }
        self.position = None;
        self.syncing = None;
        self.user_seq = 0;
        self.chats.clear();
        let selected = self.selected;
        self.pages.clear();
        self.conversations.retain(|id, conversation| {
            conversation.messages.clear();
            conversation.has_more = None;
            conversation.has_newer = false;
            conversation.read_when_opened = None;
            conversation.generation += 1;
            !conversation.pending.is_empty() || Some(*id) == selected
        });
        self.touched(Change::All);
        true
    }

    /// Shows a chat, loading its history the first time.
    pub fn select(&mut self, chat_id: ChatId) -> Effects {
        let requests = self.select_chat(chat_id);
        self.effects(requests)
    }

    fn select_chat(&mut self, chat_id: ChatId) -> Vec<Request> {
        if self.selected != Some(chat_id) {
            self.selected = Some(chat_id);
            self.touched(Change::Selected);
            self.clear_notice();
            self.forget_heard();
        }
        self.conversation(chat_id);
        self.load_history_if_missing(chat_id)
    }

    /// The conversation of `chat_id`, created empty the first time.
    fn conversation(&mut self, chat_id: ChatId) -> &mut Conversation {
        if !self.conversations.contains_key(&chat_id) {
            self.touched(Change::Conversations);
        }
        self.conversations.entry(chat_id).or_default()
    }

    /// The first pages of a chat not loaded yet: the newest, or, with messages unread, the first
    /// unread ones and a few before them.
    fn load_history_if_missing(&mut self, chat_id: ChatId) -> Vec<Request> {
        let loaded = self
            .conversations
            .get(&chat_id)
            .is_some_and(|conversation| conversation.has_more.is_some());
        if loaded {
            return Vec::new();
        }
        let unread_from = self
            .chats
            .iter()
            .find(|chat| chat.id == chat_id && chat.unread > 0)
            .map(|chat| chat.read_through.unwrap_or(MessageId(0)));
        let Some(read) = unread_from else {
            let conversation = self.conversation(chat_id);
            conversation.has_newer = false;
            conversation.read_when_opened = None;
            return vec![self.page(chat_id, None, Page::Older, None)];
        };
        let conversation = self.conversation(chat_id);
        conversation.has_newer = true;
        conversation.read_when_opened = Some(read);
        self.touched(Change::HasMore(chat_id));
        let context = Some(CONTEXT_BEFORE_UNREAD);
        vec![
            self.page(chat_id, Some(MessageId(read.0 + 1)), Page::Older, context),
            self.page(chat_id, Some(read), Page::Newer, None),
        ]
    }

    /// A request for the page of `chat_id`'s history next to `from`, in the direction `page`.
    fn page(
        &mut self,
        chat_id: ChatId,
        from: Option<MessageId>,
        page: Page,
        limit: Option<u32>,
    ) -> Request {
        let (before, after) = match page {
            Page::Older => (from, None),
            Page::Newer => (None, from),
        };
        let request = self.request(ClientEvent::MessageHistory {
            chat_id,
            before,
            after,
            limit,
        });
        let generation = self.conversation(chat_id).generation;
        self.pages.insert(request.id, (chat_id, page, generation));
        request
    }

    /// The next page of older messages, if there is one.
    pub fn load_older(&mut self, chat_id: ChatId) -> Effects {
        let Some(conversation) = self.conversations.get(&chat_id) else {
            return Effects::default();
        };
        if conversation.has_more != Some(true) {
            return Effects::default();
        }
        let before = conversation.messages.first().map(|message| message.id);
        let request = self.page(chat_id, before, Page::Older, None);
        self.effects(vec![request])
    }

    /// The next page of newer messages, while the chat is open back at its first unread.
    pub fn load_newer(&mut self, chat_id: ChatId) -> Effects {
        let Some(conversation) = self.conversations.get(&chat_id) else {
            return Effects::default();
        };
        if !conversation.has_newer {
            return Effects::default();
        }
        let after = conversation.messages.last().map(|message| message.id);
        let Some(after) = after else {
            return Effects::default();
        };
        let request = self.page(chat_id, Some(after), Page::Newer, None);
        self.effects(vec![request])
    }

    /// Leaves the older messages opened at and shows the newest, as a fresh first page.
    pub fn back_to_latest(&mut self, chat_id: ChatId) -> Effects {
        let request = self.reload_latest(chat_id);
        self.effects(request.into_iter().collect())
    }

    fn reload_latest(&mut self, chat_id: ChatId) -> Option<Request> {
        let conversation = self.conversations.get_mut(&chat_id)?;
        if !conversation.has_newer {
            return None;
        }
        conversation.messages.clear();
        conversation.has_more = None;
        conversation.has_newer = false;
        conversation.read_when_opened = None;
        conversation.generation += 1;
        self.touched(Change::Messages(chat_id));
        self.touched(Change::HasMore(chat_id));
        Some(self.page(chat_id, None, Page::Older, None))
    }

    /// The next page of chats, older than the oldest loaded, if the server has more.
    pub fn load_more_chats(&mut self) -> Effects {
        if !self.more_chats {
            return Effects::default();
        }
        let before = self.chats.last().map(Chat::position);
        let request = self.request(ClientEvent::ChatsList {
            before,
            limit: None,
        });
        self.effects(vec![request])
    }

    /// Opens (creating if need be) the direct chat with `user_id`; the reply selects it.
    pub fn open_direct(&mut self, user_id: UserId) -> Effects {
        let request = self.request(ClientEvent::ChatOpen { user_id });
        self.effects(vec![request])
    }

    fn clear_notice(&mut self) {
        if self.notice.take().is_some() {
            self.touched(Change::Notice);
        }
    }

    /// Shows a notice the person should read.
    pub fn tell(&mut self, notice: String) -> Effects {
        self.notice = Some(notice);
        self.touched(Change::Notice);
        self.effects(Vec::new())
    }

    /// Queues a message as pending and sends it.
    pub fn send(&mut self, chat_id: ChatId, body: MessageBody, nonce: String) -> Effects {
        // Sending ends typing there, on the server's side too.
        self.my_typing
            .take_if(|(typing_in, _)| *typing_in == chat_id);
        // What is sent shows at the end of the conversation, so that is where it goes.
        let latest = self.reload_latest(chat_id);
        let body = body.into_inner();
        self.conversation(chat_id).pending.push(Pending {
            nonce: nonce.clone(),
            body: body.clone(),
            failed: None,
        });
        self.touched(Change::Pending(chat_id));
        let request = self.request(ClientEvent::MessageSend {
            chat_id,
            nonce,
            body,
        });
        self.effects(latest.into_iter().chain([request]).collect())
    }

    /// The composer of `chat_id` holds text (`typing`) or not, at `now`: tells the chat when typing
    /// begins, again every `TYPING_REPEAT_MS` while it goes on, and when it ends.
    pub fn composing(&mut self, chat_id: ChatId, typing: bool, now: Timestamp) -> Effects {
        let mut requests = Vec::new();
        let stop = |chat_id| ClientEvent::TypingStop { chat_id };
        match (typing, self.my_typing) {
            (true, Some((chat, at))) if chat == chat_id && now - at < TYPING_REPEAT_MS => {}
            (true, previous) => {
                if let Some((elsewhere, _)) = previous.filter(|(chat, _)| *chat != chat_id) {
                    requests.push(self.request(stop(elsewhere)));
                }
                requests.push(self.request(ClientEvent::TypingStart { chat_id }));
                self.my_typing = Some((chat_id, now));
            }
            (false, Some((chat, _))) => {
                requests.push(self.request(stop(chat)));
                self.my_typing = None;
            }
            (false, None) => {}
        }
        self.effects(requests)
    }

    /// Takes in that `user` began or stopped typing in `chat_id`.
    fn set_typing(&mut self, chat_id: ChatId, user: User, typing: bool) {
        let typists = self.typing.entry(chat_id).or_default();
        let known = typists.iter().any(|typist| typist.id == user.id);
        match (typing, known) {
            (true, false) => typists.push(user),
            (false, true) => typists.retain(|typist| typist.id != user.id),
            _ => return,
        }
        if typists.is_empty() {
            self.typing.remove(&chat_id);
        }
        self.touched(Change::Typing(chat_id));
    }

    /// Searches the directory for people whose name starts with `query`; a blank query clears it.
    pub fn search(&mut self, query: &str) -> Effects {
        let query = query.trim().to_string();
        if !crate::model::could_start_a_username(&query) {
            return self.tell(crate::protocol::Refusal::SearchQueryInvalid.to_string());
        }
        self.directory = Directory {
            query: query.clone(),
            ..Directory::default()
        };
        self.touched(Change::Directory);
        self.search_request = None;
        if query.is_empty() {
            return self.effects(Vec::new());
        }
        self.search_page(None)
    }

    /// The next page of the directory's answer, if there is one.
    pub fn search_more(&mut self) -> Effects {
        if !self.directory.has_more || self.search_request.is_some() {
            return Effects::default();
        }
        let after = self
            .directory
            .found
            .last()
            .map(|entry| entry.user.username.clone());
        self.search_page(after)
    }

    fn search_page(&mut self, after: Option<String>) -> Effects {
        let request = self.request(ClientEvent::UsersSearch {
            query: self.directory.query.clone(),
            after,
            limit: None,
        });
        self.search_request = Some(request.id);
        self.effects(vec![request])
    }

    /// Asks someone, by name, to be friends; a refusal is shown beside the form.
    pub fn add_friend(&mut self, username: &str) -> Effects {
        let request = self.request(ClientEvent::FriendRequest {
            user_id: None,
            username: Some(username.trim().to_string()),
        });
        self.friend_form_request = Some(request.id);
        self.set_friend_form_error(None);
        self.effects(vec![request])
    }

    fn set_friend_form_error(&mut self, error: Option<String>) {
        if self.friend_form_error != error {
            self.friend_form_error = error;
            self.touched(Change::FriendFormError);
        }
    }

    /// Does `action` about `user`.
    pub fn act(&mut self, action: PersonAction, user_id: UserId) -> Effects {
        let event = match action {
            PersonAction::Befriend => ClientEvent::FriendRequest {
                user_id: Some(user_id),
                username: None,
            },
            PersonAction::CancelRequest => ClientEvent::FriendCancel { user_id },
            PersonAction::Accept => ClientEvent::FriendAccept { user_id },
            PersonAction::Reject => ClientEvent::FriendReject { user_id },
            PersonAction::Unfriend => ClientEvent::FriendRemove { user_id },
            PersonAction::Block => ClientEvent::UserBlock { user_id },
            PersonAction::Unblock => ClientEvent::UserUnblock { user_id },
            PersonAction::Wait => ClientEvent::UserWait { user_id },
            PersonAction::StopWaiting => ClientEvent::UserStopWaiting { user_id },
        };
        let request = self.request(event);
        self.effects(vec![request])
    }

    /// Changes my settings to `settings`.
    pub fn change_settings(&mut self, settings: Settings) -> Effects {
        let request = self.request(ClientEvent::SettingsUpdate {
            direct_messages: Some(settings.direct_messages),
            friend_requests: Some(settings.friend_requests),
            presence_visibility: Some(settings.presence_visibility),
        });
        self.settings_request = Some(request.id);
        self.effects(vec![request])
    }

    /// Sets my presence mode and status text.
    pub fn set_status(&mut self, mode: PresenceMode, text: String) -> Effects {
        let request = self.request(ClientEvent::StatusSet { mode, text });
        self.effects(vec![request])
    }

    /// Forgets the news that `user` came online, once shown.
    pub fn dismiss_arrival(&mut self, user: UserId) -> Effects {
        self.arrivals.retain(|arrived| arrived.id != user);
        self.touched(Change::Arrivals);
        self.effects(Vec::new())
    }

    /// Goes back from a conversation to the lists (on narrow screens, a view of their own).
    pub fn deselect(&mut self) -> Effects {
        self.selected = None;
        self.touched(Change::Selected);
        self.clear_notice();
        self.forget_heard();
        self.effects(Vec::new())
    }

    /// Takes in the `seq` of an event of a chat; true if it is newer than what the chat held (a
    /// chat not loaded has nothing to compare with: its next load shows the event).
    fn chat_event(&mut self, chat_id: ChatId, seq: Seq) -> bool {
        let Some(chat) = self.chats.iter_mut().find(|chat| chat.id == chat_id) else {
            return false;
        };
        self.reload |= self.syncing.is_none() && seq > chat.seq + 1;
        let fresh = seq > chat.seq;
        chat.seq = chat.seq.max(seq);
        fresh
    }

    /// Sends one request.
    fn ask(&mut self, event: ClientEvent) -> Effects {
        let request = self.request(event);
        self.effects(vec![request])
    }

    /// Creates a group of me and `members`; it opens once the server has it.
    pub fn create_group(&mut self, title: &str, members: Vec<UserId>, public: bool) -> Effects {
        if let Err(refusal) = GroupTitle::parse(title) {
            return self.tell(refusal.to_string());
        }
        self.ask(ClientEvent::GroupCreate {
            title: title.to_string(),
            members,
            public,
        })
    }

    pub fn rename_group(&mut self, chat_id: ChatId, title: &str) -> Effects {
        if let Err(refusal) = GroupTitle::parse(title) {
            return self.tell(refusal.to_string());
        }
        self.ask(ClientEvent::GroupUpdate {
            chat_id,
            title: Some(title.to_string()),
            public: None,
        })
    }

    pub fn make_public(&mut self, chat_id: ChatId, public: bool) -> Effects {
        self.ask(ClientEvent::GroupUpdate {
            chat_id,
            title: None,
            public: Some(public),
        })
    }

    pub fn add_to_group(&mut self, chat_id: ChatId, user_ids: Vec<UserId>) -> Effects {
        self.ask(ClientEvent::GroupAdd { chat_id, user_ids })
    }

    pub fn remove_from_group(&mut self, chat_id: ChatId, user_id: UserId, ban: bool) -> Effects {
        self.ask(ClientEvent::GroupRemove {
            chat_id,
            user_id,
            ban,
        })
    }

    pub fn set_role(&mut self, chat_id: ChatId, user_id: UserId, role: Role) -> Effects {
        self.ask(ClientEvent::GroupSetRole {
            chat_id,
            user_id,
            role,
        })
    }

    pub fn leave(&mut self, chat_id: ChatId) -> Effects {
        self.ask(ClientEvent::ChatLeave { chat_id })
    }

    pub fn delete_group(&mut self, chat_id: ChatId) -> Effects {
        self.ask(ClientEvent::GroupDelete { chat_id })
    }

    pub fn load_bans(&mut self, chat_id: ChatId) -> Effects {
        self.ask(ClientEvent::GroupBans { chat_id })
    }

    pub fn unban(&mut self, chat_id: ChatId, user_id: UserId) -> Effects {
        self.ask(ClientEvent::GroupUnban { chat_id, user_id })
    }

    /// Lists public groups whose title holds `query` (all of them for a blank one).
    pub fn search_rooms(&mut self, query: &str) -> Effects {
        let query = query.trim();
        self.ask(ClientEvent::RoomsList {
            query: (!query.is_empty()).then(|| query.to_string()),
            before: None,
            limit: None,
        })
    }

    pub fn join_room(&mut self, chat_id: ChatId) -> Effects {
        self.ask(ClientEvent::ChatJoin { chat_id })
    }

    pub fn edit_message(&mut self, message_id: MessageId, body: MessageBody) -> Effects {
        self.ask(ClientEvent::MessageEdit {
            message_id,
            body: body.into_inner(),
        })
    }

    pub fn delete_message(&mut self, message_id: MessageId) -> Effects {
        self.ask(ClientEvent::MessageDelete { message_id })
    }

    pub fn load_versions(&mut self, message_id: MessageId) -> Effects {
        self.ask(ClientEvent::MessageVersions { message_id })
    }

    /// Mutes or unmutes a chat, on every device once the server has it.
    pub fn mute(&mut self, chat_id: ChatId, muted: bool) -> Effects {
        self.ask(ClientEvent::ChatMute { chat_id, muted })
    }

    /// Marks the open chat read up to `seen`, a loaded message that was on screen, if that is
    /// further than I have read: called while the page is in view.
    pub fn read_up_to(&mut self, chat_id: ChatId, seen: MessageId) -> Effects {
        let Some(me) = self.me.as_ref().map(|me| me.id) else {
            return self.effects(Vec::new());
        };
        let Some(conversation) = self.conversations.get(&chat_id) else {
            return self.effects(Vec::new());
        };
        if conversation
            .messages
            .iter()
            .all(|message| message.id != seen)
        {
            return self.effects(Vec::new());
        }
        // Seen to the end, nothing is left unread; else the receipt that follows brings the count.
        let all_read = !conversation.has_newer
            && conversation.messages.last().map(|message| message.id) == Some(seen);
        let Some(chat) = self.chats.iter_mut().find(|chat| chat.id == chat_id) else {
            return self.effects(Vec::new());
        };
        if Some(seen) <= chat.read_through {
            return self.effects(Vec::new());
        }
        let Some(member) = chat.members.iter_mut().find(|m| m.user.id == me) else {
            return self.effects(Vec::new());
        };
        member.read = Some(seen);
        chat.read_through = Some(seen);
        if all_read {
            chat.unread = 0;
        }
        self.touched(Change::Chat(chat_id));
        let request = self.request(ClientEvent::ChatRead {
            chat_id,
            message_id: seen,
        });
        self.effects(vec![request])
    }

    /// Takes in the `seq` of one of my own events; false if it is one applied already. A skipped
    /// `seq` means one was missed.
    fn user_event(&mut self, seq: Seq) -> bool {
        self.reload |= self.syncing.is_none() && seq > self.user_seq + 1;
        let new = seq > self.user_seq;
        self.user_seq = self.user_seq.max(seq);
        new
    }

    /// Asks the server's count of the chats beyond those loaded again, while there are any.
    fn recount_elsewhere(&mut self) -> Option<Request> {
        if !self.more_chats {
            self.set_unread_elsewhere(0);
            return None;
        }
        if let Some(recount) = &mut self.recount {
            recount.again = true;
            return None;
        }
        let before = self.chats.last().map(Chat::position);
        let request = self.request(ClientEvent::UnreadCount { before });
        self.recount = Some(Recount {
            request: request.id,
            before,
            again: false,
        });
        Some(request)
    }

    /// The count of chats beyond those loaded changes by an event about one of them.
    fn recount_if_elsewhere(&mut self, chat_id: ChatId) -> Option<Request> {
        let loaded = self.chats.iter().any(|chat| chat.id == chat_id);
        if loaded {
            return None;
        }
        self.recount_elsewhere()
    }

    fn set_unread_elsewhere(&mut self, unread: u32) {
        if self.unread_elsewhere != unread {
            self.unread_elsewhere = unread;
            self.touched(Change::UnreadElsewhere);
        }
    }

    fn set_more_chats(&mut self, more: bool) {
        if self.more_chats != more {
            self.more_chats = more;
            self.touched(Change::MoreChats);
        }
    }

    fn set_contacts(&mut self, contacts: Vec<Contact>) {
        self.contacts = contacts
            .into_iter()
            .map(|contact| (contact.user.id, contact))
            .collect();
        self.touched(Change::Contacts);
    }

    fn set_contact(&mut self, contact: Contact) {
        let listed = self
            .directory
            .found
            .iter_mut()
            .find(|entry| entry.user.id == contact.user.id);
        if let Some(entry) = listed.filter(|entry| entry.relation != contact.relation) {
            entry.relation = contact.relation;
            self.touched(Change::Directory);
        }
        if contact.relation == Relation::None {
            self.contacts.remove(&contact.user.id);
        } else {
            self.contacts.insert(contact.user.id, contact);
        }
        self.touched(Change::Contacts);
    }

    fn set_people(&mut self, mut people: Vec<Person>) {
        let me = self.me.as_ref().map(|user| user.id);
        people.retain(|person| Some(person.user.id) != me);
        people.sort_by(|a, b| a.user.username.cmp(&b.user.username));
        self.people = people;
    }

    /// Takes in one person's presence: in place if they are listed, else in their place by name.
    fn set_person(&mut self, person: Person) {
        if self.me.as_ref().is_some_and(|me| me.id == person.user.id) {
            return;
        }
        let id = person.user.id;
        match self.people.iter_mut().find(|known| known.user.id == id) {
            Some(known) if *known == person => {}
            Some(known) => {
                *known = person;
                self.touched(Change::Person(id));
            }
            None => {
                let at = self
                    .people
                    .partition_point(|known| known.user.username < person.user.username);
                self.people.insert(at, person);
                self.touched(Change::PeopleList);
            }
        }
    }

    fn upsert_chat(&mut self, mut chat: Chat) {
        let id = chat.id;
        match self.chats.iter_mut().find(|known| known.id == id) {
            // A page read before events already applied here would undo them (a read, a member
            // come or gone): the chat as held stays, but for a newer preview below.
            Some(known) if known.seq > chat.seq => {
                if chat.position() > known.position() {
                    known.active_at = chat.active_at;
                    known.last_message = chat.last_message.take();
                    self.touched(Change::Chat(id));
                }
            }
            Some(known) => {
                // Keep whichever preview is newer: a page may be older than a push already applied.
                if known.position() > chat.position() {
                    chat.active_at = known.active_at;
                    chat.last_message = known.last_message.take();
                }
                if *known != chat {
                    *known = chat;
                    self.touched(Change::Chat(id));
                }
            }
            None => {
                self.chats.push(chat);
                self.touched(Change::ChatList);
            }
        }
        let held = self.chats.iter().find(|chat| chat.id == id);
        let size = held.and_then(|chat| room_size(chat, self.me.as_ref()));
        self.follow_room(id, size);
        self.sort_chats();
    }

    /// What was read out belongs to the chat that was open; a chat opened anew starts silent.
    fn forget_heard(&mut self) {
        if self.heard.take().is_some() {
            self.touched(Change::Heard);
        }
    }

    /// Keeps `message`, just arrived from someone else, to be read out if its chat is open.
    fn hear(&mut self, message: &Message) {
        if self.selected != Some(message.chat_id) {
            return;
        }
        let text = match message.system {
            Some(_) => message.body.clone(),
            None => format!("{}: {}", self.username(message.sender_id), message.body),
        };
        self.heard = Some((message.chat_id, message.id, text));
        self.touched(Change::Heard);
    }

    /// Keeps `message` as news for a notification; only the newest few wait.
    fn tell_news(&mut self, message: &Message) {
        let me = self.me.as_ref().map(|me| me.id);
        let Some(chat) = self.chats.iter().find(|chat| chat.id == message.chat_id) else {
            return;
        };
        let title = chat_title(chat, me);
        let sender = self.username(message.sender_id);
        let preview = MessagePreview::of(message);
        let more = if preview.truncated { "…" } else { "" };
        self.news.push(News {
            chat_id: message.chat_id,
            title,
            text: format!("{sender}: {}{more}", preview.text),
        });
        if self.news.len() > NEWS_KEPT {
            self.news.remove(0);
        }
        self.touched(Change::News);
    }

    /// The news waiting to be shown, taken.
    pub fn take_news(&mut self) -> (Vec<News>, Effects) {
        let news = std::mem::take(&mut self.news);
        if !news.is_empty() {
            self.touched(Change::News);
        }
        (news, self.effects(Vec::new()))
    }

    /// Applies a change to a group that a system line tells of, made by `actor`. Someone removed
    /// keeps the chat and what they saw, without a say in it.
    fn changed_group(&mut self, chat_id: ChatId, actor: UserId, change: &GroupChange) {
        let Some(chat) = self.chats.iter_mut().find(|chat| chat.id == chat_id) else {
            return;
        };
        let join = |chat: &mut Chat, user: &User| {
            if chat.role_of(user.id).is_none() {
                chat.members.push(Member {
                    user: user.clone(),
                    role: Role::Member,
                    read: None,
                });
            }
        };
        match change {
            GroupChange::Created { .. } => return,
            GroupChange::Renamed { title } => chat.title = Some(title.clone()),
            GroupChange::Visibility { public } => chat.public = *public,
            GroupChange::Added { users } => users.iter().for_each(|user| join(chat, user)),
            GroupChange::Joined { user } => join(chat, user),
            GroupChange::Removed { user, .. } => {
                chat.members.retain(|m| m.user.id != user.id);
                // Out of the group, nothing in it waits for me any more.
                if self.me.as_ref().is_some_and(|me| me.id == user.id) {
                    chat.unread = 0;
                    chat.muted = false;
                }
            }
            GroupChange::Left { new_owner } => {
                chat.members.retain(|member| member.user.id != actor);
                let owner = new_owner.as_ref().map(|owner| owner.id);
                for member in chat.members.iter_mut().filter(|m| Some(m.user.id) == owner) {
                    member.role = Role::Owner;
                }
            }
            GroupChange::RoleChanged { user, role } => {
                for member in chat.members.iter_mut().filter(|m| m.user.id == user.id) {
                    member.role = *role;
                }
            }
        }
        let size = room_size(chat, self.me.as_ref());
        self.touched(Change::Chat(chat_id));
        self.follow_room(chat_id, size);
        // The list of bans, if it is open, follows: a ban adds to it, and adding someone lifts
        // theirs.
        match change {
            GroupChange::Removed { user, banned } => {
                let bans = self.bans.get_mut(&chat_id);
                if let Some(bans) = bans.filter(|bans| *banned && !bans.contains(user)) {
                    bans.push(user.clone());
                    self.touched(Change::Bans);
                }
            }
            GroupChange::Added { users } => {
                let bans = self.bans.get_mut(&chat_id);
                if let Some(bans) = bans.filter(|bans| bans.iter().any(|b| users.contains(b))) {
                    bans.retain(|banned| !users.contains(banned));
                    self.touched(Change::Bans);
                }
            }
            _ => {}
        }
    }

    /// The room directory's row of `chat_id`, if it was found, follows the group: whether I am in
    /// it, and its size (`Some` while I am in it and see its members; else the row's count, with
    /// me counted out if I just left).
    fn follow_room(&mut self, chat_id: ChatId, size: Option<u32>) {
        let found = &mut self.rooms.found;
        let Some(room) = found.iter_mut().find(|room| room.chat_id == chat_id) else {
            return;
        };
        let joined = size.is_some();
        let count = size.unwrap_or(if room.joined {
            room.member_count.saturating_sub(1)
        } else {
            room.member_count
        });
        if (room.joined, room.member_count) != (joined, count) {
            room.joined = joined;
            room.member_count = count;
            self.touched(Change::Rooms);
        }
    }

    /// Drops a chat the user is no longer in, and its conversation; true if it was loaded.
    fn forget_chat(&mut self, chat_id: ChatId) -> bool {
        let loaded = self.chats.iter().any(|chat| chat.id == chat_id);
        self.follow_room(chat_id, None);
        self.chats.retain(|chat| chat.id != chat_id);
        self.conversations.remove(&chat_id);
        if self.selected == Some(chat_id) {
            self.selected = None;
            self.touched(Change::Selected);
        }
        self.touched(Change::ChatList);
        self.touched(Change::Conversations);
        loaded
    }

    /// Orders chats by activity; a chat that moved changes the list.
    fn sort_chats(&mut self) {
        let sorted = self
            .chats
            .windows(2)
            .all(|pair| pair[0].position() >= pair[1].position());
        if !sorted {
            self.chats
                .sort_by_key(|chat| std::cmp::Reverse(chat.position()));
            self.touched(Change::ChatList);
        }
    }

    /// Takes in a message as it is now (edited or deleted), where it is loaded and in its chat's
    /// preview.
    fn replace_message(&mut self, message: Message) {
        let chat_id = message.chat_id;
        if let Some(conversation) = self.conversations.get_mut(&chat_id) {
            if let Ok(at) = conversation
                .messages
                .binary_search_by_key(&message.id, |known| known.id)
            {
                if conversation.messages[at] != message {
                    conversation.messages[at] = message.clone();
                    self.touched(Change::Message(chat_id, message.id));
                }
            }
        }
        if let Some(chat) = self.chats.iter_mut().find(|chat| chat.id == chat_id) {
            let before = chat.last_message.clone();
            chat.saw(&message);
            if chat.last_message != before {
                self.touched(Change::Chat(chat_id));
            }
        }
    }

    /// Adds a message that arrived as news (a push, a reply, a sync), once: unless the chat is
    /// open further back, where it waits for "back to latest" (its preview shows it meanwhile).
    fn add_message(&mut self, message: Message) {
        let beyond = self
            .conversations
            .get(&message.chat_id)
            .is_some_and(|conversation| {
                conversation.has_newer
                    && conversation
                        .messages
                        .last()
                        .is_none_or(|newest| newest.id < message.id)
            });
        if beyond {
            let chat_id = message.chat_id;
            let conversation = self.conversation(chat_id);
            let before = conversation.pending.len();
            conversation
                .pending
                .retain(|pending| pending.nonce != message.nonce);
            if conversation.pending.len() != before {
                self.touched(Change::Pending(chat_id));
            }
            self.saw_in_chat(&message);
            return;
        }
        self.insert_message(message);
    }

    /// Adds a message once, however many times it arrives (reply, push, sync, history).
    fn insert_message(&mut self, message: Message) {
        let chat_id = message.chat_id;
        let mine = self.me.as_ref().map(|me| me.id) == Some(message.sender_id);
        let conversation = self.conversation(chat_id);
        let sent = mine
            && conversation
                .pending
                .iter()
                .any(|pending| pending.nonce == message.nonce);
        if sent {
            conversation
                .pending
                .retain(|pending| pending.nonce != message.nonce);
        }
        let (inserted, replaced) = match conversation
            .messages
            .binary_search_by_key(&message.id, |known| known.id)
        {
            // A later copy (an edit's reply, a page read since) shows it as it is now.
            Ok(at) if conversation.messages[at] != message => {
                conversation.messages[at] = message.clone();
                (false, true)
            }
            Ok(_) => (false, false),
            Err(at) => {
                conversation.messages.insert(at, message.clone());
                (true, false)
            }
        };
        if replaced {
            self.touched(Change::Message(chat_id, message.id));
        }
        if sent {
            self.touched(Change::Pending(chat_id));
        }
        if inserted {
            self.touched(Change::Messages(chat_id));
        }
        self.saw_in_chat(&message);
    }

    /// Takes `message` into its chat's preview and place in the list.
    fn saw_in_chat(&mut self, message: &Message) {
        let chat_id = message.chat_id;
        if let Some(chat) = self.chats.iter_mut().find(|chat| chat.id == chat_id) {
            let before = chat.last_message.clone();
            chat.saw(message);
            if chat.last_message != before {
                self.touched(Change::Chat(chat_id));
            }
        }
        self.sort_chats();
    }
}

/// How often a composer that is still being typed in says so again: well within the server's
/// lease (`limits::TYPING_LEASE_SECS`).
pub const TYPING_REPEAT_MS: Timestamp = 3_000;

/// Who has read my message, when the newest message shown (system lines aside) is mine: the
/// receipt under it. Empty otherwise.
pub fn seen_by<'a>(chat: &'a Chat, messages: &[Message], me: UserId) -> Vec<&'a User> {
    let newest = messages
        .iter()
        .rev()
        .find(|message| message.system.is_none());
    let Some(mine) =
        newest.filter(|message| message.sender_id == me && message.deleted_at.is_none())
    else {
        return Vec::new();
    };
    chat.members
        .iter()
        .filter(|member| member.user.id != me && member.read >= Some(mine.id))
        .map(|member| &member.user)
        .collect()
}

/// A group's size as its row in the room directory shows it, if `me` is in it.
fn room_size(chat: &Chat, me: Option<&User>) -> Option<u32> {
    let member = me.is_some_and(|me| chat.role_of(me.id).is_some());
    member.then(|| u32::try_from(chat.members.len()).unwrap_or(u32::MAX))
}

/// The unread messages of these chats, muted ones left out: for the page's title.
pub fn unread_total(chats: &[Chat]) -> u32 {
    chats
        .iter()
        .filter(|chat| !chat.muted)
        .map(|chat| chat.unread)
        .sum()
}

/// The line under a conversation telling who is typing, if anyone is.
pub fn typing_line(typists: &[User]) -> Option<String> {
    match typists {
        [] => None,
        [one] => Some(format!("{} is typing…", one.username)),
        [one, two] => Some(format!("{} and {} are typing…", one.username, two.username)),
        _ => Some("several people are typing…".into()),
    }
}

/// The name a chat is shown under, to `me`: a group's title, or the other member's name.
pub fn chat_title(chat: &Chat, me: Option<UserId>) -> String {
    if chat.kind == ChatKind::Group {
        return chat.title.clone().unwrap_or_else(|| "Group".into());
    }
    chat.peer(me.unwrap_or(UserId(0)))
        .map(|user| user.username.clone())
        .unwrap_or_else(|| "Just you".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MessageId, Presence, Status};

    fn user(id: i64, name: &str) -> User {
        User {
            id: UserId(id),
            username: name.into(),
        }
    }

    fn member(id: i64, name: &str) -> Member {
        Member {
            user: user(id, name),
            role: Role::Member,
            read: None,
        }
    }

    fn chat(id: i64) -> Chat {
        Chat {
            id: ChatId(id),
            kind: ChatKind::Direct,
            title: None,
            public: false,
            members: vec![member(1, "ann"), member(2, "bob")],
            created_at: 10,
            active_at: 10,
            last_message: None,
            seq: 0,
            unread: 0,
            muted: false,
            read_through: None,
        }
    }

    fn online() -> Presence {
        Presence {
            status: Status::Online,
            text: None,
            last_seen: None,
        }
    }

    fn body(text: &str) -> MessageBody {
        MessageBody::parse(text.into()).unwrap()
    }

    fn message(id: i64, sender: i64, nonce: &str) -> Message {
        Message {
            id: MessageId(id),
            chat_id: ChatId(1),
            sender_id: UserId(sender),
            nonce: nonce.into(),
            body: format!("body {id}"),
            sent_at: 100 + id,
            system: None,
            edited_at: None,
            deleted_at: None,
        }
    }

    fn ready(pos: Pos) -> ServerEvent {
        ready_with(pos, vec![chat(1)])
    }

    fn ready_with(pos: Pos, chats: Vec<Chat>) -> ServerEvent {
        ServerEvent::Ready {
            user: user(1, "ann"),
            epoch: "e1".into(),
            pos,
            user_seq: 0,
            people: vec![
                Person {
                    user: user(1, "ann"),
                    presence: Some(online()),
                },
                Person {
                    user: user(2, "bob"),
                    presence: None,
                },
            ],
            contacts: vec![],
            settings: Settings::default(),
            status: MyStatus::default(),
            waiting: vec![],
            chats,
            more_chats: false,
        }
    }

    #[test]
    fn first_ready_sets_the_position_and_hides_me_from_people() {
        let mut store = State::default();
        assert!(store.apply(ready(5)).requests.is_empty());
        assert_eq!(store.position.as_ref().map(|p| p.pos), Some(5));
        assert_eq!(store.people.len(), 1);
        assert_eq!(store.people[0].user.username, "bob");
        assert_eq!(chat_title(&store.chats[0], Some(UserId(1))), "bob");
    }

    /// A group of ann (me, the owner) and bob, at seq 1.
    fn group() -> Chat {
        Chat {
            kind: ChatKind::Group,
            title: Some("Team".into()),
            seq: 1,
            members: vec![
                Member {
                    role: Role::Owner,
                    ..member(1, "ann")
                },
                member(2, "bob"),
            ],
            ..chat(1)
        }
    }

    fn line(id: i64, sender: i64, change: GroupChange) -> Message {
        Message {
            system: Some(change),
            ..message(id, sender, &format!("system 1 {id}"))
        }
    }

    #[test]
    fn system_lines_change_the_group_once() {
        let mut store = State::default();
        store.apply(ready_with(5, vec![group()]));
        let cy = user(3, "cy");
        let added = line(
            10,
            1,
            GroupChange::Added {
                users: vec![cy.clone()],
            },
        );
        store.apply(ServerEvent::MessageNew {
            pos: 6,
            seq: 2,
            message: added.clone(),
        });
        assert_eq!(store.chats[0].role_of(cy.id), Some(Role::Member));
        // Replayed, it changes nothing more.
        store.apply(ServerEvent::MessageNew {
            pos: 6,
            seq: 2,
            message: added,
        });
        assert_eq!(store.chats[0].members.len(), 3);
        assert_eq!(store.conversations[&ChatId(1)].messages.len(), 1);
        let renamed = line(
            11,
            1,
            GroupChange::Renamed {
                title: "Crew".into(),
            },
        );
        store.apply(ServerEvent::MessageNew {
            pos: 7,
            seq: 3,
            message: renamed,
        });
        assert_eq!(chat_title(&store.chats[0], Some(UserId(1))), "Crew");
        let bob_left = line(12, 2, GroupChange::Left { new_owner: None });
        store.apply(ServerEvent::MessageNew {
            pos: 8,
            seq: 4,
            message: bob_left,
        });
        assert_eq!(store.chats[0].role_of(UserId(2)), None);
        // Removed, I keep the chat and what I saw, with no say in it.
        let removed = line(
            13,
            3,
            GroupChange::Removed {
                user: user(1, "ann"),
                banned: false,
            },
        );
        store.apply(ServerEvent::MessageNew {
            pos: 9,
            seq: 5,
            message: removed,
        });
        assert_eq!(store.chats[0].role_of(UserId(1)), None);
        assert_eq!(store.conversations[&ChatId(1)].messages.len(), 4);
    }

    #[test]
    fn leaving_or_a_deletion_takes_the_group_away() {
        let mut store = State::default();
        store.apply(ready_with(5, vec![group()]));
        store.select_chat(ChatId(1));
        let i_left = line(
            10,
            1,
            GroupChange::Left {
                new_owner: Some(user(2, "bob")),
            },
        );
        store.apply(ServerEvent::MessageNew {
            pos: 6,
            seq: 2,
            message: i_left.clone(),
        });
        assert!(store.chats.is_empty() && store.conversations.is_empty());
        assert_eq!(store.selected, None);
        let effects = store.apply(ServerEvent::MessageNew {
            pos: 6,
            seq: 2,
            message: i_left,
        });
        assert!(
            effects.requests.is_empty(),
            "a chat I left is not fetched again"
        );
        assert!(store.conversations.is_empty());

        let mut store = State::default();
        store.apply(ready_with(5, vec![group()]));
        store.apply(ServerEvent::ChatDeleted {
            pos: 6,
            seq: 2,
            chat_id: ChatId(1),
        });
        assert!(store.chats.is_empty());
        assert!(store.notice.is_some());
    }

    #[test]
    fn edits_and_deletions_replace_the_message_and_the_preview() {
        let mut store = State::default();
        store.apply(ready(5));
        let sent = message(7, 2, "x");
        store.apply(ServerEvent::MessageNew {
            pos: 6,
            seq: 1,
            message: sent.clone(),
        });
        let edited = Message {
            body: "better".into(),
            edited_at: Some(200),
            ..sent.clone()
        };
        let effects = store.apply(ServerEvent::MessageEdited {
            pos: 7,
            seq: 2,
            message: edited.clone(),
        });
        assert!(effects
            .changed
            .contains(&Change::Message(ChatId(1), MessageId(7))));
        assert_eq!(store.conversations[&ChatId(1)].messages, vec![edited]);
        assert_eq!(store.chats[0].last_message.as_ref().unwrap().text, "better");
        let deleted = Message {
            body: String::new(),
            deleted_at: Some(300),
            ..sent
        };
        store.apply(ServerEvent::MessageDeleted {
            pos: 8,
            seq: 3,
            message: deleted,
        });
        assert!(store.chats[0].last_message.as_ref().unwrap().deleted);
        assert_eq!(store.chats[0].seq, 3);
    }

    #[test]
    fn typing_is_told_when_it_begins_every_few_seconds_and_when_it_ends() {
        let mut store = State::default();
        store.apply(ready(5));
        let sent = |effects: Effects| -> Vec<ClientEvent> {
            effects.requests.into_iter().map(|r| r.event).collect()
        };
        let (one, two) = (ChatId(1), ChatId(2));
        let start = |chat_id| ClientEvent::TypingStart { chat_id };
        let stop = |chat_id| ClientEvent::TypingStop { chat_id };
        assert_eq!(sent(store.composing(one, true, 1_000)), vec![start(one)]);
        assert_eq!(sent(store.composing(one, true, 2_000)), vec![]);
        assert_eq!(sent(store.composing(one, true, 4_000)), vec![start(one)]);
        assert_eq!(
            sent(store.composing(two, true, 4_100)),
            vec![stop(one), start(two)]
        );
        assert_eq!(sent(store.composing(two, false, 4_200)), vec![stop(two)]);
        assert_eq!(sent(store.composing(two, false, 4_300)), vec![]);
        store.composing(one, true, 5_000);
        store.send(one, body("hi"), "n1".into());
        assert_eq!(
            sent(store.composing(one, false, 5_100)),
            vec![],
            "sending ended it already"
        );
    }

    #[test]
    fn who_types_is_shown_in_a_line() {
        let mut store = State::default();
        store.apply(ready(5));
        let typing = |user, typing| ServerEvent::Typing {
            chat_id: ChatId(1),
            user,
            typing,
        };
        let line = |store: &State| typing_line(store.typing.get(&ChatId(1)).map_or(&[][..], |t| t));
        store.apply(typing(user(2, "bob"), true));
        assert_eq!(line(&store).as_deref(), Some("bob is typing…"));
        store.apply(typing(user(3, "cy"), true));
        store.apply(typing(user(3, "cy"), true));
        assert_eq!(line(&store).as_deref(), Some("bob and cy are typing…"));
        store.apply(typing(user(4, "di"), true));
        assert_eq!(line(&store).as_deref(), Some("several people are typing…"));
        for id in [2, 3, 4] {
            store.apply(typing(user(id, "x"), false));
        }
        assert_eq!(line(&store), None);
        assert!(store.typing.is_empty());
        store.apply(typing(user(2, "bob"), true));
        store.apply(ready(9));
        assert!(store.typing.is_empty(), "a new connection starts afresh");
    }

    #[test]
    fn unread_counts_follow_messages_deletions_and_receipts() {
        let mut store = State::default();
        store.apply(ready_with(5, vec![group()]));
        let from_bob = |id| message(id, 2, &format!("b{id}"));
        for (seq, id) in [(2, 10), (3, 11), (4, 12)] {
            store.apply(ServerEvent::MessageNew {
                pos: 4 + seq,
                seq,
                message: from_bob(id),
            });
        }
        store.apply(ServerEvent::MessageNew {
            pos: 9,
            seq: 5,
            message: message(13, 1, "mine"),
        });
        assert_eq!(store.chats[0].unread, 3, "my own message does not count");
        store.apply(ServerEvent::MessageDeleted {
            pos: 10,
            seq: 6,
            message: Message {
                body: String::new(),
                deleted_at: Some(1),
                ..from_bob(11)
            },
        });
        assert_eq!(store.chats[0].unread, 2);
        // Read on another device: this one takes the count, and the receipt is seen.
        store.apply(ServerEvent::Receipt {
            pos: 11,
            seq: 7,
            chat_id: ChatId(1),
            user_id: UserId(1),
            read: MessageId(13),
            unread: 0,
        });
        assert_eq!(store.chats[0].unread, 0);
        assert_eq!(unread_total(&store.chats), 0);
        store.apply(ServerEvent::MessageNew {
            pos: 12,
            seq: 8,
            message: from_bob(14),
        });
        assert_eq!(unread_total(&store.chats), 1);
        store.apply(ServerEvent::ChatMuted {
            pos: 13,
            seq: 1,
            chat_id: ChatId(1),
            muted: true,
        });
        assert_eq!(
            unread_total(&store.chats),
            0,
            "a muted chat stays out of the total"
        );
        assert_eq!(store.chats[0].unread, 1);
    }

    /// The answer to `unread:count` request `id`.
    fn counted(id: RequestId, chats: u32, messages: u32) -> ServerEvent {
        ServerEvent::Reply {
            id,
            result: Reply::Unread { chats, messages },
        }
    }

    #[test]
    fn chats_beyond_those_loaded_count_in_the_title_and_tell_their_news() {
        let mut store = State::default();
        let mut loaded = chat(1);
        loaded.unread = 2;
        let mut ready = ready_with(5, vec![loaded]);
        if let ServerEvent::Ready { more_chats, .. } = &mut ready {
            *more_chats = true;
        }
        let asked = store.apply(ready).requests;
        let beyond_loaded = ClientEvent::UnreadCount {
            before: Some(chat(1).position()),
        };
        assert_eq!(asked[0].event, beyond_loaded);
        store.apply(counted(asked[0].id, 2, 7));
        assert_eq!(store.unread_elsewhere, 7);
        assert_eq!(unread_total(&store.chats) + store.unread_elsewhere, 9);

        let beyond = |id: i64, muted: bool| Chat {
            unread: 4,
            muted,
            ..chat(id)
        };
        let sent = |store: &mut State, chat: i64, id: i64| {
            let message = Message {
                chat_id: ChatId(chat),
                ..message(id, 2, &format!("b-{id}"))
            };
            store.apply(ServerEvent::MessageNew {
                pos: 5 + id,
                seq: 9,
                message,
            })
        };
        let fetch = sent(&mut store, 7, 50).requests;
        assert!(store.news.is_empty(), "told once its chat is known");
        let recount = store
            .apply(ServerEvent::Reply {
                id: fetch[0].id,
                result: Reply::Chats {
                    chats: vec![beyond(7, false)],
                    has_more: true,
                },
            })
            .requests;
        assert_eq!(store.news.len(), 1);
        assert_eq!(store.news[0].chat_id, ChatId(7));
        assert_eq!(recount[0].event, beyond_loaded, "chat 7 came before chat 1");
        // Events about chats beyond the loaded ones ask again, one count at a time.
        let muted_elsewhere = |pos, chat_id| ServerEvent::ChatMuted {
            pos,
            seq: 1,
            chat_id: ChatId(chat_id),
            muted: true,
        };
        assert!(store.apply(muted_elsewhere(60, 30)).requests.is_empty());
        assert!(store.apply(muted_elsewhere(61, 31)).requests.is_empty());
        let again = store.apply(counted(recount[0].id, 1, 4)).requests;
        assert_eq!(store.unread_elsewhere, 4, "chat 7 is loaded now");
        assert_eq!(again.len(), 1, "asked once more for both");
        store.apply(counted(again[0].id, 1, 3));
        assert_eq!(store.unread_elsewhere, 3);

        store.take_news();
        let fetch = sent(&mut store, 8, 51).requests;
        store.apply(ServerEvent::Reply {
            id: fetch[0].id,
            result: Reply::Chats {
                chats: vec![beyond(8, true)],
                has_more: false,
            },
        });
        assert!(store.news.is_empty(), "a muted chat raises no notification");
        assert_eq!(store.unread_elsewhere, 0, "every chat is loaded");
    }

    #[test]
    fn a_count_asked_before_a_page_of_chats_arrived_is_asked_again() {
        let mut store = State::default();
        let mut ready = ready_with(5, vec![chat(1)]);
        if let ServerEvent::Ready { more_chats, .. } = &mut ready {
            *more_chats = true;
        }
        let asked = store.apply(ready).requests;
        let older = Chat {
            active_at: 5,
            ..chat(2)
        };
        let page = Reply::Chats {
            chats: vec![older.clone()],
            has_more: true,
        };
        let meanwhile = store.apply(ServerEvent::Reply {
            id: 50,
            result: page,
        });
        assert!(meanwhile.requests.is_empty(), "one count at a time");
        let answered = store.apply(counted(asked[0].id, 1, 6));
        assert_eq!(store.unread_elsewhere, 0, "it counted chat 2, loaded since");
        let again = ClientEvent::UnreadCount {
            before: Some(older.position()),
        };
        assert_eq!(answered.requests[0].event, again);
    }

    #[test]
    fn a_page_of_chats_older_than_what_was_applied_undoes_nothing() {
        let mut store = State::default();
        let mut held = chat(1);
        held.unread = 2;
        store.apply(ready_with(5, vec![held.clone()]));
        store.apply(ServerEvent::Receipt {
            pos: 6,
            seq: 1,
            chat_id: ChatId(1),
            user_id: UserId(1),
            read: MessageId(9),
            unread: 0,
        });
        store.apply(ServerEvent::Reply {
            id: 50,
            result: Reply::Chats {
                chats: vec![held],
                has_more: false,
            },
        });
        assert_eq!(store.chats[0].unread, 0);
        assert_eq!(store.chats[0].read_through, Some(MessageId(9)));
    }

    #[test]
    fn a_message_from_someone_else_arriving_in_the_open_chat_is_read_out() {
        let mut store = State::default();
        store.apply(ready(5));
        store.select(ChatId(1));
        store.apply(ServerEvent::MessageNew {
            pos: 6,
            seq: 1,
            message: message(10, 2, "b"),
        });
        let heard = Some((ChatId(1), MessageId(10), "bob: body 10".to_string()));
        assert_eq!(store.heard, heard);
        store.apply(ServerEvent::MessageNew {
            pos: 7,
            seq: 2,
            message: message(11, 1, "a"),
        });
        assert_eq!(store.heard, heard, "not my own");
        store.deselect();
        store.apply(ServerEvent::MessageNew {
            pos: 8,
            seq: 3,
            message: message(12, 2, "b2"),
        });
        assert_eq!(store.heard, None, "nothing, with no chat open");
        store.select(ChatId(1));
        assert_eq!(store.heard, None, "a chat opened anew starts silent");
        // A reconnect: what the sync replays was said while the page was away.
        store.apply(ready(8));
        store.apply(ServerEvent::MessageNew {
            pos: 9,
            seq: 4,
            message: message(13, 2, "b3"),
        });
        assert_eq!(store.heard, None);
    }

    #[test]
    fn reading_the_open_chat_says_so_once_and_receipts_show_who_saw_mine() {
        let mut store = State::default();
        store.apply(ready_with(5, vec![group()]));
        store.apply(ServerEvent::MessageNew {
            pos: 6,
            seq: 2,
            message: message(10, 2, "b"),
        });
        let effects = store.read_up_to(ChatId(1), MessageId(10));
        assert_eq!(
            effects.requests[0].event,
            ClientEvent::ChatRead {
                chat_id: ChatId(1),
                message_id: MessageId(10)
            }
        );
        assert_eq!(store.chats[0].unread, 0);
        let again = store.read_up_to(ChatId(1), MessageId(10));
        assert!(again.requests.is_empty(), "once");

        let mine = message(11, 1, "a");
        store.apply(ServerEvent::MessageNew {
            pos: 7,
            seq: 3,
            message: mine.clone(),
        });
        let shown = &store.conversations[&ChatId(1)].messages;
        assert!(seen_by(&store.chats[0], shown, UserId(1)).is_empty());
        store.apply(ServerEvent::Receipt {
            pos: 8,
            seq: 4,
            chat_id: ChatId(1),
            user_id: UserId(2),
            read: MessageId(11),
            unread: 0,
        });
        let shown = &store.conversations[&ChatId(1)].messages;
        let seen: Vec<_> = seen_by(&store.chats[0], shown, UserId(1))
            .into_iter()
            .map(|user| user.username.clone())
            .collect();
        assert_eq!(seen, vec!["bob"]);
    }

    #[test]
    fn a_chat_with_unread_messages_opens_at_the_first_and_new_ones_wait_beyond_it() {
        let mut store = State::default();
        let mut chat = group();
        chat.read_through = Some(MessageId(20));
        chat.unread = 30;
        store.apply(ready_with(5, vec![chat]));
        let asked: Vec<ClientEvent> = store
            .select(ChatId(1))
            .requests
            .into_iter()
            .map(|request| request.event)
            .collect();
        let page = |before, after, limit| ClientEvent::MessageHistory {
            chat_id: ChatId(1),
            before,
            after,
            limit,
        };
        assert_eq!(
            asked,
            vec![
                page(Some(MessageId(21)), None, Some(CONTEXT_BEFORE_UNREAD)),
                page(None, Some(MessageId(20)), None),
            ]
        );
        let newer_id = store.next_request;
        let history = |ids: std::ops::RangeInclusive<i64>, has_more| Reply::History {
            chat_id: ChatId(1),
            messages: ids
                .rev()
                .map(|id| message(id, 2, &format!("m{id}")))
                .collect(),
            has_more,
        };
        store.apply(ServerEvent::Reply {
            id: newer_id - 1,
            result: history(11..=20, true),
        });
        store.apply(ServerEvent::Reply {
            id: newer_id,
            result: history(21..=70, true),
        });
        let conversation = &store.conversations[&ChatId(1)];
        assert_eq!(conversation.messages.len(), 60);
        assert!(conversation.has_newer && conversation.has_more == Some(true));
        // A new message lands beyond what is shown: not next to it, with a gap between.
        store.apply(ServerEvent::MessageNew {
            pos: 6,
            seq: 2,
            message: message(99, 2, "late"),
        });
        assert_eq!(store.conversations[&ChatId(1)].messages.len(), 60);
        assert_eq!(
            store.chats[0].last_message.as_ref().unwrap().id,
            MessageId(99)
        );
        // Reading what was on screen leaves the rest unread, shown or not.
        let read = store.read_up_to(ChatId(1), MessageId(30)).requests;
        assert_eq!(
            read[0].event,
            ClientEvent::ChatRead {
                chat_id: ChatId(1),
                message_id: MessageId(30)
            }
        );
        store.read_up_to(ChatId(1), MessageId(70));
        assert_eq!(store.chats[0].unread, 31);
        let not_loaded = store.read_up_to(ChatId(1), MessageId(99));
        assert!(
            not_loaded.requests.is_empty(),
            "only what is loaded is seen"
        );

        let more = store.load_newer(ChatId(1)).requests;
        assert_eq!(more[0].event, page(None, Some(MessageId(70)), None));
        let back = store.back_to_latest(ChatId(1)).requests;
        assert_eq!(back[0].event, page(None, None, None));
        let conversation = &store.conversations[&ChatId(1)];
        assert!(conversation.messages.is_empty() && !conversation.has_newer);
        // The newer page asked for before arrives late: it belongs to the window dropped.
        store.apply(ServerEvent::Reply {
            id: more[0].id,
            result: history(71..=80, true),
        });
        let conversation = &store.conversations[&ChatId(1)];
        assert!(conversation.messages.is_empty() && !conversation.has_newer);
        store.apply(ServerEvent::Reply {
            id: back[0].id,
            result: history(90..=99, true),
        });
        let conversation = &store.conversations[&ChatId(1)];
        assert_eq!(conversation.messages.len(), 10);
        assert!(!conversation.has_newer && conversation.has_more == Some(true));
    }

    #[test]
    fn messages_from_others_in_chats_not_muted_are_news() {
        let mut store = State::default();
        store.apply(ready_with(5, vec![group()]));
        store.apply(ServerEvent::MessageNew {
            pos: 6,
            seq: 2,
            message: message(10, 2, "b"),
        });
        store.apply(ServerEvent::MessageNew {
            pos: 7,
            seq: 3,
            message: message(11, 1, "mine"),
        });
        let (news, _) = store.take_news();
        assert_eq!(
            news,
            vec![News {
                chat_id: ChatId(1),
                title: "Team".into(),
                text: "bob: body 10".into(),
            }]
        );
        assert!(store.take_news().0.is_empty(), "taken once");
        store.apply(ServerEvent::ChatMuted {
            pos: 8,
            seq: 1,
            chat_id: ChatId(1),
            muted: true,
        });
        store.apply(ServerEvent::MessageNew {
            pos: 9,
            seq: 4,
            message: message(12, 2, "b2"),
        });
        assert!(store.take_news().0.is_empty(), "a muted chat raises none");
    }

    #[test]
    fn reconnect_syncs_from_the_last_position_and_resends_pending() {
        let mut store = State::default();
        store.apply(ready(5));
        store.send(ChatId(1), body("hello"), "n1".into());
        store.apply(ServerEvent::MessageNew {
            pos: 6,
            seq: 1,
            message: message(7, 2, "x"),
        });
        let requests = store.apply(ready(9)).requests;
        let events: Vec<_> = requests.into_iter().map(|r| r.event).collect();
        assert_eq!(
            events[0],
            ClientEvent::Sync {
                epoch: "e1".into(),
                after: 6
            }
        );
        assert_eq!(
            events[1],
            ClientEvent::MessageSend {
                chat_id: ChatId(1),
                nonce: "n1".into(),
                body: "hello".into()
            }
        );
    }

    #[test]
    fn a_message_arriving_twice_is_shown_once_and_clears_its_pending_copy() {
        let mut store = State::default();
        store.apply(ready(0));
        let request = store
            .send(ChatId(1), body("body 3"), "n3".into())
            .requests
            .remove(0);
        assert_eq!(store.conversations[&ChatId(1)].pending.len(), 1);
        store.apply(ServerEvent::Reply {
            id: request.id,
            result: Reply::Message {
                message: message(3, 1, "n3"),
            },
        });
        store.apply(ServerEvent::MessageNew {
            pos: 1,
            seq: 1,
            message: message(3, 1, "n3"),
        });
        assert!(store.conversations[&ChatId(1)].pending.is_empty());
        assert_eq!(store.conversations[&ChatId(1)].messages.len(), 1);
        assert_eq!(
            store.chats[0].last_message.as_ref().unwrap().id,
            MessageId(3)
        );
    }

    #[test]
    fn older_chats_load_page_by_page_and_keep_newer_previews() {
        let mut store = State::default();
        let ServerEvent::Ready { user, people, .. } = ready(0) else {
            unreachable!()
        };
        store.apply(ServerEvent::Ready {
            user,
            epoch: "e1".into(),
            pos: 0,
            user_seq: 0,
            people,
            contacts: vec![],
            settings: Settings::default(),
            status: MyStatus::default(),
            waiting: vec![],
            chats: vec![chat(1)],
            more_chats: true,
        });
        let more = store.load_more_chats().requests.remove(0);
        assert_eq!(
            more.event,
            ClientEvent::ChatsList {
                before: Some(chat(1).position()),
                limit: None
            }
        );
        store.apply(ServerEvent::MessageNew {
            pos: 1,
            seq: 1,
            message: message(4, 2, "x"),
        });
        let mut older = chat(2);
        older.active_at = 5;
        store.apply(ServerEvent::Reply {
            id: more.id,
            result: Reply::Chats {
                chats: vec![older, chat(1)],
                has_more: false,
            },
        });
        let order: Vec<_> = store.chats.iter().map(|c| c.id.0).collect();
        assert_eq!(order, vec![1, 2], "most recently active first");
        assert_eq!(
            store.chats[0].last_message.as_ref().unwrap().id,
            MessageId(4)
        );
        assert_eq!(store.load_more_chats(), Effects::default());
    }

    #[test]
    fn a_message_in_a_chat_not_loaded_fetches_the_top_page() {
        let mut store = State::default();
        store.apply(ready(0));
        let mut elsewhere = message(5, 2, "x");
        elsewhere.chat_id = ChatId(7);
        let requests = store
            .apply(ServerEvent::MessageNew {
                pos: 1,
                seq: 1,
                message: elsewhere,
            })
            .requests;
        assert_eq!(
            requests[0].event,
            ClientEvent::ChatsList {
                before: None,
                limit: None
            }
        );
        let known = store.apply(ServerEvent::MessageNew {
            pos: 2,
            seq: 1,
            message: message(6, 2, "y"),
        });
        assert!(known.requests.is_empty());
    }

    #[test]
    fn history_pages_merge_in_order() {
        let mut store = State::default();
        store.apply(ready(0));
        let requests = store.select(ChatId(1)).requests;
        assert_eq!(requests.len(), 1);
        store.apply(ServerEvent::Reply {
            id: requests[0].id,
            result: Reply::History {
                chat_id: ChatId(1),
                messages: vec![message(9, 2, "a"), message(8, 1, "b")],
                has_more: true,
            },
        });
        let older = store.load_older(ChatId(1)).requests.remove(0);
        assert_eq!(
            older.event,
            ClientEvent::MessageHistory {
                chat_id: ChatId(1),
                before: Some(MessageId(8)),
                after: None,
                limit: None
            }
        );
        store.apply(ServerEvent::Reply {
            id: older.id,
            result: Reply::History {
                chat_id: ChatId(1),
                messages: vec![message(2, 2, "c")],
                has_more: false,
            },
        });
        let ids: Vec<_> = store.conversations[&ChatId(1)]
            .messages
            .iter()
            .map(|m| m.id.0)
            .collect();
        assert_eq!(ids, vec![2, 8, 9]);
        assert_eq!(store.load_older(ChatId(1)), Effects::default());
        assert!(
            store.select(ChatId(1)).requests.is_empty(),
            "history is loaded once"
        );
    }

    #[test]
    fn a_refused_send_is_marked_and_not_resent() {
        let mut store = State::default();
        store.apply(ready(0));
        let request = store
            .send(ChatId(1), body("x"), "n".into())
            .requests
            .remove(0);
        store.apply(ServerEvent::Error {
            id: Some(request.id),
            error: ApiError::new(ErrorCode::Forbidden, "Not a member."),
        });
        assert_eq!(
            store.conversations[&ChatId(1)].pending[0].failed.as_deref(),
            Some("Not a member.")
        );
        assert_eq!(store.notice.as_deref(), Some("Not a member."));
        let resent = store
            .apply(ready(0))
            .requests
            .into_iter()
            .filter(|r| matches!(r.event, ClientEvent::MessageSend { .. }))
            .count();
        assert_eq!(resent, 0);
    }

    #[test]
    fn a_refused_settings_change_shows_the_settings_held_again() {
        let mut store = State::default();
        store.apply(ready(0));
        let mut wanted = store.settings;
        wanted.direct_messages = crate::model::MessagePolicy::Friends;
        let request = store.change_settings(wanted).requests.remove(0);
        let refused = store.apply(ServerEvent::Error {
            id: Some(request.id),
            error: ApiError::new(ErrorCode::Unavailable, "Try again."),
        });
        assert!(refused.changed.contains(&Change::Settings));
        assert_eq!(store.settings, Settings::default());
    }

    #[test]
    fn resync_required_drops_loaded_state_and_reloads_the_open_chat() {
        let mut store = State::default();
        store.apply(ready(4));
        store.select(ChatId(1));
        store.conversations.get_mut(&ChatId(1)).unwrap().has_more = Some(false);
        store.apply(ServerEvent::MessageNew {
            pos: 5,
            seq: 1,
            message: message(1, 2, "a"),
        });
        let refused = store.apply(ServerEvent::Error {
            id: Some(99),
            error: ApiError::new(ErrorCode::ResyncRequired, "gone"),
        });
        assert_eq!(refused.next, Next::Reconnect);
        assert_eq!(store.position, None);
        assert!(store.chats.is_empty());
        assert!(
            store.conversations[&ChatId(1)].messages.is_empty(),
            "the open chat keeps an emptied entry"
        );
        let requests = store.apply(ready(10)).requests;
        assert_eq!(store.position.as_ref().map(|p| p.pos), Some(10));
        assert_eq!(requests.len(), 1, "no sync from a dropped position");
        assert!(matches!(
            requests[0].event,
            ClientEvent::MessageHistory { before: None, .. }
        ));
    }

    #[test]
    fn a_skipped_seq_means_an_event_was_missed() {
        let mut store = State::default();
        store.apply(ready(4));
        let next = store.apply(ServerEvent::MessageNew {
            pos: 5,
            seq: 1,
            message: message(1, 2, "a"),
        });
        assert_eq!(next.next, Next::Stay);
        let missed = store.apply(ServerEvent::MessageNew {
            pos: 9,
            seq: 3,
            message: message(3, 2, "c"),
        });
        assert_eq!(missed.next, Next::Reconnect);
    }

    #[test]
    fn pushes_during_a_sync_move_the_position_only_once_it_has_caught_up() {
        let mut store = State::default();
        store.apply(ready(4));
        let sync = store.apply(ready(20)).requests.remove(0);
        // A push runs ahead of the sync, with a seq the sync has yet to fill in: no gap is assumed.
        let ahead = store.apply(ServerEvent::MessageNew {
            pos: 21,
            seq: 4,
            message: message(9, 2, "late"),
        });
        assert_eq!(ahead.next, Next::Stay);
        assert_eq!(store.position.as_ref().map(|p| p.pos), Some(4));
        let more = store
            .apply(ServerEvent::Reply {
                id: sync.id,
                result: Reply::Sync {
                    events: vec![ServerEvent::MessageNew {
                        pos: 10,
                        seq: 1,
                        message: message(2, 2, "a"),
                    }],
                    pos: 10,
                    has_more: true,
                },
            })
            .requests;
        assert_eq!(store.position.as_ref().map(|p| p.pos), Some(10));
        assert_eq!(
            more[0].event,
            ClientEvent::Sync {
                epoch: "e1".into(),
                after: 10
            }
        );
        store.apply(ServerEvent::Reply {
            id: more[0].id,
            result: Reply::Sync {
                events: vec![],
                pos: 20,
                has_more: false,
            },
        });
        assert_eq!(store.position.as_ref().map(|p| p.pos), Some(21));
        let ids: Vec<_> = store.conversations[&ChatId(1)]
            .messages
            .iter()
            .map(|m| m.id.0)
            .collect();
        assert_eq!(ids, vec![2, 9]);
    }

    #[test]
    fn contact_changes_apply_once_and_none_forgets() {
        let mut store = State::default();
        store.apply(ready(0));
        let contact = |relation| Contact {
            user: user(2, "bob"),
            relation,
            since: 5,
        };
        store.apply(ServerEvent::ContactChanged {
            pos: 1,
            seq: 1,
            contact: contact(Relation::RequestReceived),
        });
        store.apply(ServerEvent::ContactChanged {
            pos: 2,
            seq: 2,
            contact: contact(Relation::Friend),
        });
        // A replay of the first, from a sync that overlaps what was pushed: skipped.
        store.apply(ServerEvent::ContactChanged {
            pos: 1,
            seq: 1,
            contact: contact(Relation::RequestReceived),
        });
        assert_eq!(store.contacts[&UserId(2)].relation, Relation::Friend);
        let ended = store.apply(ServerEvent::ContactChanged {
            pos: 3,
            seq: 3,
            contact: contact(Relation::None),
        });
        assert!(store.contacts.is_empty());
        assert_eq!(ended.next, Next::Stay);
        let missed = store.apply(ServerEvent::SettingsChanged {
            pos: 5,
            seq: 5,
            settings: Settings::default(),
        });
        assert_eq!(missed.next, Next::Reconnect, "seq 4 was missed");
    }

    /// Runs `step` and fails if it changed a part of the state it did not report: a view of that
    /// part would stay stale.
    fn checked(state: &mut State, step: impl FnOnce(&mut State) -> Effects) -> Effects {
        let before = state.clone();
        let effects = step(state);
        let told = |change: Change| {
            effects.changed.contains(&change) || effects.changed.contains(&Change::All)
        };
        let ids = |chats: &[Chat]| chats.iter().map(|chat| chat.id).collect::<Vec<_>>();
        assert!(ids(&before.chats) == ids(&state.chats) || told(Change::ChatList));
        for chat in &state.chats {
            let old = before.chats.iter().find(|old| old.id == chat.id);
            assert!(
                old.is_none_or(|old| old == chat) || told(Change::Chat(chat.id)),
                "{chat:?}"
            );
        }
        let people = |people: &[Person]| people.iter().map(|p| p.user.id).collect::<Vec<_>>();
        let people_moved = people(&before.people) != people(&state.people);
        assert!(!people_moved || told(Change::PeopleList));
        for person in &state.people {
            let old = before
                .people
                .iter()
                .find(|old| old.user.id == person.user.id);
            assert!(old.is_none_or(|old| old == person) || told(Change::Person(person.user.id)));
        }
        assert!(before.contacts == state.contacts || told(Change::Contacts));
        assert!(before.settings == state.settings || told(Change::Settings));
        assert!(before.status == state.status || told(Change::Status));
        assert!(before.waiting == state.waiting || told(Change::Waiting));
        assert!(before.arrivals == state.arrivals || told(Change::Arrivals));
        assert!(before.more_chats == state.more_chats || told(Change::MoreChats));
        assert!(before.selected == state.selected || told(Change::Selected));
        assert!(before.notice == state.notice || told(Change::Notice));
        assert!(before.me == state.me || told(Change::All));
        assert!(before.directory == state.directory || told(Change::Directory));
        assert!(
            before.friend_form_error == state.friend_form_error || told(Change::FriendFormError)
        );
        let keys = |state: &State| state.conversations.keys().copied().collect::<Vec<_>>();
        assert!(keys(&before) == keys(state) || told(Change::Conversations));
        for (id, now) in &state.conversations {
            let old = before.conversations.get(id).cloned().unwrap_or_default();
            assert!(old.messages == now.messages || told(Change::Messages(*id)));
            assert!(old.pending == now.pending || told(Change::Pending(*id)));
            assert!(old.has_more == now.has_more || told(Change::HasMore(*id)));
        }
        effects
    }

    #[test]
    fn every_change_is_reported_for_the_views() {
        let mut state = State::default();
        let apply = |state: &mut State, event| checked(state, |s| s.apply(event));
        apply(&mut state, ready(0));
        let history = checked(&mut state, |s| s.select(ChatId(1)))
            .requests
            .remove(0);
        apply(
            &mut state,
            ServerEvent::Reply {
                id: history.id,
                result: Reply::History {
                    chat_id: ChatId(1),
                    messages: vec![message(2, 2, "a")],
                    has_more: false,
                },
            },
        );
        let sent = checked(&mut state, |s| s.send(ChatId(1), body("hi"), "n1".into()))
            .requests
            .remove(0);
        apply(
            &mut state,
            ServerEvent::Reply {
                id: sent.id,
                result: Reply::Message {
                    message: message(3, 1, "n1"),
                },
            },
        );
        let refused = checked(&mut state, |s| s.send(ChatId(1), body("no"), "n2".into()))
            .requests
            .remove(0);
        apply(
            &mut state,
            ServerEvent::Error {
                id: Some(refused.id),
                error: ApiError::new(ErrorCode::Forbidden, "Not allowed."),
            },
        );
        apply(
            &mut state,
            ServerEvent::MessageNew {
                pos: 1,
                seq: 1,
                message: message(4, 2, "b"),
            },
        );
        let mut newer = chat(2);
        newer.active_at = 500;
        apply(
            &mut state,
            ServerEvent::ChatNew {
                pos: 2,
                seq: 1,
                chat: newer,
            },
        );
        apply(
            &mut state,
            ServerEvent::ContactChanged {
                pos: 3,
                seq: 2,
                contact: Contact {
                    user: user(2, "bob"),
                    relation: Relation::Friend,
                    since: 1,
                },
            },
        );
        apply(
            &mut state,
            ServerEvent::SettingsChanged {
                pos: 4,
                seq: 3,
                settings: Settings::default(),
            },
        );
        apply(
            &mut state,
            ServerEvent::StatusChanged {
                pos: 5,
                seq: 4,
                status: MyStatus {
                    mode: crate::model::PresenceMode::Busy,
                    text: Some("away".into()),
                },
            },
        );
        apply(
            &mut state,
            ServerEvent::WaitingChanged {
                pos: 6,
                seq: 5,
                waiting: vec![user(2, "bob")],
            },
        );
        apply(
            &mut state,
            ServerEvent::UserArrived {
                pos: 7,
                seq: 6,
                user: user(2, "bob"),
            },
        );
        for person in [user(2, "bob"), user(3, "cy")] {
            apply(
                &mut state,
                ServerEvent::UserStatus {
                    person: Person {
                        user: person,
                        presence: Some(online()),
                    },
                },
            );
        }
        let more = checked(&mut state, |s| s.open_direct(UserId(3)))
            .requests
            .remove(0);
        let mut opened = chat(3);
        opened.members = vec![member(1, "ann"), member(3, "cy")];
        apply(
            &mut state,
            ServerEvent::Reply {
                id: more.id,
                result: Reply::Chat { chat: opened },
            },
        );
        assert_eq!(state.selected, Some(ChatId(3)));
        assert_eq!(state.arrivals, vec![user(2, "bob")]);
    }

    #[test]
    fn an_ended_session_logs_out() {
        let mut store = State::default();
        store.apply(ready(0));
        let ended = store.apply(ServerEvent::Error {
            id: None,
            error: ApiError::new(ErrorCode::Unauthorized, "Your session has ended."),
        });
        assert_eq!(
            ended,
            Effects {
                next: Next::LogOut,
                ..Effects::default()
            }
        );
    }

    #[test]
    fn an_arrival_replayed_after_a_reconnect_is_told_once() {
        let mut store = State::default();
        store.apply(ready(4));
        let arrived = |pos| ServerEvent::UserArrived {
            pos,
            seq: 1,
            user: user(2, "bob"),
        };
        // Away from pos 4; back at 9, where the wait has ended: the sync replays the news.
        let sync = store.apply(ready(9)).requests.remove(0);
        store.apply(arrived(6));
        store.apply(ServerEvent::Reply {
            id: sync.id,
            result: Reply::Sync {
                events: vec![arrived(6)],
                pos: 9,
                has_more: false,
            },
        });
        assert_eq!(store.arrivals, vec![user(2, "bob")]);
        store.apply(arrived(6));
        assert_eq!(store.arrivals.len(), 1, "and a copy of it is not");
    }

    #[test]
    fn presence_updates_add_and_replace_people() {
        let mut store = State::default();
        store.apply(ready(0));
        store.apply(ServerEvent::UserStatus {
            person: Person {
                user: user(3, "cy"),
                presence: Some(online()),
            },
        });
        store.apply(ServerEvent::UserStatus {
            person: Person {
                user: user(2, "bob"),
                presence: Some(online()),
            },
        });
        let names: Vec<_> = store
            .people
            .iter()
            .map(|p| (p.user.username.as_str(), p.presence.is_some()))
            .collect();
        assert_eq!(names, vec![("bob", true), ("cy", true)]);
    }
}
