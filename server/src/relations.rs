//! The rules of friendship and blocking: what each action does to a pair's relation, and what it
//! refuses. Pure, so every rule is tested here; `db/contacts.rs` reads the pair, applies a rule and
//! writes the result under the pair's locks.

use app::model::{limits, MessagePolicy, Relation, RequestPolicy, UserId};
use app::protocol::Refusal;

/// What one person does about another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Request,
    Cancel,
    Accept,
    Reject,
    Remove,
    Block,
    Unblock,
}

/// A pair as the actor sees it: where each stands with the other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pair {
    /// The actor's relation to the other.
    pub mine: Relation,
    /// The other's relation to the actor.
    pub theirs: Relation,
}

/// What the limits of each side allow, counted before the action.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub my_friends: usize,
    pub my_requests_sent: usize,
    pub my_blocked: usize,
    pub their_friends: usize,
    pub their_requests_received: usize,
}

/// The other side's choices that bear on the action.
#[derive(Clone, Copy, Debug, Default)]
pub struct TheirSettings {
    pub friend_requests: RequestPolicy,
}

/// The pair after `action` by the actor on `other`, or the refusal.
pub fn apply(
    action: Action,
    other: UserId,
    pair: Pair,
    counts: Counts,
    settings: TheirSettings,
) -> Result<Pair, Refusal> {
    use Relation::*;
    match action {
        Action::Request => match (pair.mine, pair.theirs) {
            (Blocked, _) => Err(Refusal::YouBlocked { user_id: other }),
            (_, Blocked) => Err(Refusal::RequestsNotAllowed { user_id: other }),
            (Friend, _) => Err(Refusal::AlreadyFriends),
            (RequestSent, _) => Err(Refusal::AlreadyRequested),
            // They asked first: asking back is saying yes.
            (RequestReceived, _) => befriend(counts),
            (None, _) => {
                let refused = Refusal::RequestsNotAllowed { user_id: other };
                if settings.friend_requests == RequestPolicy::Nobody
                    || counts.their_requests_received >= limits::REQUESTS_RECEIVED_MAX
                {
                    return Err(refused);
                }
                if counts.my_requests_sent >= limits::REQUESTS_SENT_MAX {
                    return Err(Refusal::TooManyRequests {
                        max: limits::REQUESTS_SENT_MAX,
                    });
                }
                Ok(Pair {
                    mine: RequestSent,
                    theirs: RequestReceived,
                })
            }
        },
        Action::Cancel => match pair.mine {
            RequestSent => Ok(Pair::default()),
            _ => Err(Refusal::NoFriendRequest),
        },
        Action::Accept => match pair.mine {
            RequestReceived => befriend(counts),
            _ => Err(Refusal::NoFriendRequest),
        },
        Action::Reject => match pair.mine {
            RequestReceived => Ok(Pair::default()),
            _ => Err(Refusal::NoFriendRequest),
        },
        Action::Remove => match pair.mine {
            Friend => Ok(Pair::default()),
            _ => Err(Refusal::NotFriends),
        },
        Action::Block => {
            if pair.mine == Blocked {
                return Err(Refusal::AlreadyBlocked);
            }
            if counts.my_blocked >= limits::BLOCKED_MAX {
                return Err(Refusal::TooManyBlocked {
                    max: limits::BLOCKED_MAX,
                });
            }
            // A block ends whatever friendship or request there was; their own block stays.
            let theirs = if pair.theirs == Blocked {
                Blocked
            } else {
                None
            };
            Ok(Pair {
                mine: Blocked,
                theirs,
            })
        }
        Action::Unblock => match pair.mine {
            Blocked => Ok(Pair {
                mine: None,
                theirs: pair.theirs,
            }),
            _ => Err(Refusal::NotBlocked),
        },
    }
}

fn befriend(counts: Counts) -> Result<Pair, Refusal> {
    let max = limits::FRIENDS_MAX;
    if counts.my_friends >= max {
        return Err(Refusal::TooManyFriends { max });
    }
    if counts.their_friends >= max {
        return Err(Refusal::TheyHaveTooManyFriends { max });
    }
    Ok(Pair {
        mine: Relation::Friend,
        theirs: Relation::Friend,
    })
}

/// Whether someone may open a direct chat with `peer` or message them in one, given where each stands
/// with the other and the peer's policy. A block and a policy refuse alike, so the sender cannot tell
/// which it was.
pub fn may_message(peer: UserId, pair: Pair, peer_policy: MessagePolicy) -> Result<(), Refusal> {
    if pair.mine == Relation::Blocked {
        return Err(Refusal::YouBlocked { user_id: peer });
    }
    let refused = pair.theirs == Relation::Blocked
        || (peer_policy == MessagePolicy::Friends && pair.mine != Relation::Friend);
    if refused {
        return Err(Refusal::MessagesNotAllowed { user_id: peer });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Relation::*;

    const BOB: UserId = UserId(2);

    fn pair(mine: Relation, theirs: Relation) -> Pair {
        Pair { mine, theirs }
    }

    fn act(action: Action, from: Pair) -> Result<Pair, Refusal> {
        apply(
            action,
            BOB,
            from,
            Counts::default(),
            TheirSettings::default(),
        )
    }

    #[test]
    fn a_request_answered_makes_friends_and_either_may_end_it() {
        let sent = act(Action::Request, Pair::default()).unwrap();
        assert_eq!(sent, pair(RequestSent, RequestReceived));
        // Bob's view of the same pair is the mirror image.
        let bobs = pair(sent.theirs, sent.mine);
        assert_eq!(act(Action::Accept, bobs), Ok(pair(Friend, Friend)));
        assert_eq!(act(Action::Reject, bobs), Ok(Pair::default()));
        assert_eq!(act(Action::Cancel, sent), Ok(Pair::default()));
        assert_eq!(
            act(Action::Remove, pair(Friend, Friend)),
            Ok(Pair::default())
        );
    }

    #[test]
    fn asking_someone_who_asked_you_is_a_yes() {
        assert_eq!(
            act(Action::Request, pair(RequestReceived, RequestSent)),
            Ok(pair(Friend, Friend))
        );
    }

    #[test]
    fn each_action_needs_its_state() {
        assert_eq!(
            act(Action::Request, pair(RequestSent, RequestReceived)),
            Err(Refusal::AlreadyRequested)
        );
        assert_eq!(
            act(Action::Request, pair(Friend, Friend)),
            Err(Refusal::AlreadyFriends)
        );
        for action in [Action::Cancel, Action::Accept, Action::Reject] {
            assert_eq!(
                act(action, pair(Friend, Friend)),
                Err(Refusal::NoFriendRequest)
            );
        }
        assert_eq!(
            act(Action::Accept, pair(RequestSent, RequestReceived)),
            Err(Refusal::NoFriendRequest),
            "one cannot accept one's own request"
        );
        assert_eq!(
            act(Action::Remove, Pair::default()),
            Err(Refusal::NotFriends)
        );
        assert_eq!(
            act(Action::Unblock, Pair::default()),
            Err(Refusal::NotBlocked)
        );
        assert_eq!(
            act(Action::Block, pair(Blocked, None)),
            Err(Refusal::AlreadyBlocked)
        );
    }

    #[test]
    fn a_block_ends_the_friendship_and_keeps_the_other_block() {
        assert_eq!(
            act(Action::Block, pair(Friend, Friend)),
            Ok(pair(Blocked, None))
        );
        assert_eq!(
            act(Action::Block, pair(RequestReceived, RequestSent)),
            Ok(pair(Blocked, None))
        );
        assert_eq!(
            act(Action::Block, pair(None, Blocked)),
            Ok(pair(Blocked, Blocked))
        );
        assert_eq!(
            act(Action::Unblock, pair(Blocked, Blocked)),
            Ok(pair(None, Blocked))
        );
    }

    #[test]
    fn blocked_and_unwilling_read_the_same() {
        let blocked_by_them = act(Action::Request, pair(None, Blocked));
        let unwilling = apply(
            Action::Request,
            BOB,
            Pair::default(),
            Counts::default(),
            TheirSettings {
                friend_requests: RequestPolicy::Nobody,
            },
        );
        assert_eq!(blocked_by_them, unwilling);
        assert_eq!(unwilling, Err(Refusal::RequestsNotAllowed { user_id: BOB }));
        assert_eq!(
            act(Action::Request, pair(Blocked, None)),
            Err(Refusal::YouBlocked { user_id: BOB })
        );
    }

    #[test]
    fn limits_hold() {
        let full = |counts: Counts| {
            apply(
                Action::Request,
                BOB,
                Pair::default(),
                counts,
                TheirSettings::default(),
            )
        };
        assert_eq!(
            full(Counts {
                my_requests_sent: limits::REQUESTS_SENT_MAX,
                ..Counts::default()
            }),
            Err(Refusal::TooManyRequests {
                max: limits::REQUESTS_SENT_MAX
            })
        );
        assert_eq!(
            full(Counts {
                their_requests_received: limits::REQUESTS_RECEIVED_MAX,
                ..Counts::default()
            }),
            Err(Refusal::RequestsNotAllowed { user_id: BOB })
        );
        let accept = |counts: Counts| {
            apply(
                Action::Accept,
                BOB,
                pair(RequestReceived, RequestSent),
                counts,
                TheirSettings::default(),
            )
        };
        assert_eq!(
            accept(Counts {
                their_friends: limits::FRIENDS_MAX,
                ..Counts::default()
            }),
            Err(Refusal::TheyHaveTooManyFriends {
                max: limits::FRIENDS_MAX
            })
        );
        assert!(matches!(
            accept(Counts {
                my_friends: limits::FRIENDS_MAX,
                ..Counts::default()
            }),
            Err(Refusal::TooManyFriends { .. })
        ));
    }

    #[test]
    fn messages_follow_blocks_and_policy() {
        let everyone = MessagePolicy::Everyone;
        let friends = MessagePolicy::Friends;
        assert_eq!(may_message(BOB, Pair::default(), everyone), Ok(()));
        assert_eq!(may_message(BOB, pair(Friend, Friend), friends), Ok(()));
        let refused = Err(Refusal::MessagesNotAllowed { user_id: BOB });
        assert_eq!(may_message(BOB, Pair::default(), friends), refused);
        assert_eq!(may_message(BOB, pair(None, Blocked), everyone), refused);
        assert_eq!(
            may_message(BOB, pair(Blocked, None), everyone),
            Err(Refusal::YouBlocked { user_id: BOB })
        );
    }
}
