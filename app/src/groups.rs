//! Who may do what in a group: pure rules, unit tested for every role. The server asks them inside
//! each change's transaction, after taking the chat's row lock, with the roles it read there; the
//! browser asks them to offer only the controls that would be allowed.

use crate::errors::Refusal;
use crate::model::{Role, UserId};

/// Something a member does to their group or to someone in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupAction {
    /// Rename it, make it public or private, add people, see and lift bans.
    Manage,
    /// Remove someone who holds `target`.
    Remove {
        target: Role,
    },
    /// Make someone who holds `target` an admin or a member (`to`).
    SetRole {
        target: Role,
        to: Role,
    },
    Delete,
}

/// Whether a member holding `actor` may do `action`. The owner does everything; admins manage
/// and remove members; members talk.
pub fn may(actor: Role, action: GroupAction) -> Result<(), Refusal> {
    match action {
        GroupAction::Manage if actor.manages() => Ok(()),
        GroupAction::Manage => Err(Refusal::AdminsOnly),
        GroupAction::Remove { target } => match (actor, target) {
            (Role::Owner, _) | (Role::Admin, Role::Member) => Ok(()),
            (Role::Admin, _) => Err(Refusal::OwnerOnly),
            (Role::Member, _) => Err(Refusal::AdminsOnly),
        },
        GroupAction::SetRole {
            to: Role::Owner, ..
        }
        | GroupAction::SetRole {
            target: Role::Owner,
            ..
        } => Err(Refusal::RoleNotAssignable),
        GroupAction::SetRole { .. } | GroupAction::Delete if actor == Role::Owner => Ok(()),
        GroupAction::SetRole { .. } | GroupAction::Delete => Err(Refusal::OwnerOnly),
    }
}

/// Who owns the group once its owner leaves: the longest-standing admin, else the longest-standing
/// member; `None` when nobody stays. `staying` is in the order they joined.
pub fn successor(staying: &[(UserId, Role)]) -> Option<UserId> {
    let longest_standing = |role: Role| {
        staying
            .iter()
            .find(|(_, held)| *held == role)
            .map(|(id, _)| *id)
    };
    longest_standing(Role::Admin).or_else(|| longest_standing(Role::Member))
}

#[cfg(test)]
mod tests {
    use super::*;
    use GroupAction::*;
    use Role::*;

    #[test]
    fn owners_and_admins_manage_and_members_talk() {
        assert_eq!(may(Owner, Manage), Ok(()));
        assert_eq!(may(Admin, Manage), Ok(()));
        assert_eq!(may(Member, Manage), Err(Refusal::AdminsOnly));
    }

    #[test]
    fn admins_remove_members_and_only_the_owner_removes_admins() {
        for target in [Admin, Member] {
            assert_eq!(may(Owner, Remove { target }), Ok(()));
        }
        assert_eq!(may(Admin, Remove { target: Member }), Ok(()));
        assert_eq!(
            may(Admin, Remove { target: Admin }),
            Err(Refusal::OwnerOnly)
        );
        assert_eq!(
            may(Admin, Remove { target: Owner }),
            Err(Refusal::OwnerOnly)
        );
        assert_eq!(
            may(Member, Remove { target: Member }),
            Err(Refusal::AdminsOnly)
        );
    }

    #[test]
    fn only_the_owner_makes_admins_and_nobody_makes_owners() {
        assert_eq!(
            may(
                Owner,
                SetRole {
                    target: Member,
                    to: Admin
                }
            ),
            Ok(())
        );
        assert_eq!(
            may(
                Owner,
                SetRole {
                    target: Admin,
                    to: Member
                }
            ),
            Ok(())
        );
        for actor in [Admin, Member] {
            assert_eq!(
                may(
                    actor,
                    SetRole {
                        target: Member,
                        to: Admin
                    }
                ),
                Err(Refusal::OwnerOnly)
            );
        }
        assert_eq!(
            may(
                Owner,
                SetRole {
                    target: Admin,
                    to: Owner
                }
            ),
            Err(Refusal::RoleNotAssignable)
        );
    }

    #[test]
    fn only_the_owner_deletes() {
        assert_eq!(may(Owner, Delete), Ok(()));
        assert_eq!(may(Admin, Delete), Err(Refusal::OwnerOnly));
        assert_eq!(may(Member, Delete), Err(Refusal::OwnerOnly));
    }

    #[test]
    fn the_longest_standing_admin_inherits_else_the_longest_standing_member() {
        let (a, b, c) = (UserId(1), UserId(2), UserId(3));
        assert_eq!(successor(&[(a, Member), (b, Admin), (c, Admin)]), Some(b));
        assert_eq!(successor(&[(c, Member), (a, Member)]), Some(c));
        assert_eq!(successor(&[]), None);
    }
}
