//! What one person may see of another's presence. Every path that shows presence (`ready`,
//! `users:list`, the directory, `user:status` pushes, watches) asks this one function.

use crate::relations::Pair;
use app::model::{Presence, PresenceMode, Relation, Status, Timestamp, Visibility};

/// A user's presence as stored, before anyone's view of it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredPresence {
    /// Connected to some live node.
    pub connected: bool,
    pub mode: PresenceMode,
    pub text: Option<String>,
    pub visibility: Visibility,
    /// When their last connection ended, or when they last went invisible.
    pub last_seen: Option<Timestamp>,
}

impl StoredPresence {
    /// What anyone allowed to see it sees: invisible looks exactly like offline.
    pub fn public(&self) -> Presence {
        let status = match (self.connected, self.mode) {
            (false, _) | (true, PresenceMode::Invisible) => Status::Offline,
            (true, PresenceMode::Online) => Status::Online,
            (true, PresenceMode::Away) => Status::Away,
            (true, PresenceMode::Busy) => Status::Busy,
        };
        let offline = status == Status::Offline;
        Presence {
            status,
            text: if offline { None } else { self.text.clone() },
            last_seen: if offline { self.last_seen } else { None },
        }
    }

    /// What the viewer may see, given the pair from the subject's side (`mine` is the subject's
    /// relation to the viewer): nothing across a block, or where the subject's setting says so.
    pub fn shown_to(&self, pair: Pair) -> Option<Presence> {
        may_see(self.visibility, pair).then(|| self.public())
    }
}

/// Whether a viewer may see the presence of a subject with this setting, given the pair from the
/// subject's side.
pub fn may_see(visibility: Visibility, pair: Pair) -> bool {
    if pair.mine == Relation::Blocked || pair.theirs == Relation::Blocked {
        return false;
    }
    match visibility {
        Visibility::Everyone => true,
        Visibility::Friends => pair.mine == Relation::Friend,
        Visibility::Nobody => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(connected: bool, mode: PresenceMode, visibility: Visibility) -> StoredPresence {
        StoredPresence {
            connected,
            mode,
            text: Some("at lunch 🍜".into()),
            visibility,
            last_seen: Some(50),
        }
    }

    fn pair(mine: Relation, theirs: Relation) -> Pair {
        Pair { mine, theirs }
    }

    const FRIENDS: Pair = Pair {
        mine: Relation::Friend,
        theirs: Relation::Friend,
    };

    #[test]
    fn invisible_looks_exactly_like_offline() {
        let invisible = stored(true, PresenceMode::Invisible, Visibility::Everyone).public();
        let offline = stored(false, PresenceMode::Online, Visibility::Everyone).public();
        assert_eq!(invisible, offline);
        assert_eq!(
            offline,
            Presence {
                status: Status::Offline,
                text: None,
                last_seen: Some(50)
            }
        );
        let busy = stored(true, PresenceMode::Busy, Visibility::Everyone).public();
        assert_eq!(
            (busy.status, busy.text.as_deref(), busy.last_seen),
            (Status::Busy, Some("at lunch 🍜"), None)
        );
    }

    #[test]
    fn the_setting_decides_who_sees() {
        let online = |visibility| stored(true, PresenceMode::Online, visibility);
        let stranger = Pair::default();
        assert!(online(Visibility::Everyone).shown_to(stranger).is_some());
        assert!(online(Visibility::Friends).shown_to(stranger).is_none());
        assert!(online(Visibility::Friends).shown_to(FRIENDS).is_some());
        assert!(
            online(Visibility::Friends)
                .shown_to(pair(Relation::RequestSent, Relation::RequestReceived))
                .is_none(),
            "a request is not a friendship"
        );
        assert!(online(Visibility::Nobody).shown_to(FRIENDS).is_none());
    }

    #[test]
    fn a_block_either_way_hides_everything() {
        let everyone = stored(true, PresenceMode::Online, Visibility::Everyone);
        assert!(everyone
            .shown_to(pair(Relation::Blocked, Relation::None))
            .is_none());
        assert!(everyone
            .shown_to(pair(Relation::None, Relation::Blocked))
            .is_none());
    }
}
