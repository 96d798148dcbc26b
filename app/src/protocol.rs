//! The wire protocol: every type that crosses the WebSocket or the HTTP API.
//!
//! Server and browser both compile this file, so neither side restates a wire type. The prose
//! version for third-party clients is `docs/protocol.md`; its examples are checked against these types
//! by the tests at the bottom of this file.

pub use crate::errors::{ApiError, ErrorCode, Refusal};
use crate::model::{
    Chat, ChatId, ChatPosition, Contact, DirectoryEntry, Message, MessageId, MessagePolicy,
    MessageVersion, MyStatus, Person, Pos, PresenceMode, RequestPolicy, Role, Room, Seq, Settings,
    User, UserId, Visibility,
};
use serde::{Deserialize, Serialize};

/// Chosen by the client; the server answers each request with exactly one `reply` or `error` naming it.
pub type RequestId = u64;

/// One client frame: `{"id": 7, "type": "message:send", ...fields of the event}`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: RequestId,
    #[serde(flatten)]
    pub event: ClientEvent,
}

/// What a client may ask for. Every event is checked against the sender's rights.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientEvent {
    /// A page of everyone registered but the asker, by username (in any letter case), after `after`
    /// (the last username of the page before) when given. Replies `people`.
    #[serde(rename = "users:list")]
    UsersList {
        #[serde(default)]
        after: Option<String>,
        /// At most `DIRECTORY_PAGE_MAX`; `DIRECTORY_PAGE_DEFAULT` when not given.
        #[serde(default)]
        #[cfg_attr(feature = "schema", schemars(range(min = 1, max = crate::model::limits::DIRECTORY_PAGE_MAX)))]
        limit: Option<u32>,
    },
    /// Like `users:list`, for the people whose username starts with `query`, in any letter case.
    /// Replies `people`.
    #[serde(rename = "users:search")]
    UsersSearch {
        query: String,
        #[serde(default)]
        after: Option<String>,
        #[serde(default)]
        #[cfg_attr(feature = "schema", schemars(range(min = 1, max = crate::model::limits::DIRECTORY_PAGE_MAX)))]
        limit: Option<u32>,
    },
    /// The direct chat with `user_id`, created on first use. Replies `chat`.
    #[serde(rename = "chat:open")]
    ChatOpen { user_id: UserId },
    /// One of the user's chats. Replies `chat`.
    #[serde(rename = "chat:get")]
    ChatGet { chat_id: ChatId },
    /// Creates a group owned by the user, with the people in `members` (each must take messages
    /// from the user: see `group:add`). Replies `chat`.
    #[serde(rename = "group:create")]
    GroupCreate {
        #[cfg_attr(
            feature = "schema",
            schemars(length(min = 1, max = crate::model::limits::GROUP_TITLE_MAX_CHARS))
        )]
        title: String,
        #[serde(default)]
        members: Vec<UserId>,
        #[serde(default)]
        public: bool,
    },
    /// Renames a group, or makes it public or private (owner and admins). Replies `chat`.
    #[serde(rename = "group:update")]
    GroupUpdate {
        chat_id: ChatId,
        #[serde(default)]
        #[cfg_attr(
            feature = "schema",
            schemars(length(min = 1, max = crate::model::limits::GROUP_TITLE_MAX_CHARS))
        )]
        title: Option<String>,
        #[serde(default)]
        public: Option<bool>,
    },
    /// Adds people to a group (owner and admins), lifting any ban on them. Only people who would
    /// take a direct message from the user can be added. Replies `chat`.
    #[serde(rename = "group:add")]
    GroupAdd {
        chat_id: ChatId,
        user_ids: Vec<UserId>,
    },
    /// Removes someone from a group, and with `ban` keeps them from joining it again. The owner
    /// removes anyone, admins remove members. Replies `chat`.
    #[serde(rename = "group:remove")]
    GroupRemove {
        chat_id: ChatId,
        user_id: UserId,
        #[serde(default)]
        ban: bool,
    },
    /// Makes a member an admin, or an admin a member again (the owner only). Replies `chat`.
    #[serde(rename = "group:set-role")]
    GroupSetRole {
        chat_id: ChatId,
        user_id: UserId,
        /// `admin` or `member`.
        role: Role,
    },
    /// The people banned from a group (owner and admins). Replies `bans`.
    #[serde(rename = "group:bans")]
    GroupBans { chat_id: ChatId },
    /// Lets someone banned join again (owner and admins). Replies `bans`.
    #[serde(rename = "group:unban")]
    GroupUnban { chat_id: ChatId, user_id: UserId },
    /// Deletes a group for everyone, with its messages (the owner only). Replies `left`.
    #[serde(rename = "group:delete")]
    GroupDelete { chat_id: ChatId },
    /// Joins a public group. Replies `chat`.
    #[serde(rename = "chat:join")]
    ChatJoin { chat_id: ChatId },
    /// Leaves a group. An owner who leaves hands the group to its longest-standing admin, else its
    /// longest-standing member. Replies `left`.
    #[serde(rename = "chat:leave")]
    ChatLeave { chat_id: ChatId },
    /// A page of public groups, newest first, before `before` (the last `chat_id` of the page
    /// before) when given; with `query`, those whose title contains it, in any letter case.
    /// Replies `rooms`.
    #[serde(rename = "rooms:list")]
    RoomsList {
        #[serde(default)]
        #[cfg_attr(
            feature = "schema",
            schemars(length(max = crate::model::limits::ROOM_QUERY_MAX_CHARS))
        )]
        query: Option<String>,
        #[serde(default)]
        before: Option<ChatId>,
        /// At most `ROOM_PAGE_MAX`; `ROOM_PAGE_DEFAULT` when not given.
        #[serde(default)]
        #[cfg_attr(feature = "schema", schemars(range(min = 1, max = crate::model::limits::ROOM_PAGE_MAX)))]
        limit: Option<u32>,
    },
    /// Sends a message. A retry with the same `nonce` returns the stored message instead of a copy.
    /// Replies `message` once the message is durable.
    #[serde(rename = "message:send")]
    MessageSend {
        chat_id: ChatId,
        /// Printable ASCII (`!` to `~`), unique per sender.
        #[cfg_attr(
            feature = "schema",
            schemars(length(min = 1, max = crate::model::limits::NONCE_MAX_CHARS), pattern("^[!-~]+$"))
        )]
        nonce: String,
        /// Some visible text; line breaks and tabs are the only control characters allowed.
        #[cfg_attr(
            feature = "schema",
            schemars(length(min = 1, max = crate::model::limits::MESSAGE_MAX_CHARS))
        )]
        body: String,
    },
    /// Changes the text of a message the user sent. Replies `message`.
    #[serde(rename = "message:edit")]
    MessageEdit {
        message_id: MessageId,
        #[cfg_attr(
            feature = "schema",
            schemars(length(min = 1, max = crate::model::limits::MESSAGE_MAX_CHARS))
        )]
        body: String,
    },
    /// Deletes a message for everyone: the user's own, or anyone's in a group the user owns or is
    /// an admin of. Its text and earlier versions are erased. Replies `message`.
    #[serde(rename = "message:delete")]
    MessageDelete { message_id: MessageId },
    /// The texts a message has had, oldest first. Replies `versions`.
    #[serde(rename = "message:versions")]
    MessageVersions { message_id: MessageId },
    /// Marks the chat read up to `message_id` (a message in it; read positions only move
    /// forward). Replies `read`.
    #[serde(rename = "chat:read")]
    ChatRead {
        chat_id: ChatId,
        message_id: MessageId,
    },
    /// Mutes or unmutes a chat for the user. Replies `ok`.
    #[serde(rename = "chat:mute")]
    ChatMute { chat_id: ChatId, muted: bool },
    /// How many of the user's chats have unread messages, and how many messages, muted chats
    /// left out; with `before` (a position from a page of chats), only the chats after it, those
    /// not loaded yet. Replies `unread`.
    #[serde(rename = "unread:count")]
    UnreadCount {
        #[serde(default)]
        before: Option<ChatPosition>,
    },
    /// The user is typing in the chat: its other members hear `typing` once, and again when it
    /// ends. Repeat it every few seconds while typing goes on; without a repeat it ends by itself
    /// after `TYPING_LEASE_SECS`, as it does on `typing:stop`, on sending a message there, and when
    /// the connection closes. Replies `ok`.
    #[serde(rename = "typing:start")]
    TypingStart { chat_id: ChatId },
    /// Replies `ok`.
    #[serde(rename = "typing:stop")]
    TypingStop { chat_id: ChatId },
    /// A page of the user's chats, most recently active first, after `before` (a position from an
    /// earlier page, or `ready`) when given. Replies `chats`.
    #[serde(rename = "chats:list")]
    ChatsList {
        #[serde(default)]
        before: Option<ChatPosition>,
        /// At most `CHAT_PAGE_MAX`, which is also the default.
        #[serde(default)]
        #[cfg_attr(feature = "schema", schemars(range(min = 1, max = crate::model::limits::CHAT_PAGE_MAX)))]
        limit: Option<u32>,
    },
    /// A page of history: the messages just older than `before` (the newest, when neither is
    /// given), or just newer than `after`; newest first either way. Replies `history`.
    #[serde(rename = "message:history")]
    MessageHistory {
        chat_id: ChatId,
        #[serde(default)]
        before: Option<MessageId>,
        /// Not with `before`.
        #[serde(default)]
        after: Option<MessageId>,
        /// 50 when not given.
        #[serde(default)]
        #[cfg_attr(feature = "schema", schemars(range(min = 1, max = crate::model::limits::HISTORY_PAGE_MAX)))]
        limit: Option<u32>,
    },
    /// Every event for this user after log position `after`, oldest first: those of the chats they
    /// were a member of when each happened, and their own. Replies `sync`, or the error
    /// `resync_required` when the server cannot answer from that position.
    #[serde(rename = "sync")]
    Sync {
        /// The `epoch` of the `ready` the position came from.
        epoch: String,
        /// The `pos` of the last event applied (or of `ready`). One from another epoch, negative,
        /// ahead of the log or older than the log keeps answers `resync_required`.
        after: Pos,
    },
    /// Everyone the user has a relation with: friends, requests either way, people they blocked.
    /// Replies `contacts`.
    #[serde(rename = "contacts:list")]
    ContactsList,
    /// Asks someone to be friends, named by `user_id` or by `username` (one of the two). If they
    /// asked first, this accepts. Replies `contact`.
    #[serde(rename = "friend:request")]
    FriendRequest {
        #[serde(default)]
        user_id: Option<UserId>,
        #[serde(default)]
        username: Option<String>,
    },
    /// Withdraws a request the user sent. Replies `contact`.
    #[serde(rename = "friend:cancel")]
    FriendCancel { user_id: UserId },
    /// Accepts a request the user received. Replies `contact`.
    #[serde(rename = "friend:accept")]
    FriendAccept { user_id: UserId },
    /// Turns down a request the user received; the sender may ask again. Replies `contact`.
    #[serde(rename = "friend:reject")]
    FriendReject { user_id: UserId },
    /// Ends a friendship. Replies `contact`.
    #[serde(rename = "friend:remove")]
    FriendRemove { user_id: UserId },
    /// Blocks someone, ending any friendship or request between the two. Replies `contact`.
    #[serde(rename = "user:block")]
    UserBlock { user_id: UserId },
    /// Lifts the user's block; the friendship does not come back. Replies `contact`.
    #[serde(rename = "user:unblock")]
    UserUnblock { user_id: UserId },
    /// Changes the settings given; the others stay. Replies `settings`.
    #[serde(rename = "settings:update")]
    SettingsUpdate {
        #[serde(default)]
        direct_messages: Option<MessagePolicy>,
        #[serde(default)]
        friend_requests: Option<RequestPolicy>,
        #[serde(default)]
        presence_visibility: Option<Visibility>,
    },
    /// Asks to be told, once, when `user_id` next comes online: on every device the user has
    /// connected then. Kept until then (across reconnects and restarts) or `user:stop-waiting`.
    /// Only for people whose presence the user may see. Replies `waiting`.
    #[serde(rename = "user:wait")]
    UserWait { user_id: UserId },
    /// Replies `waiting`.
    #[serde(rename = "user:stop-waiting")]
    UserStopWaiting { user_id: UserId },
    /// Sets the user's presence mode and custom status text (empty for none). Replies `status`.
    #[serde(rename = "status:set")]
    StatusSet {
        mode: PresenceMode,
        #[cfg_attr(
            feature = "schema",
            schemars(length(max = crate::model::limits::STATUS_TEXT_MAX_CHARS))
        )]
        #[serde(default)]
        text: String,
    },
}

/// One server frame.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerEvent {
    /// First frame of every authenticated connection.
    #[serde(rename = "ready")]
    Ready {
        user: User,
        /// Names this server's event log; positions from another epoch (a restored or replaced
        /// database) cannot be synced from.
        epoch: String,
        /// Everything up to this log position is in this snapshot, and every later event of yours is
        /// pushed on this connection. Keep the `pos` of the last event applied, and after a reconnect
        /// pass it to `sync`.
        pos: Pos,
        /// The `seq` of your newest user event (such as `chat:new`); the next carries `user_seq + 1`.
        user_seq: Seq,
        /// The people the user knows (contacts and direct-chat peers), with their presence where the
        /// user may see it.
        people: Vec<Person>,
        /// Everyone the user has a relation with.
        contacts: Vec<Contact>,
        settings: Settings,
        /// The presence mode and status text the user set.
        status: MyStatus,
        /// The people the user is waiting for (`user:wait`).
        waiting: Vec<User>,
        /// The first page of the user's chats, most recently active first.
        chats: Vec<Chat>,
        /// More chats follow: ask `chats:list` from the last one's position.
        more_chats: bool,
    },
    /// The success answer to request `id`.
    #[serde(rename = "reply")]
    Reply { id: RequestId, result: Reply },
    /// The failure answer to request `id`; `id` is null when the frame was too broken to carry one,
    /// or when the error concerns the connection itself.
    #[serde(rename = "error")]
    Error {
        id: Option<RequestId>,
        error: ApiError,
    },
    /// A message was sent in one of the user's chats (their own included, for their other devices),
    /// or a group changed (a system line, with `message.system` saying how). A chat event: `seq`
    /// counts in the message's chat.
    #[serde(rename = "message:new")]
    MessageNew {
        pos: Pos,
        seq: Seq,
        message: Message,
    },
    /// A message was edited; `message` is as it is now. A chat event.
    #[serde(rename = "message:edited")]
    MessageEdited {
        pos: Pos,
        seq: Seq,
        message: Message,
    },
    /// A message was deleted; `message` is what is left of it. A chat event.
    #[serde(rename = "message:deleted")]
    MessageDeleted {
        pos: Pos,
        seq: Seq,
        message: Message,
    },
    /// A member read the chat up to `read`. `unread` is what that member has left unread as of
    /// this event: the user's other devices set their count to it. A chat event.
    #[serde(rename = "receipt")]
    Receipt {
        pos: Pos,
        seq: Seq,
        chat_id: ChatId,
        user_id: UserId,
        read: MessageId,
        unread: u32,
    },
    /// The user muted or unmuted a chat (on any device). A user event.
    #[serde(rename = "chat:muted")]
    ChatMuted {
        pos: Pos,
        seq: Seq,
        chat_id: ChatId,
        muted: bool,
    },
    /// The user became a member of a chat. A user event: `seq` counts in the user's own events.
    #[serde(rename = "chat:new")]
    ChatNew { pos: Pos, seq: Seq, chat: Chat },
    /// The group's owner deleted it, with its messages: it is gone for every member. A chat event.
    #[serde(rename = "chat:deleted")]
    ChatDeleted { pos: Pos, seq: Seq, chat_id: ChatId },
    /// The user's relation with someone changed: by their own doing (on any device) or the other
    /// person's. A user event.
    #[serde(rename = "contact:changed")]
    ContactChanged {
        pos: Pos,
        seq: Seq,
        contact: Contact,
    },
    /// The user set their presence mode or status text (on any device). A user event.
    #[serde(rename = "status:changed")]
    StatusChanged {
        pos: Pos,
        seq: Seq,
        status: MyStatus,
    },
    /// The people the user waits for changed (on any device). A user event.
    #[serde(rename = "waiting:changed")]
    WaitingChanged {
        pos: Pos,
        seq: Seq,
        waiting: Vec<User>,
    },
    /// Someone the user waited for came online; the wait is over. A user event.
    #[serde(rename = "user:arrived")]
    UserArrived { pos: Pos, seq: Seq, user: User },
    /// The user changed their settings (on any device). A user event.
    #[serde(rename = "settings:changed")]
    SettingsChanged {
        pos: Pos,
        seq: Seq,
        settings: Settings,
    },
    /// Someone in one of the user's chats began (`typing: true`) or stopped typing there. Not part
    /// of the log: it carries no `pos`.
    #[serde(rename = "typing")]
    Typing {
        chat_id: ChatId,
        user: User,
        typing: bool,
    },
    /// Someone's presence changed as the user sees it: they came or went, changed mode or status
    /// text, or the user may now see it or no longer may (`presence` absent). Presence is not part of
    /// the log: it carries no `pos`.
    #[serde(rename = "user:status")]
    UserStatus { person: Person },
}

impl ServerEvent {
    /// The log position of an event that changed state, if it is one.
    pub fn pos(&self) -> Option<Pos> {
        match self {
            ServerEvent::MessageNew { pos, .. }
            | ServerEvent::MessageEdited { pos, .. }
            | ServerEvent::Receipt { pos, .. }
            | ServerEvent::ChatMuted { pos, .. }
            | ServerEvent::MessageDeleted { pos, .. }
            | ServerEvent::ChatNew { pos, .. }
            | ServerEvent::ChatDeleted { pos, .. }
            | ServerEvent::ContactChanged { pos, .. }
            | ServerEvent::SettingsChanged { pos, .. }
            | ServerEvent::StatusChanged { pos, .. }
            | ServerEvent::WaitingChanged { pos, .. }
            | ServerEvent::UserArrived { pos, .. } => Some(*pos),
            _ => None,
        }
    }
}

/// The result inside a `reply`, tagged by its own `type`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// Done; there is nothing to tell.
    Ok,
    /// Where the user's reading of a chat stands.
    Read {
        chat_id: ChatId,
        read: MessageId,
        unread: u32,
    },
    /// Muted chats left out.
    Unread {
        /// Chats with unread messages.
        chats: u32,
        /// Unread messages in them.
        messages: u32,
    },
    People {
        /// By username, in any letter case.
        people: Vec<DirectoryEntry>,
        /// More follow: ask again with `after` set to the last username here.
        has_more: bool,
    },
    Chat {
        chat: Chat,
    },
    Chats {
        /// Most recently active first.
        chats: Vec<Chat>,
        has_more: bool,
    },
    /// The user is no longer in the chat: they left it, or deleted the group.
    Left {
        chat_id: ChatId,
    },
    /// Oldest first; the last is the text the message has now.
    Versions {
        message_id: MessageId,
        versions: Vec<MessageVersion>,
    },
    /// The people banned from a group.
    Bans {
        chat_id: ChatId,
        users: Vec<User>,
    },
    Rooms {
        /// Newest first.
        rooms: Vec<Room>,
        /// More follow: ask again with `before` set to the last `chat_id` here.
        has_more: bool,
    },
    Message {
        message: Message,
    },
    History {
        chat_id: ChatId,
        /// Newest first.
        messages: Vec<Message>,
        /// More exist in the direction asked: older for `before` (or neither), newer for `after`.
        has_more: bool,
    },
    Contact {
        contact: Contact,
    },
    Contacts {
        contacts: Vec<Contact>,
    },
    Settings {
        settings: Settings,
    },
    Status {
        status: MyStatus,
    },
    /// Everyone the user is waiting for.
    Waiting {
        waiting: Vec<User>,
    },
    Sync {
        /// Oldest first; apply them in order.
        events: Vec<ServerEvent>,
        /// The position this reply brings you to: ask again from here while `has_more` is true.
        pos: Pos,
        has_more: bool,
    },
}

/// WebSocket close codes the server uses, beyond the standard ones (1001 going away on shutdown,
/// 1009 frame too large, 1007 invalid UTF-8, 1002 protocol error).
pub mod close_code {
    /// No valid session at connect, or the session ended (logout): log in again, do not reconnect.
    pub const UNAUTHORIZED: u16 = 4001;
    /// Too many malformed frames in a row.
    pub const POLICY: u16 = 4008;
    /// The client read too slowly and its outgoing queue filled: reconnect and `sync`.
    pub const SLOW_CONSUMER: u16 = 4009;
    /// The client stopped answering pings.
    pub const TIMEOUT: u16 = 4010;
}

/// Body of `POST /api/auth/register` and `POST /api/auth/login`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// ASCII letters, digits, `_`, `.` and `-`, starting with a letter or digit.
    #[cfg_attr(
        feature = "schema",
        schemars(
            length(min = crate::model::limits::USERNAME_MIN_CHARS, max = crate::model::limits::USERNAME_MAX_CHARS),
            pattern("^[A-Za-z0-9][A-Za-z0-9_.-]*$")
        )
    )]
    pub username: String,
    /// At least `PASSWORD_MIN_CHARS` characters and at most `PASSWORD_MAX_BYTES` bytes of UTF-8.
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = crate::model::limits::PASSWORD_MIN_CHARS, max = crate::model::limits::PASSWORD_MAX_BYTES))
    )]
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Answer to register and login. Browsers also get the token as an HttpOnly cookie; other clients send
/// it as `Authorization: Bearer <token>`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user: User,
    pub token: String,
}

/// The JSON Schema (draft 2020-12) of every wire type, published as `docs/protocol.schema.json`.
#[cfg(feature = "schema")]
pub fn json_schema() -> String {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    generator.subschema_for::<Request>();
    generator.subschema_for::<ServerEvent>();
    generator.subschema_for::<Credentials>();
    generator.subschema_for::<Session>();
    generator.subschema_for::<ApiError>();
    let document = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Natter protocol",
        "description": "Client frames are `Request`, server frames `ServerEvent`; the HTTP API takes \
            `Credentials` and answers `Session` or `ApiError`. Prose and examples: docs/protocol.md.",
        "$defs": generator.take_definitions(true),
    });
    serde_json::to_string_pretty(&document).expect("a schema serializes") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ChatKind;

    /// Every JSON example in docs/protocol.md, parsed with the type the document says it is.
    #[test]
    fn documented_examples_parse() {
        let doc = include_str!("../../docs/protocol.md");
        let mut checked = 0;
        for block in doc.split("```json").skip(1) {
            let json = block.split("```").next().unwrap().trim();
            let value: serde_json::Value =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}):\n{json}"));
            let parsed = if value.get("id").is_some()
                && value.get("type").is_some()
                && !matches!(value["type"].as_str(), Some("reply" | "error"))
            {
                serde_json::from_value::<Request>(value.clone()).map(|_| ())
            } else if value.get("type").is_some() {
                serde_json::from_value::<ServerEvent>(value.clone()).map(|_| ())
            } else if value.get("token").is_some() {
                serde_json::from_value::<Session>(value.clone()).map(|_| ())
            } else if value.get("password").is_some() {
                serde_json::from_value::<Credentials>(value.clone()).map(|_| ())
            } else if value.get("mime").is_some() {
                serde_json::from_value::<crate::model::Media>(value.clone()).map(|_| ())
            } else if value.get("username").is_some() {
                serde_json::from_value::<User>(value.clone()).map(|_| ())
            } else {
                serde_json::from_value::<ApiError>(value.clone()).map(|_| ())
            };
            parsed.unwrap_or_else(|e| panic!("example does not match the types ({e}):\n{json}"));
            checked += 1;
        }
        assert!(checked >= 12, "only {checked} examples found");
    }

    /// The published schema is generated from these types; this fails when they change without it.
    #[cfg(feature = "schema")]
    #[test]
    fn the_published_schema_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.schema.json");
        let generated = json_schema();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &generated).expect("schema written");
            return;
        }
        let published = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            published == generated,
            "docs/protocol.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p app --features schema`"
        );
    }

    #[test]
    fn requests_are_flat_objects_with_a_type() {
        let request = Request {
            id: 3,
            event: ClientEvent::MessageSend {
                chat_id: ChatId(1),
                nonce: "n1".into(),
                body: "hi".into(),
            },
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": 3, "type": "message:send", "chat_id": 1, "nonce": "n1", "body": "hi"})
        );
        assert_eq!(serde_json::from_value::<Request>(json).unwrap(), request);
    }

    #[test]
    fn logged_events_carry_their_position() {
        let chat = Chat {
            id: ChatId(1),
            kind: ChatKind::Direct,
            title: None,
            public: false,
            members: vec![],
            created_at: 0,
            active_at: 0,
            last_message: None,
            seq: 0,
            unread: 0,
            muted: false,
            read_through: None,
        };
        assert_eq!(
            ServerEvent::ChatNew {
                pos: 9,
                seq: 1,
                chat
            }
            .pos(),
            Some(9)
        );
        let status = ServerEvent::UserStatus {
            person: Person {
                user: User {
                    id: UserId(1),
                    username: "a".into(),
                },
                presence: None,
            },
        };
        assert_eq!(status.pos(), None);
    }

    #[test]
    fn credentials_never_print_the_password() {
        let credentials = Credentials {
            username: "alice".into(),
            password: "hunter22".into(),
        };
        assert!(!format!("{credentials:?}").contains("hunter22"));
    }
}
