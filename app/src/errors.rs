//! The one error shape, over HTTP (as the JSON body) and over the socket (inside `error`), and the
//! domain cases a client can react to. Every sentence a person reads about a refusal is written here.

use crate::model::{limits, ChatId, MessageId, UserId};
use serde::{Deserialize, Serialize};

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    /// For people: what went wrong and, where it helps, what to do.
    pub message: String,
    /// With `rate_limited` and `unavailable`: seconds to wait before trying again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    /// For programs: which rule refused the request, with its data. Absent where `code` says all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_secs: None,
            refusal: None,
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        Self {
            refusal: Some(refusal),
            ..Self::new(refusal.code(), refusal.to_string())
        }
    }
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No valid session: log in again.
    Unauthorized,
    /// The session (or, over HTTP, the page's origin) may not do this.
    Forbidden,
    NotFound,
    /// The request is malformed or breaks a rule; the message says which.
    Invalid,
    TooLarge,
    RateLimited,
    /// Clashes with existing state, such as a taken username.
    Conflict,
    /// The `sync` position is not one the server can answer from: reload everything instead.
    ResyncRequired,
    /// The server or a dependency such as the database is briefly busy or unavailable; nothing was
    /// stored: retry (after `retry_after_secs` when given).
    Unavailable,
    /// An HTTP endpoint was called with a method it does not take.
    MethodNotAllowed,
    Internal,
}

impl ErrorCode {
    /// The HTTP status this code travels with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Invalid => 400,
            ErrorCode::TooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Conflict | ErrorCode::ResyncRequired => 409,
            ErrorCode::Unavailable => 503,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Internal => 500,
        }
    }
}

/// A rule that refused a request, tagged by `kind`, with what a client needs to react to it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Refusal {
    /// The chat does not exist or the user is not (or no longer) a member; the two read the same, so
    /// outsiders learn nothing about which chats exist.
    #[error("You are not a member of that chat.")]
    NotMember { chat_id: ChatId },
    #[error("There is no such user.")]
    UnknownUser { user_id: UserId },
    #[error("A direct chat needs someone else.")]
    DirectChatWithSelf,
    #[error("A message has at most {max_chars} characters.")]
    MessageTooLong { max_chars: usize },
    #[error("A message needs some visible text.")]
    MessageBlank,
    #[error("A message may hold line breaks and tabs but no other control characters.")]
    MessageControlCharacter,
    #[error("A nonce is 1 to {max_chars} printable ASCII characters, `!` to `~`.")]
    NonceInvalid { max_chars: usize },
    /// The nonce names an earlier message with other content: one nonce, one message.
    #[error("That nonce was already used for another message: choose a new one.")]
    NonceReused,
    #[error("limit is between 1 and {max}.")]
    LimitOutOfRange { max: u32 },
    #[error("A username has {min_chars} to {max_chars} characters.")]
    UsernameLength { min_chars: usize, max_chars: usize },
    #[error("A username may use only letters a–z, digits, '_', '.' and '-'.")]
    UsernameCharacters,
    #[error("A username starts with a letter or a digit.")]
    UsernameStart,
    #[error("That username is taken.")]
    UsernameTaken,
    #[error("A password has at least {min_chars} characters.")]
    PasswordTooShort { min_chars: usize },
    #[error("A password has at most {max_bytes} bytes.")]
    PasswordTooLong { max_bytes: usize },
    #[error("There is no one with that username.")]
    UnknownUsername,
    /// Name the person by `user_id` or by `username`: one of the two.
    #[error("Name the person by user_id or by username, not both and not neither.")]
    PersonUnnamed,
    #[error("That is you.")]
    IsYou,
    #[error("You are friends already.")]
    AlreadyFriends,
    #[error("You asked them already; wait for their answer.")]
    AlreadyRequested,
    #[error("There is no friend request to answer or cancel.")]
    NoFriendRequest,
    #[error("You are not friends.")]
    NotFriends,
    #[error("You blocked them already.")]
    AlreadyBlocked,
    #[error("You have not blocked them.")]
    NotBlocked,
    /// The asker blocked this person: unblocking comes first.
    #[error("You blocked them: unblock them first.")]
    YouBlocked { user_id: UserId },
    /// They blocked the asker, or take no requests, or have too many waiting: which is not said.
    #[error("They are not taking friend requests from you.")]
    RequestsNotAllowed { user_id: UserId },
    /// They blocked the sender, or take direct messages from friends only: which is not said.
    #[error("They are not taking direct messages from you.")]
    MessagesNotAllowed { user_id: UserId },
    #[error("You have {max} friends, the most one may have.")]
    TooManyFriends { max: usize },
    /// The other person has as many friends as one may.
    #[error("They have {max} friends, the most one may have.")]
    TheyHaveTooManyFriends { max: usize },
    #[error("You have {max} friend requests waiting for an answer: cancel some first.")]
    TooManyRequests { max: usize },
    #[error("You have blocked {max} people, the most one may: unblock some first.")]
    TooManyBlocked { max: usize },
    #[error("A status has at most {max_chars} characters.")]
    StatusTextTooLong { max_chars: usize },
    #[error("A status is one line, without control characters.")]
    StatusTextControlCharacter,
    #[error("Type the start of a name to search for.")]
    SearchQueryBlank,
    /// A search (or its `after`) that no username could match.
    #[error("Search for the start of a username: letters a–z, digits, '_', '.' and '-'.")]
    SearchQueryInvalid,
    /// Their presence is not shown to the asker (their setting, or a block: which is not said).
    #[error("You cannot see when they are online.")]
    PresenceHidden { user_id: UserId },
    #[error("You are waiting for them already.")]
    AlreadyWaiting,
    #[error("You are not waiting for them.")]
    NotWaiting,
    #[error("You are waiting for {max} people, the most one may: stop waiting for some first.")]
    TooManyWaits { max: usize },
    #[error("That is a direct chat, not a group.")]
    NotAGroup { chat_id: ChatId },
    #[error("Only the group's owner may do that.")]
    OwnerOnly,
    #[error("Only the group's owner and admins may do that.")]
    AdminsOnly,
    #[error("A group has at most {max} members.")]
    GroupFull { max: usize },
    #[error("They are in the group already.")]
    AlreadyMember { user_id: UserId },
    #[error("They are not in the group.")]
    NotInGroup { user_id: UserId },
    /// No public group has this id: it does not exist, or it is private (which is not said).
    #[error("There is no such public group.")]
    RoomNotFound { chat_id: ChatId },
    #[error("You were banned from this group.")]
    BannedFromRoom { chat_id: ChatId },
    #[error("They are not banned from the group.")]
    NotBanned { user_id: UserId },
    /// They blocked the asker, or take messages from friends only: which is not said.
    #[error("They are not taking messages from you, so you cannot add them.")]
    AddNotAllowed { user_id: UserId },
    #[error("A member can be made an admin or a member; a group has one owner.")]
    RoleNotAssignable,
    #[error("A group needs a title with some visible text.")]
    GroupTitleBlank,
    #[error("A group's title has at most {max_chars} characters.")]
    GroupTitleTooLong { max_chars: usize },
    #[error("A group's title is one line, without control characters.")]
    GroupTitleControlCharacter,
    #[error("A search has at most {max_chars} characters.")]
    SearchTooLong { max_chars: usize },
    #[error("Say what to change.")]
    NothingToChange,
    /// No message with this id that the user may see: none, or in a chat they are not in (alike).
    #[error("There is no such message.")]
    MessageNotFound { message_id: MessageId },
    #[error("Only its sender may do that to a message.")]
    NotYourMessage,
    #[error("That message was deleted.")]
    MessageDeleted,
    #[error("A line about a change to the group cannot be edited or deleted.")]
    SystemLineFixed,
    #[error("Ask for messages before a message or after one, not both.")]
    BeforeAndAfter,
    #[error("A file has at most {max_bytes} bytes.")]
    FileTooLarge { max_bytes: u64 },
    /// What the user has stored in all would pass their quota.
    #[error("Your files would take more than your {quota_bytes} bytes: delete some first.")]
    FileQuotaFull { quota_bytes: u64 },
    /// Decided from the file's bytes, never from its name or the type the client claims.
    #[error(
        "Files of that type cannot be shared: images, PDF, text, archives, audio and video can."
    )]
    FileTypeNotAllowed,
    #[error("Send one file, in a multipart form field named \"file\".")]
    FileMissing,
    /// No file with this id that the user may see: none, or one only others may (alike).
    #[error("There is no such file.")]
    FileNotFound,
}

impl Refusal {
    /// The error code, and so the HTTP status, this refusal travels with.
    pub fn code(self) -> ErrorCode {
        match self {
            Refusal::NotMember { .. }
            | Refusal::OwnerOnly
            | Refusal::AdminsOnly
            | Refusal::BannedFromRoom { .. }
            | Refusal::AddNotAllowed { .. }
            | Refusal::NotYourMessage => ErrorCode::Forbidden,
            Refusal::UnknownUser { .. }
            | Refusal::UnknownUsername
            | Refusal::NoFriendRequest
            | Refusal::NotFriends
            | Refusal::NotBlocked
            | Refusal::NotWaiting
            | Refusal::NotInGroup { .. }
            | Refusal::RoomNotFound { .. }
            | Refusal::NotBanned { .. }
            | Refusal::MessageNotFound { .. } => ErrorCode::NotFound,
            Refusal::RequestsNotAllowed { .. }
            | Refusal::MessagesNotAllowed { .. }
            | Refusal::PresenceHidden { .. } => ErrorCode::Forbidden,
            Refusal::MessageTooLong { .. } => ErrorCode::TooLarge,
            Refusal::NonceReused
            | Refusal::UsernameTaken
            | Refusal::AlreadyFriends
            | Refusal::AlreadyRequested
            | Refusal::AlreadyBlocked
            | Refusal::YouBlocked { .. }
            | Refusal::TooManyFriends { .. }
            | Refusal::TheyHaveTooManyFriends { .. }
            | Refusal::TooManyRequests { .. }
            | Refusal::TooManyBlocked { .. }
            | Refusal::AlreadyWaiting
            | Refusal::TooManyWaits { .. }
            | Refusal::GroupFull { .. }
            | Refusal::AlreadyMember { .. }
            | Refusal::MessageDeleted => ErrorCode::Conflict,
            Refusal::DirectChatWithSelf
            | Refusal::MessageBlank
            | Refusal::MessageControlCharacter
            | Refusal::NonceInvalid { .. }
            | Refusal::LimitOutOfRange { .. }
            | Refusal::UsernameLength { .. }
            | Refusal::UsernameCharacters
            | Refusal::UsernameStart
            | Refusal::PasswordTooShort { .. }
            | Refusal::PasswordTooLong { .. }
            | Refusal::PersonUnnamed
            | Refusal::IsYou
            | Refusal::StatusTextControlCharacter
            | Refusal::SearchQueryBlank
            | Refusal::SearchQueryInvalid
            | Refusal::NotAGroup { .. }
            | Refusal::RoleNotAssignable
            | Refusal::GroupTitleBlank
            | Refusal::GroupTitleControlCharacter
            | Refusal::NothingToChange
            | Refusal::SystemLineFixed
            | Refusal::BeforeAndAfter
            | Refusal::FileTypeNotAllowed
            | Refusal::FileMissing => ErrorCode::Invalid,
            Refusal::FileTooLarge { .. } | Refusal::FileQuotaFull { .. } => ErrorCode::TooLarge,
            Refusal::FileNotFound => ErrorCode::NotFound,
            Refusal::StatusTextTooLong { .. }
            | Refusal::GroupTitleTooLong { .. }
            | Refusal::SearchTooLong { .. } => ErrorCode::TooLarge,
        }
    }

    pub fn message_too_long() -> Self {
        Refusal::MessageTooLong {
            max_chars: limits::MESSAGE_MAX_CHARS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_travels_with_its_code_text_and_data() {
        let error = ApiError::from(Refusal::NotMember { chat_id: ChatId(7) });
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "code": "forbidden",
                "message": "You are not a member of that chat.",
                "refusal": {"kind": "not_member", "chat_id": 7}
            })
        );
        assert_eq!(serde_json::from_value::<ApiError>(json).unwrap(), error);
        assert_eq!(
            ApiError::from(Refusal::message_too_long()).message,
            "A message has at most 4000 characters."
        );
    }
}
