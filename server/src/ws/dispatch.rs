//! One client request in, exactly one reply out, plus the pushes the change calls for.

use crate::db::{Logged, Seen, SettingsChange};
use crate::error::{plain_json_error, Result};
use crate::relations::Action;
use crate::state::LiveState;
use app::model::{
    could_start_a_username, limits, validate_username, MessageBody, Nonce, StatusText, User, UserId,
};
use app::protocol::{
    ApiError, ClientEvent, ErrorCode, Refusal, Reply, Request, RequestId, ServerEvent,
};
use serde::Deserialize;

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

pub async fn handle(state: &LiveState, user: &User, text: &str) -> Outcome {
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
    let (reply, logged) = match execute(state, user, request.event).await {
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
    user: &User,
    event: ClientEvent,
) -> Result<(Reply, Vec<Logged>)> {
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
            (Reply::Message { message }, logged)
        }
        ClientEvent::ChatsList { before, limit } => {
            let limit = page_limit(limit, limits::CHAT_PAGE_MAX, limits::CHAT_PAGE_MAX)?;
            let (chats, has_more) = db.chats_page(user.id, before, limit).await?;
            (Reply::Chats { chats, has_more }, Vec::new())
        }
        ClientEvent::MessageHistory {
            chat_id,
            before,
            limit,
        } => {
            let limit = page_limit(limit, HISTORY_PAGE_DEFAULT, limits::HISTORY_PAGE_MAX)?;
            let (messages, has_more) = db.history(user.id, chat_id, before, limit).await?;
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
