//! One client request in, exactly one reply out, plus the pushes the change calls for.

use crate::db::Fanout;
use crate::error::{plain_json_error, Error, Result};
use crate::state::AppState;
use app::model::{is_allowed_control, is_blank, is_nonce_char, limits, Person, User};
use app::protocol::{ApiError, ClientEvent, ErrorCode, Reply, Request, RequestId, ServerEvent};
use serde::Deserialize;

/// What handling a frame produced.
pub struct Outcome {
    /// The `reply` or `error` naming the request.
    pub reply: ServerEvent,
    /// Pushes the change calls for, to every connection of each user (the sender's own included);
    /// they are queued before the reply is written, and leave after it.
    pub fanout: Fanout,
    /// The frame was not a readable request at all.
    pub malformed: bool,
}

const HISTORY_PAGE_DEFAULT: u32 = 50;

pub async fn handle(state: &AppState, user: &User, text: &str) -> Outcome {
    let request = match parse(text) {
        Ok(request) => request,
        Err((id, message)) => {
            return Outcome {
                reply: ServerEvent::Error {
                    id,
                    error: ApiError::new(ErrorCode::Invalid, message),
                },
                fanout: Vec::new(),
                malformed: true,
            }
        }
    };
    let (reply, fanout) = match execute(state, user, request.event).await {
        Ok((result, fanout)) => (
            ServerEvent::Reply {
                id: request.id,
                result,
            },
            fanout,
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
        fanout,
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

async fn execute(state: &AppState, user: &User, event: ClientEvent) -> Result<(Reply, Fanout)> {
    let db = &state.db;
    let now = crate::now_ms();
    Ok(match event {
        ClientEvent::UsersList => (
            Reply::People {
                people: people(state).await?,
            },
            Vec::new(),
        ),
        ClientEvent::ChatOpen { user_id } => {
            let (chat, fanout) = db.open_direct(user, user_id, now).await?;
            (Reply::Chat { chat }, fanout)
        }
        ClientEvent::MessageSend {
            chat_id,
            nonce,
            body,
        } => {
            check_nonce(&nonce)?;
            check_body(&body)?;
            let (message, fanout) = db
                .send_message(user.id, chat_id, &nonce, &body, now)
                .await?;
            (Reply::Message { message }, fanout)
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
            db.require_member(chat_id, user.id).await?;
            let limit = page_limit(limit, HISTORY_PAGE_DEFAULT, limits::HISTORY_PAGE_MAX)?;
            let (messages, has_more) = db.history(chat_id, before, limit).await?;
            (
                Reply::History {
                    chat_id,
                    messages,
                    has_more,
                },
                Vec::new(),
            )
        }
        ClientEvent::Sync { after } => {
            let page = db
                .stream_after(user.id, after, limits::SYNC_BATCH_MAX)
                .await?;
            (
                Reply::Sync {
                    events: page.events,
                    seq: page.seq,
                    has_more: page.has_more,
                },
                Vec::new(),
            )
        }
    })
}

/// Everyone registered, with whether they are connected now.
pub async fn people(state: &AppState) -> Result<Vec<Person>> {
    let online: std::collections::HashSet<_> = state.hub.online_users().into_iter().collect();
    Ok(state
        .db
        .users()
        .await?
        .into_iter()
        .map(|user| Person {
            online: online.contains(&user.id),
            user,
        })
        .collect())
}

/// A page size the client asked for (or the default), within 1 and `max`.
fn page_limit(asked: Option<u32>, default: u32, max: u32) -> Result<u32> {
    let limit = asked.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(Error::Invalid(format!("limit is between 1 and {max}.")));
    }
    Ok(limit)
}

fn check_nonce(nonce: &str) -> Result<()> {
    let length = nonce.chars().count();
    if length == 0 || length > limits::NONCE_MAX_CHARS || !nonce.chars().all(is_nonce_char) {
        return Err(Error::Invalid(format!(
            "A nonce is 1 to {} printable ASCII characters, `!` to `~`.",
            limits::NONCE_MAX_CHARS
        )));
    }
    Ok(())
}

fn check_body(body: &str) -> Result<()> {
    if body.chars().count() > limits::MESSAGE_MAX_CHARS {
        return Err(Error::TooLarge(format!(
            "A message has at most {} characters.",
            limits::MESSAGE_MAX_CHARS
        )));
    }
    if body
        .chars()
        .any(|c| c.is_control() && !is_allowed_control(c))
    {
        return Err(Error::Invalid(
            "A message may hold line breaks and tabs but no other control characters.".into(),
        ));
    }
    if is_blank(body) {
        return Err(Error::Invalid("A message needs some visible text.".into()));
    }
    Ok(())
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
            parse(r#"{"id": 4, "type": "sync", "after": "x"}"#)
                .unwrap_err()
                .0,
            Some(4)
        );
        assert_eq!(parse("not json").unwrap_err().0, None);
        let (_, message) = parse(r#"{"id": 5, "type": "users:list""#).unwrap_err();
        assert_eq!(message, "The frame is not a JSON object.");
        let (_, message) = parse(r#"{"id": 4, "type": "sync", "after": "x"}"#).unwrap_err();
        assert!(
            !message.contains("line 1") && !message.contains("i64"),
            "{message}"
        );
        let deep = "[".repeat(10_000);
        assert_eq!(parse(&deep).unwrap_err().0, None);
    }

    #[test]
    fn bodies_and_nonces_are_checked() {
        assert!(check_body("hi").is_ok());
        assert!(check_body("two\nlines\twith a tab").is_ok());
        assert!(matches!(check_body("  \n"), Err(Error::Invalid(_))));
        assert!(matches!(
            check_body("\u{200B}\u{200D}"),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(check_body("bell\u{7}"), Err(Error::Invalid(_))));
        assert!(matches!(
            check_body(&"x".repeat(4001)),
            Err(Error::TooLarge(_))
        ));
        assert!(check_nonce("abc-123").is_ok());
        assert!(check_nonce("").is_err());
        assert!(check_nonce(&"n".repeat(65)).is_err());
        assert!(check_nonce("a\u{0}b").is_err());
        assert!(check_nonce("a\u{202E}b").is_err());
        assert!(check_nonce("a b").is_err());
    }
}
