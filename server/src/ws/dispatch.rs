//! One client request in, exactly one reply out, plus the pushes the change calls for.

use crate::db::{HistoryFrom, Logged, Seen, SettingsChange};
use crate::error::{plain_json_error, Error, Result};
use crate::relations::Action;
use crate::state::LiveState;
use app::model::{
    could_start_a_username, limits, validate_username, GroupTitle, MessageBody, Nonce, StatusText,
    User, UserId,
};
use app::protocol::{
    ApiError, ClientEvent, ErrorCode, Refusal, Reply, Request, RequestId, ServerEvent,
};
use serde::Deserialize;
use std::time::Duration;
use tokio::time::Instant;

/// What handling a frame produced.
pub struct Outcome {
    /// The `reply` or `error` naming the request.
    pub reply: ServerEvent,
    /// The events the change logged, committed; the relay delivers them to every member's
    /// connections (the sender's own included).
    pub logged: Vec<Logged>,
    /// The frame was not a readable request at all.
    pub malformed: bool,
}

const HISTORY_PAGE_DEFAULT: u32 = 50;

/// Typing notices one connection may send in a burst, and how many more it earns each second:
/// plenty for a person, who sends one every few seconds while typing.
const TYPING_BURST: f64 = 20.0;
const TYPING_PER_SEC: f64 = 2.0;

/// What one connection carries from request to request.
pub struct Connection {
    pub user: User,
    /// The hub's id for this connection.
    pub id: u64,
    typing: Budget,
}

impl Connection {
    pub fn new(user: User, id: u64) -> Self {
        Self {
            user,
            id,
            typing: Budget::new(TYPING_BURST, TYPING_PER_SEC),
        }
    }
}

/// A token bucket: `capacity` requests at once, refilled at `per_sec`.
struct Budget {
    tokens: f64,
    capacity: f64,
    per_sec: f64,
    at: Instant,
}

impl Budget {
    fn new(capacity: f64, per_sec: f64) -> Self {
        Self {
            tokens: capacity,
            capacity,
            per_sec,
            at: Instant::now(),
        }
    }

    /// Spends one token, or says how long until one is there.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let earned = now.duration_since(self.at).as_secs_f64() * self.per_sec;
        self.tokens = (self.tokens + earned).min(self.capacity);
        self.at = now;
        if self.tokens < 1.0 {
            return Err(Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec));
        }
        self.tokens -= 1.0;
        Ok(())
    }
}

pub async fn handle(state: &LiveState, connection: &mut Connection, text: &str) -> Outcome {
    let request = match parse(text) {
        Ok(request) => request,
        Err((id, message)) => {
            return Outcome {
                reply: ServerEvent::Error {
                    id,
                    error: ApiError::new(ErrorCode::Invalid, message),
                },
                logged: Vec::new(),
                malformed: true,
            }
        }
    };
    let (reply, logged) = match execute(state, connection, request.event).await {
        Ok((result, logged)) => (
            ServerEvent::Reply {
                id: request.id,
                result,
            },
            logged,
        ),
        Err(error) => {
            error.log();
            let error = error.api();
            (
                ServerEvent::Error {
                    id: Some(request.id),
                    error,
                },
                Vec::new(),
            )
        }
    };
    Outcome {
        reply,
        logged,
        malformed: false,
    }
}

/// Parses a request; on failure recovers its id when the frame has a readable one.
fn parse(text: &str) -> Result<Request, (Option<RequestId>, String)> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: Option<RequestId>,
    }
    serde_json::from_str::<Request>(text).map_err(|error| {
        let id = serde_json::from_str::<IdOnly>(text)
            .ok()
            .and_then(|frame| frame.id);
        let message = if error.is_data() {
            plain_json_error(&error.to_string())
        } else {
            "The frame is not a JSON object.".to_string()
        };
        (id, message)
    })
}

async fn execute(
    state: &LiveState,
    connection: &mut Connection,
    event: ClientEvent,
) -> Result<(Reply, Vec<Logged>)> {
    let user = &connection.user;
    let db = &state.db;
    let now = crate::now_ms();
    Ok(match event {
        ClientEvent::UsersList { after, limit } => directory(state, user, "", after, limit).await?,
        ClientEvent::UsersSearch {
            query,
            after,
            limit,
        } => {
            let query = query.trim();
            if query.is_empty() {
                return Err(Refusal::SearchQueryBlank.into());
            }
            directory(state, user, query, after, limit).await?
        }
        ClientEvent::ChatOpen { user_id } => {
            let (chat, logged) = db.open_direct(user, user_id, now).await?;
            (Reply::Chat { chat }, logged)
        }
        ClientEvent::ChatGet { chat_id } => (
            Reply::Chat {
                chat: db.chat_of_member(user.id, chat_id).await?,
            },
            Vec::new(),
        ),
        ClientEvent::GroupCreate {
            title,
            members,
            public,
        } => {
            let title = GroupTitle::parse(&title)?;
            let max = state.group_members_max;
            let (chat, logged) = db
                .create_group(user, &title, &members, public, max, now)
                .await?;
            (Reply::Chat { chat }, logged)
        }
        ClientEvent::GroupUpdate {
            chat_id,
            title,
            public,
        } => {
            let title = title.as_deref().map(GroupTitle::parse).transpose()?;
            let (chat, logged) = db.update_group(user, chat_id, title, public, now).await?;
            (Reply::Chat { chat }, logged)
        }
        ClientEvent::GroupAdd { chat_id, user_ids } => {
            let max = state.group_members_max;
            let (chat, logged) = db.add_to_group(user, chat_id, &user_ids, max, now).await?;
            (Reply::Chat { chat }, logged)
        }
        ClientEvent::GroupRemove {
            chat_id,
            user_id,
            ban,
        } => {
            let (chat, logged) = db
                .remove_from_group(user, chat_id, user_id, ban, now)
                .await?;
            (Reply::Chat { chat }, logged)
        }
        ClientEvent::GroupSetRole {
            chat_id,
            user_id,
            role,
        } => {
            let (chat, logged) = db.set_group_role(user, chat_id, user_id, role, now).await?;
            (Reply::Chat { chat }, logged)
        }
        ClientEvent::GroupBans { chat_id } => (
            Reply::Bans {
                chat_id,
                users: db.group_bans(user.id, chat_id).await?,
            },
            Vec::new(),
        ),
        ClientEvent::GroupUnban { chat_id, user_id } => (
            Reply::Bans {
                chat_id,
                users: db.unban(user.id, chat_id, user_id).await?,
            },
            Vec::new(),
        ),
        ClientEvent::GroupDelete { chat_id } => (
            Reply::Left { chat_id },
            db.delete_group(user, chat_id, now).await?,
        ),
        ClientEvent::ChatJoin { chat_id } => {
            let max = state.group_members_max;
            let (chat, logged) = db.join_group(user, chat_id, max, now).await?;
            (Reply::Chat { chat }, logged)
        }
        ClientEvent::ChatLeave { chat_id } => (
            Reply::Left { chat_id },
            db.leave_group(user, chat_id, now).await?,
        ),
        ClientEvent::RoomsList {
            query,
            before,
            limit,
        } => {
            let limit = page_limit(limit, limits::ROOM_PAGE_DEFAULT, limits::ROOM_PAGE_MAX)?;
            let query = query.as_deref().map(str::trim).filter(|q| !q.is_empty());
            if query.is_some_and(|q| q.chars().count() > limits::ROOM_QUERY_MAX_CHARS) {
                return Err(Refusal::SearchTooLong {
                    max_chars: limits::ROOM_QUERY_MAX_CHARS,
                }
                .into());
            }
            let (rooms, has_more) = db.rooms(user.id, query, before, limit).await?;
            (Reply::Rooms { rooms, has_more }, Vec::new())
        }
        ClientEvent::MessageSend {
            chat_id,
            nonce,
            body,
        } => {
            let nonce = Nonce::parse(nonce)?;
            let body = MessageBody::parse(body)?;
            let (message, logged) = db
                .send_message(user.id, chat_id, &nonce, &body, now)
                .await?;
            state.typing.stopped(chat_id, user.id);
            (Reply::Message { message }, logged)
        }
        ClientEvent::MessageEdit { message_id, body } => {
            let body = MessageBody::parse(body)?;
            let (message, logged) = db.edit_message(user.id, message_id, &body, now).await?;
            (Reply::Message { message }, logged)
        }
        ClientEvent::MessageDelete { message_id } => {
            let (message, logged) = db.delete_message(user.id, message_id, now).await?;
            (Reply::Message { message }, logged)
        }
        ClientEvent::MessageVersions { message_id } => (
            Reply::Versions {
                message_id,
                versions: db.message_versions(user.id, message_id).await?,
            },
            Vec::new(),
        ),
        ClientEvent::ChatRead {
            chat_id,
            message_id,
        } => {
            let (read, unread, logged) = db.mark_read(user.id, chat_id, message_id, now).await?;
            (
                Reply::Read {
                    chat_id,
                    read,
                    unread,
                },
                logged,
            )
        }
        ClientEvent::ChatMute { chat_id, muted } => {
            (Reply::Ok, db.set_muted(user.id, chat_id, muted, now).await?)
        }
        ClientEvent::UnreadCount { before } => {
            let totals = db.unread_totals(user.id, before).await?;
            (
                Reply::Unread {
                    chats: totals.chats,
                    messages: totals.messages,
                },
                Vec::new(),
            )
        }
        ClientEvent::TypingStart { chat_id } => {
            typing_allowed(&mut connection.typing)?;
            let audience = db.others_in(chat_id, user.id).await?;
            state.typing.started(chat_id, user, connection.id, audience);
            (Reply::Ok, Vec::new())
        }
        ClientEvent::TypingStop { chat_id } => {
            typing_allowed(&mut connection.typing)?;
            state.typing.stopped(chat_id, user.id);
            (Reply::Ok, Vec::new())
        }
        ClientEvent::ChatsList { before, limit } => {
            let limit = page_limit(limit, limits::CHAT_PAGE_MAX, limits::CHAT_PAGE_MAX)?;
            let (chats, has_more) = db.chats_page(user.id, before, limit).await?;
            (Reply::Chats { chats, has_more }, Vec::new())
        }
        ClientEvent::MessageHistory {
            chat_id,
            before,
            after,
            limit,
        } => {
            let limit = page_limit(limit, HISTORY_PAGE_DEFAULT, limits::HISTORY_PAGE_MAX)?;
            let from = match (before, after) {
                (_, None) => HistoryFrom::Before(before),
                (None, Some(after)) => HistoryFrom::After(after),
                (Some(_), Some(_)) => return Err(Refusal::BeforeAndAfter.into()),
            };
            let (messages, has_more) = db.history(user.id, chat_id, from, limit).await?;
            (
                Reply::History {
                    chat_id,
                    messages,
                    has_more,
                },
                Vec::new(),
            )
        }
        ClientEvent::ContactsList => (
            Reply::Contacts {
                contacts: db.contacts(user.id).await?,
            },
            Vec::new(),
        ),
        ClientEvent::FriendRequest { user_id, username } => {
            let other = match (user_id, username) {
                (Some(user_id), None) => user_id,
                (None, Some(username)) => {
                    // A name no account could have is looked up nowhere.
                    let found = match validate_username(&username) {
                        Ok(()) => db.user_named(&username).await?,
                        Err(_) => None,
                    };
                    found.ok_or(Refusal::UnknownUsername)?.id
                }
                _ => return Err(Refusal::PersonUnnamed.into()),
            };
            contact_change(state, user, other, Action::Request).await?
        }
        ClientEvent::FriendCancel { user_id } => {
            contact_change(state, user, user_id, Action::Cancel).await?
        }
        ClientEvent::FriendAccept { user_id } => {
            contact_change(state, user, user_id, Action::Accept).await?
        }
        ClientEvent::FriendReject { user_id } => {
            contact_change(state, user, user_id, Action::Reject).await?
        }
        ClientEvent::FriendRemove { user_id } => {
            contact_change(state, user, user_id, Action::Remove).await?
        }
        ClientEvent::UserBlock { user_id } => {
            contact_change(state, user, user_id, Action::Block).await?
        }
        ClientEvent::UserUnblock { user_id } => {
            contact_change(state, user, user_id, Action::Unblock).await?
        }
        ClientEvent::SettingsUpdate {
            direct_messages,
            friend_requests,
            presence_visibility,
        } => {
            let change = SettingsChange {
                direct_messages,
                friend_requests,
                presence_visibility,
            };
            let (before, settings, logged) = db.update_settings(user.id, change, now).await?;
            if before.presence_visibility != settings.presence_visibility {
                state
                    .presence
                    .visibility_changed(
                        user.id,
                        before.presence_visibility,
                        settings.presence_visibility,
                    )
                    .await;
            }
            (Reply::Settings { settings }, logged)
        }
        ClientEvent::UserWait { user_id } => {
            let (waiting, logged) = db.start_waiting(user.id, user_id, now).await?;
            (Reply::Waiting { waiting }, logged)
        }
        ClientEvent::UserStopWaiting { user_id } => {
            let (waiting, logged) = db.stop_waiting(user.id, user_id, now).await?;
            (Reply::Waiting { waiting }, logged)
        }
        ClientEvent::StatusSet { mode, text } => {
            let text = StatusText::parse(&text)?;
            let (status, logged, change) = db.set_status(user.id, mode, text, now).await?;
            if let Some(change) = change {
                state.presence.announce(change).await;
            }
            (Reply::Status { status }, logged)
        }
        ClientEvent::Sync { epoch, after } => {
            let page = db
                .sync(user.id, &epoch, after, limits::SYNC_BATCH_MAX)
                .await?;
            (
                Reply::Sync {
                    events: page.events,
                    pos: page.pos,
                    has_more: page.has_more,
                },
                Vec::new(),
            )
        }
    })
}

/// A page of the people whose username starts with `prefix`, as `user` may see them.
async fn directory(
    state: &LiveState,
    user: &User,
    prefix: &str,
    after: Option<String>,
    limit: Option<u32>,
) -> Result<(Reply, Vec<Logged>)> {
    let limit = page_limit(
        limit,
        limits::DIRECTORY_PAGE_DEFAULT,
        limits::DIRECTORY_PAGE_MAX,
    )?;
    if !could_start_a_username(prefix) || !after.as_deref().is_none_or(could_start_a_username) {
        return Err(Refusal::SearchQueryInvalid.into());
    }
    let (seen, has_more) = state
        .db
        .directory(user.id, prefix, after.as_deref(), limit, crate::now_ms())
        .await?;
    let people = seen.iter().map(Seen::entry).collect();
    Ok((Reply::People { people, has_more }, Vec::new()))
}

async fn contact_change(
    state: &LiveState,
    user: &User,
    other: UserId,
    action: Action,
) -> Result<(Reply, Vec<Logged>)> {
    let change = state
        .db
        .change_relation(user, other, action, crate::now_ms())
        .await?;
    state.presence.relation_changed(user.id, &change).await;
    Ok((
        Reply::Contact {
            contact: change.contact,
        },
        change.logged,
    ))
}

/// Spends one of the connection's typing notices, or refuses with how long to wait.
fn typing_allowed(budget: &mut Budget) -> Result<()> {
    budget
        .take(Instant::now())
        .map_err(|retry_after| Error::RateLimited {
            message: "You are sending typing notices too fast.".into(),
            retry_after,
        })
}

/// A page size the client asked for (or the default), within 1 and `max`.
fn page_limit(asked: Option<u32>, default: u32, max: u32) -> Result<u32, Refusal> {
    let limit = asked.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(Refusal::LimitOutOfRange { max });
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_budget_allows_a_burst_then_earns_tokens_back() {
        let mut budget = Budget::new(3.0, 2.0);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(budget.take(start), Ok(()));
        }
        assert_eq!(budget.take(start), Err(Duration::from_millis(500)));
        assert_eq!(budget.take(start + Duration::from_millis(500)), Ok(()));
        assert!(budget.take(start + Duration::from_millis(600)).is_err());
        tokio::time::advance(Duration::from_secs(10)).await;
        for _ in 0..3 {
            assert_eq!(
                budget.take(Instant::now()),
                Ok(()),
                "refilled up to the burst"
            );
        }
        assert!(budget.take(Instant::now()).is_err());
    }

    #[test]
    fn a_broken_frame_keeps_its_id_when_it_has_one() {
        assert_eq!(
            parse(r#"{"id": 4, "type": "nope"}"#).unwrap_err().0,
            Some(4)
        );
        assert_eq!(
            parse(r#"{"id": 4, "type": "sync", "epoch": "e", "after": "x"}"#)
                .unwrap_err()
                .0,
            Some(4)
        );
        assert_eq!(parse("not json").unwrap_err().0, None);
        let (_, message) = parse(r#"{"id": 5, "type": "users:list""#).unwrap_err();
        assert_eq!(message, "The frame is not a JSON object.");
        let (_, message) =
            parse(r#"{"id": 4, "type": "sync", "epoch": "e", "after": "x"}"#).unwrap_err();
        assert!(
            !message.contains("line 1") && !message.contains("i64"),
            "{message}"
        );
        let deep = "[".repeat(10_000);
        assert_eq!(parse(&deep).unwrap_err().0, None);
    }
}
