//! Domain types shared by the server, the browser and the wire protocol.
//!
//! Ids are minted by the server; times are UTC milliseconds since the Unix epoch.

use crate::errors::Refusal;
use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A registered account.
    UserId
);
id_type!(
    /// A conversation: a direct chat between two people, or a group.
    ChatId
);
id_type!(
    /// A stored message; ids grow with time, so they also order a chat's history.
    MessageId
);

/// A position in the server's event log, shared by every chat and user. Positions grow with each
/// change, in the order the changes were stored; a client passes the last it applied to `sync`.
pub type Pos = i64;

/// A count within one chat's events (or one user's own): 1, 2, 3, ... with no gaps, so a client that
/// sees one skip knows it missed an event.
pub type Seq = i64;

/// Milliseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// The public face of an account. The server keeps its password hash elsewhere.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: String,
}

/// Someone, with their presence as the reader may see it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub user: User,
    /// Absent when their setting (or a block either way) does not let the reader see it.
    pub presence: Option<Presence>,
}

/// Someone as the directory shows them to the reader: where the reader stands with them, and their
/// presence where the reader may see it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    pub user: User,
    /// The reader's relation to them.
    pub relation: Relation,
    pub presence: Option<Presence>,
}

/// How someone appears to others.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Presence {
    pub status: Status,
    /// Their custom status, while they are not offline. Show it as text.
    #[serde(default)]
    pub text: Option<String>,
    /// While offline: when their last connection ended, if known.
    #[serde(default)]
    pub last_seen: Option<Timestamp>,
}

/// What others see: someone invisible is `offline` to everyone.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Online,
    Away,
    Busy,
    Offline,
}

/// What a person chooses to show while connected.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceMode {
    #[default]
    Online,
    Away,
    Busy,
    /// Appear offline to everyone, while still connected.
    Invisible,
}

/// A person's own presence choice: the mode and custom status text they set, kept across
/// connections until they change it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyStatus {
    pub mode: PresenceMode,
    pub text: Option<String>,
}

/// Who may see someone's presence, status text and last seen.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Everyone,
    #[default]
    Friends,
    Nobody,
}

/// `as_str` and `from_stored`: the names an enum is stored under in the database.
macro_rules! stored_names {
    ($name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            pub fn from_stored(name: &str) -> Option<Self> {
                match name { $($text => Some($name::$variant),)* _ => None }
            }
        }
    };
}
/// Where someone stands with me, as I see it. Whether they blocked me is never shown.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Nothing between us (a request was cancelled or rejected, a friendship ended, or never began).
    #[default]
    None,
    Friend,
    /// I asked them to be friends; they have not answered.
    RequestSent,
    /// They asked me; I have not answered.
    RequestReceived,
    /// I blocked them: no requests or direct messages either way, and they see none of my presence.
    Blocked,
}

stored_names!(Relation {
    None => "none",
    Friend => "friend",
    RequestSent => "request_sent",
    RequestReceived => "request_received",
    Blocked => "blocked",
});

/// Someone I have a relation with, and since when it stands.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub user: User,
    pub relation: Relation,
    /// When the relation last changed.
    pub since: Timestamp,
}

/// Who may open a direct chat with me and message me in it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagePolicy {
    #[default]
    Everyone,
    Friends,
}

/// Who may send me friend requests.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestPolicy {
    #[default]
    Everyone,
    Nobody,
}

/// A user's own choices about what others may do. Only the user sees them.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(default)]
    pub direct_messages: MessagePolicy,
    #[serde(default)]
    pub friend_requests: RequestPolicy,
    /// Who sees my presence, status text and last seen.
    #[serde(default)]
    pub presence_visibility: Visibility,
}

stored_names!(MessagePolicy { Everyone => "everyone", Friends => "friends" });
stored_names!(RequestPolicy { Everyone => "everyone", Nobody => "nobody" });
stored_names!(Visibility { Everyone => "everyone", Friends => "friends", Nobody => "nobody" });
stored_names!(PresenceMode {
    Online => "online",
    Away => "away",
    Busy => "busy",
    Invisible => "invisible",
});

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    /// Exactly two members, at most one such chat per pair.
    Direct,
    /// Any number of members.
    Group,
}

impl ChatKind {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::Direct => "direct",
            ChatKind::Group => "group",
        }
    }

    pub fn from_stored(name: &str) -> Option<Self> {
        [ChatKind::Direct, ChatKind::Group]
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// What a member may do in a group. The owner and admins manage it; members talk. Both members of
/// a direct chat are `member`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Renames, adds, removes, bans, makes and unmakes admins, deletes the group. One per group.
    Owner,
    /// Renames, adds, removes and bans members (not admins), deletes others' messages.
    Admin,
    #[default]
    Member,
}

stored_names!(Role { Owner => "owner", Admin => "admin", Member => "member" });

impl Role {
    /// Whether this role manages its group: renames it, adds and removes members.
    pub fn manages(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// Someone in a chat, their role there, and how far they have read it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user: User,
    pub role: Role,
    /// The newest message they have marked read, if any: they have seen every message up to it.
    /// Absent for a newcomer until they mark one; what came before them is not theirs to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<MessageId>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    pub id: ChatId,
    pub kind: ChatKind,
    /// A group's title, as its members named it; absent for direct chats. Show it as text.
    #[serde(default)]
    pub title: Option<String>,
    /// A public group is listed in the room directory and anyone its admins have not banned may
    /// join it; a private one is joined only by being added.
    #[serde(default)]
    pub public: bool,
    /// The current members, longest-standing first.
    pub members: Vec<Member>,
    pub created_at: Timestamp,
    /// When the newest message was sent, else when the chat was created: chat lists are ordered by it,
    /// most recent first.
    pub active_at: Timestamp,
    /// The start of the newest message, for the chat list. The whole message comes with history.
    pub last_message: Option<MessagePreview>,
    /// The `seq` of the chat's newest event: the next push for this chat carries `seq + 1`.
    pub seq: Seq,
    /// The messages others sent after the newest the reader has read (system lines and deleted
    /// messages do not count).
    #[serde(default)]
    pub unread: u32,
    /// The reader muted the chat: no notifications, and its count stays out of the total.
    #[serde(default)]
    pub muted: bool,
    /// The newest message counted as read for the reader, if any: `unread` counts from it, and
    /// the chat opens after it. A newcomer's starts at their arrival (unlike their `read` among
    /// the members, which shows only what they marked read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_through: Option<MessageId>,
}

impl Chat {
    /// Where this chat stands in a chat list, to page on from.
    pub fn position(&self) -> ChatPosition {
        ChatPosition {
            active_at: self.active_at,
            chat_id: self.id,
        }
    }

    /// Takes in `message` if it is newer than the preview held, or the same one edited or deleted.
    pub fn saw(&mut self, message: &Message) {
        if self
            .last_message
            .as_ref()
            .is_none_or(|known| known.id <= message.id)
        {
            self.last_message = Some(MessagePreview::of(message));
            self.active_at = self.active_at.max(message.sent_at);
        }
    }

    /// The other member of a direct chat, as seen by `me`.
    pub fn peer(&self, me: UserId) -> Option<&User> {
        self.members
            .iter()
            .map(|member| &member.user)
            .find(|user| user.id != me)
    }

    /// How far `user` has read this chat.
    pub fn read_by(&self, user: UserId) -> Option<MessageId> {
        self.members
            .iter()
            .find(|member| member.user.id == user)
            .and_then(|member| member.read)
    }

    /// `user`'s role here, if they are a member.
    pub fn role_of(&self, user: UserId) -> Option<Role> {
        self.members
            .iter()
            .find(|member| member.user.id == user)
            .map(|member| member.role)
    }
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub chat_id: ChatId,
    /// Who wrote it; for a system line, who made the change it tells of.
    pub sender_id: UserId,
    /// The sender's own id for this message, echoed back so a client can match its pending copy.
    /// A system line's is made by the server and holds a space, which no client's can.
    pub nonce: String,
    /// For a system line, the change told in English ("alice added bob"); clients may instead
    /// render `system` in their own words.
    pub body: String,
    pub sent_at: Timestamp,
    /// Present on a system line: the change to the group it records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<GroupChange>,
    /// When the sender last edited it; `message:versions` shows the earlier texts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Timestamp>,
    /// When the message was deleted; its text and earlier versions are erased and `body` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Timestamp>,
}

/// One text a message has had, and since when.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageVersion {
    pub body: String,
    /// When it was sent with this text, or edited to it.
    pub since: Timestamp,
}

/// A change to a group, as the conversation shows it in a system line. The line also tells
/// clients how the group changed, so one event updates both.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum GroupChange {
    /// The sender created the group with this title.
    Created {
        title: String,
    },
    Renamed {
        title: String,
    },
    /// The sender made the group public (listed and joinable) or private.
    Visibility {
        public: bool,
    },
    /// The sender added these people.
    Added {
        users: Vec<User>,
    },
    /// The sender removed `user`, and banned them from joining again if `banned`.
    Removed {
        user: User,
        banned: bool,
    },
    /// `user` (the sender) joined the public group.
    Joined {
        user: User,
    },
    /// The sender left; if they owned the group, `new_owner` owns it now.
    Left {
        #[serde(default)]
        new_owner: Option<User>,
    },
    /// The sender made `user` an admin, or a member again.
    RoleChanged {
        user: User,
        role: Role,
    },
}

impl GroupChange {
    /// The line in English, naming the sender `actor`.
    pub fn describe(&self, actor: &str) -> String {
        let names = |users: &[User]| {
            let names: Vec<&str> = users.iter().map(|user| user.username.as_str()).collect();
            match names.as_slice() {
                [] => String::new(),
                [one] => (*one).to_string(),
                [init @ .., last] => format!("{} and {last}", init.join(", ")),
            }
        };
        match self {
            GroupChange::Created { title } => format!("{actor} created the group \"{title}\""),
            GroupChange::Renamed { title } => format!("{actor} renamed the group to \"{title}\""),
            GroupChange::Visibility { public: true } => format!("{actor} made the group public"),
            GroupChange::Visibility { public: false } => format!("{actor} made the group private"),
            GroupChange::Added { users } => format!("{actor} added {}", names(users)),
            GroupChange::Removed { user, banned } => {
                let ban = if *banned { " and banned them" } else { "" };
                format!("{actor} removed {}{ban}", user.username)
            }
            GroupChange::Joined { .. } => format!("{actor} joined"),
            GroupChange::Left { new_owner: None } => format!("{actor} left"),
            GroupChange::Left {
                new_owner: Some(owner),
            } => format!("{actor} left; {} owns the group now", owner.username),
            GroupChange::RoleChanged {
                user,
                role: Role::Admin,
            } => format!("{actor} made {} an admin", user.username),
            GroupChange::RoleChanged { user, .. } => {
                format!("{actor} made {} a member", user.username)
            }
        }
    }
}

/// A public group as the room directory lists it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub chat_id: ChatId,
    /// Show it as text.
    pub title: String,
    pub member_count: u32,
    /// The asker is a member.
    pub joined: bool,
}

/// A chat's place in a chat list: lists are ordered by `active_at`, then `chat_id`, both descending.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChatPosition {
    pub active_at: Timestamp,
    pub chat_id: ChatId,
}

/// A message as a chat list shows it: its first characters only.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePreview {
    pub id: MessageId,
    pub sender_id: UserId,
    pub sent_at: Timestamp,
    /// At most `PREVIEW_MAX_CHARS` characters of the body.
    pub text: String,
    /// The body is longer than `text`.
    pub truncated: bool,
    /// The message was deleted (`text` is empty).
    #[serde(default)]
    pub deleted: bool,
}

impl MessagePreview {
    pub fn of(message: &Message) -> Self {
        Self {
            deleted: message.deleted_at.is_some(),
            ..Self::from_start(
                message.id,
                message.sender_id,
                message.sent_at,
                &message.body,
            )
        }
    }

    /// The preview of a message whose body begins with `body_start` (the whole body, or any start of
    /// it longer than a preview).
    pub fn from_start(
        id: MessageId,
        sender_id: UserId,
        sent_at: Timestamp,
        body_start: &str,
    ) -> Self {
        let mut text: String = body_start.chars().take(limits::PREVIEW_MAX_CHARS).collect();
        let truncated = text.len() < body_start.len();
        if truncated {
            text.truncate(text.trim_end().len());
        }
        Self {
            id,
            sender_id,
            sent_at,
            text,
            truncated,
            deleted: false,
        }
    }
}

/// An uploaded file's id: 32 lower-case hex digits, unguessable, and its object's name in the store.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MediaId(pub String);

impl MediaId {
    /// The id if `text` has the shape of one, so nothing else reaches the store as a name.
    pub fn parse(text: &str) -> Option<Self> {
        let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        (text.len() == 32 && text.chars().all(hex)).then(|| Self(text.to_string()))
    }
}

impl std::fmt::Display for MediaId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an uploaded file is, decided from its bytes.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// JPEG, PNG, GIF or WebP: shown inline.
    Image,
    Audio,
    Video,
    /// PDF, plain text, an archive: offered for download.
    File,
}

stored_names!(MediaKind { Image => "image", Audio => "audio", Video => "video", File => "file" });

/// An uploaded file, as its uploader (and later the members of chats it is in) see it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    pub id: MediaId,
    pub kind: MediaKind,
    /// The type detected from the bytes, as it is served.
    pub mime: String,
    pub size: u64,
    /// The name it was uploaded with, made safe to show: show it as text.
    pub name: String,
}

/// Limits every client and the server agree on; the server enforces them.
pub mod limits {
    pub const USERNAME_MIN_CHARS: usize = 3;
    pub const USERNAME_MAX_CHARS: usize = 32;
    pub const PASSWORD_MIN_CHARS: usize = 8;
    /// Longer inputs would only make Argon2 slower for nobody's benefit.
    pub const PASSWORD_MAX_BYTES: usize = 1024;
    pub const MESSAGE_MAX_CHARS: usize = 4000;
    pub const NONCE_MAX_CHARS: usize = 64;
    pub const HISTORY_PAGE_MAX: u32 = 100;
    /// Chats in `ready`, and the most one `chats:list` page holds.
    pub const CHAT_PAGE_MAX: u32 = 50;
    /// People in one page of the directory (`users:list`, `users:search`), and the default.
    pub const DIRECTORY_PAGE_MAX: u32 = 50;
    pub const DIRECTORY_PAGE_DEFAULT: u32 = 20;
    /// Characters of a custom status text.
    pub const STATUS_TEXT_MAX_CHARS: usize = 100;
    /// Characters of a message a chat list's preview shows.
    pub const PREVIEW_MAX_CHARS: usize = 100;
    pub const SYNC_BATCH_MAX: u32 = 500;
    /// Friends one person may have.
    pub const FRIENDS_MAX: usize = 1000;
    /// Friend requests one person may have waiting for an answer, sent or received.
    pub const REQUESTS_SENT_MAX: usize = 100;
    pub const REQUESTS_RECEIVED_MAX: usize = 1000;
    /// People one person may block.
    pub const BLOCKED_MAX: usize = 1000;
    /// People one person may wait for (`user:wait`) at a time.
    pub const WAITS_MAX: usize = 20;
    /// Seconds a `typing:start` lasts without a repeat.
    pub const TYPING_LEASE_SECS: u64 = 6;
    /// Characters of a group's title.
    pub const GROUP_TITLE_MAX_CHARS: usize = 100;
    /// Members a group may have unless the server is configured otherwise (`--group-members-max`).
    pub const GROUP_MEMBERS_DEFAULT: usize = 1000;
    /// Public groups in one page of the room directory (`rooms:list`), and the default.
    pub const ROOM_PAGE_MAX: u32 = 50;
    pub const ROOM_PAGE_DEFAULT: u32 = 20;
    /// Characters of a room directory search.
    pub const ROOM_QUERY_MAX_CHARS: usize = 100;
    /// The largest HTTP request body the API reads.
    pub const HTTP_BODY_MAX_BYTES: usize = 16 * 1024;
    /// Bytes of one uploaded file unless the server is configured otherwise (`--media-file-max-mib`).
    pub const MEDIA_FILE_MAX_BYTES_DEFAULT: u64 = 10 * 1024 * 1024;
    /// Characters of a file's name as it is kept for display.
    pub const MEDIA_NAME_MAX_CHARS: usize = 200;
    /// The largest WebSocket text frame the server reads.
    pub const FRAME_MAX_BYTES: usize = 64 * 1024;
}

/// Whether `text` shows nothing: only whitespace, characters that render invisibly (zero-width
/// spaces and joiners, bidi controls, variation selectors, Hangul fillers, the blank Braille pattern
/// and the other default-ignorable code points) and control characters.
fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
}

/// Characters that render as nothing (Unicode's Default_Ignorable_Code_Point, plus U+2800, the
/// blank Braille pattern, which renders as a space).
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{2800}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Control characters a message body may hold: line breaks and tabs. Others are refused.
fn is_allowed_control(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\t')
}

/// A nonce is printable ASCII: `!` to `~`, no spaces, so it can neither hide nor reorder text.
fn is_nonce_char(c: char) -> bool {
    c.is_ascii_graphic()
}

/// Checks a username: 3–32 characters of ASCII letters, digits, `_`, `.` or `-`, starting with a letter
/// or digit.
pub fn validate_username(username: &str) -> Result<(), Refusal> {
    let count = username.chars().count();
    if !(limits::USERNAME_MIN_CHARS..=limits::USERNAME_MAX_CHARS).contains(&count) {
        return Err(Refusal::UsernameLength {
            min_chars: limits::USERNAME_MIN_CHARS,
            max_chars: limits::USERNAME_MAX_CHARS,
        });
    }
    if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(Refusal::UsernameCharacters);
    }
    if !username.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(Refusal::UsernameStart);
    }
    Ok(())
}

/// Whether `text` could be the start of a username (any letter case): what a directory search may
/// look for, and where its pages may resume.
pub fn could_start_a_username(text: &str) -> bool {
    text.chars().count() <= limits::USERNAME_MAX_CHARS
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

pub fn validate_password(password: &str) -> Result<(), Refusal> {
    if password.chars().count() < limits::PASSWORD_MIN_CHARS {
        return Err(Refusal::PasswordTooShort {
            min_chars: limits::PASSWORD_MIN_CHARS,
        });
    }
    if password.len() > limits::PASSWORD_MAX_BYTES {
        return Err(Refusal::PasswordTooLong {
            max_bytes: limits::PASSWORD_MAX_BYTES,
        });
    }
    Ok(())
}

/// A message body that keeps the rules: some visible text, at most `MESSAGE_MAX_CHARS` characters,
/// and no control characters but line breaks and tabs. The composer and the server both parse with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    pub fn parse(text: String) -> Result<Self, Refusal> {
        if text.chars().count() > limits::MESSAGE_MAX_CHARS {
            return Err(Refusal::message_too_long());
        }
        if text
            .chars()
            .any(|c| c.is_control() && !is_allowed_control(c))
        {
            return Err(Refusal::MessageControlCharacter);
        }
        if is_blank(&text) {
            return Err(Refusal::MessageBlank);
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A custom status text: at most `STATUS_TEXT_MAX_CHARS` characters on one line, emoji welcome.
/// Surrounding whitespace is dropped, and text that shows nothing means no status text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusText(String);

impl StatusText {
    pub fn parse(text: &str) -> Result<Option<Self>, Refusal> {
        let text = text.trim();
        if text.chars().count() > limits::STATUS_TEXT_MAX_CHARS {
            return Err(Refusal::StatusTextTooLong {
                max_chars: limits::STATUS_TEXT_MAX_CHARS,
            });
        }
        if text.chars().any(char::is_control) {
            return Err(Refusal::StatusTextControlCharacter);
        }
        Ok((!is_blank(text)).then(|| Self(text.to_string())))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A group's title: 1 to `GROUP_TITLE_MAX_CHARS` characters on one line with something visible.
/// Surrounding whitespace is dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupTitle(String);

impl GroupTitle {
    pub fn parse(text: &str) -> Result<Self, Refusal> {
        let text = text.trim();
        if text.chars().count() > limits::GROUP_TITLE_MAX_CHARS {
            return Err(Refusal::GroupTitleTooLong {
                max_chars: limits::GROUP_TITLE_MAX_CHARS,
            });
        }
        if text.chars().any(char::is_control) {
            return Err(Refusal::GroupTitleControlCharacter);
        }
        if is_blank(text) {
            return Err(Refusal::GroupTitleBlank);
        }
        Ok(Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A sender's idempotency key for one message: 1 to `NONCE_MAX_CHARS` printable ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nonce(String);

impl Nonce {
    pub fn parse(text: String) -> Result<Self, Refusal> {
        let length = text.chars().count();
        if length == 0 || length > limits::NONCE_MAX_CHARS || !text.chars().all(is_nonce_char) {
            return Err(Refusal::NonceInvalid {
                max_chars: limits::NONCE_MAX_CHARS,
            });
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rules() {
        assert!(validate_username("alice").is_ok());
        assert!(validate_username("a.b-c_9").is_ok());
        assert!(validate_username("al").is_err());
        assert!(validate_username(&"a".repeat(33)).is_err());
        assert!(validate_username("_alice").is_err());
        assert!(validate_username("alice bob").is_err());
        assert!(validate_username("<script>").is_err());
        assert!(validate_username("ålice").is_err());
    }

    #[test]
    fn previews_keep_the_start_of_long_messages() {
        let message = |body: String| Message {
            id: MessageId(1),
            chat_id: ChatId(1),
            sender_id: UserId(1),
            nonce: "n".into(),
            body,
            sent_at: 5,
            system: None,
            edited_at: None,
            deleted_at: None,
        };
        let short = MessagePreview::of(&message("hi there".into()));
        assert_eq!((short.text.as_str(), short.truncated), ("hi there", false));
        let long = MessagePreview::of(&message("é".repeat(4000)));
        assert_eq!(long.text.chars().count(), limits::PREVIEW_MAX_CHARS);
        assert!(long.truncated);
    }

    #[test]
    fn invisible_text_is_blank() {
        for blank in [
            "",
            " \n\t",
            "\u{200B}\u{200B}",
            "\u{3164}",
            "\u{2800}\u{2800}",
            "\u{200B}\u{200D}",
            "\u{202E}",
            "\u{FEFF} \u{00A0}",
            "\u{1}\u{7}",
        ] {
            assert!(is_blank(blank), "{blank:?}");
        }
        for shown in ["hi", " x ", "\u{202E}abc", "👍", "\u{200D}👩"] {
            assert!(!is_blank(shown), "{shown:?}");
        }
    }

    #[test]
    fn nonces_are_printable_ascii() {
        assert!("k3v9-1764000000000".chars().all(is_nonce_char));
        for bad in [' ', '\u{202E}', '\u{0}', 'é', '\u{200B}'] {
            assert!(!is_nonce_char(bad), "{bad:?}");
        }
    }

    #[test]
    fn bodies_and_nonces_parse_by_the_rules() {
        let body = |text: &str| MessageBody::parse(text.to_string());
        assert!(body("hi").is_ok());
        assert!(body("two\nlines\twith a tab").is_ok());
        assert_eq!(body("  \n"), Err(Refusal::MessageBlank));
        assert_eq!(body("\u{200B}\u{200D}"), Err(Refusal::MessageBlank));
        assert_eq!(body("bell\u{7}"), Err(Refusal::MessageControlCharacter));
        assert_eq!(body(&"x".repeat(4001)), Err(Refusal::message_too_long()));
        assert!(body(&"é".repeat(4000)).is_ok());
        let nonce = |text: &str| Nonce::parse(text.to_string());
        assert!(nonce("abc-123").is_ok());
        for bad in ["", &"n".repeat(65), "a\u{0}b", "a\u{202E}b", "a b"] {
            assert!(nonce(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn status_texts_are_one_short_line() {
        let parse = |text: &str| StatusText::parse(text).map(|t| t.map(StatusText::into_inner));
        assert_eq!(parse("  at lunch 🍜 "), Ok(Some("at lunch 🍜".into())));
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("\u{200B} "), Ok(None), "invisible text is no text");
        assert_eq!(
            parse("two\nlines"),
            Err(Refusal::StatusTextControlCharacter)
        );
        assert!(parse(&"é".repeat(100)).is_ok());
        assert_eq!(
            parse(&"é".repeat(101)),
            Err(Refusal::StatusTextTooLong { max_chars: 100 })
        );
    }

    #[test]
    fn group_titles_are_one_visible_line() {
        let parse = |text: &str| GroupTitle::parse(text).map(|t| t.as_str().to_string());
        assert_eq!(parse("  Climbing 🧗 "), Ok("Climbing 🧗".into()));
        assert_eq!(parse(" \u{200B}"), Err(Refusal::GroupTitleBlank));
        assert_eq!(parse("a\nb"), Err(Refusal::GroupTitleControlCharacter));
        assert_eq!(
            parse(&"é".repeat(101)),
            Err(Refusal::GroupTitleTooLong { max_chars: 100 })
        );
    }

    #[test]
    fn system_lines_read_as_english() {
        let user = |name: &str| User {
            id: UserId(1),
            username: name.into(),
        };
        let added = GroupChange::Added {
            users: vec![user("bob"), user("cy"), user("di")],
        };
        assert_eq!(added.describe("ann"), "ann added bob, cy and di");
        let left = GroupChange::Left {
            new_owner: Some(user("bob")),
        };
        assert_eq!(left.describe("ann"), "ann left; bob owns the group now");
        let removed = GroupChange::Removed {
            user: user("bob"),
            banned: true,
        };
        assert_eq!(removed.describe("ann"), "ann removed bob and banned them");
    }

    #[test]
    fn passwords_have_a_minimum_and_a_maximum() {
        assert!(validate_password("correct horse").is_ok());
        assert!(validate_password("short").is_err());
        assert!(validate_password(&"x".repeat(2000)).is_err());
    }
}
