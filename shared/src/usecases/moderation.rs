//! Room moderation: owners and admins ban users from a room (removed, kept out until the ban
//! expires or is lifted) and mute members (who read but may not send, until the mute ends).
//! A moderator acts on those with a role below theirs: the owner on admins and members, an
//! admin on members.

use chrono::{DateTime, Duration, Utc};

use super::rooms::{MemberRemovedEvent, Removal, RoomService};
use crate::domain::{Ban, BanReason, Participant, Role, RoomId, RoomType, UserId};
use crate::error::Error;
use crate::ports::{RoomEvent, UserEvent};

/// The longest a ban with an expiry or a mute lasts: a year. A ban without one lasts until it
/// is lifted.
pub const MAX_MODERATION_SECS: u64 = 366 * 24 * 3600;

/// A ban as a moderator asks for it.
#[derive(Debug, Clone)]
pub struct NewBan {
    pub reason: Option<BanReason>,
    /// Seconds from now, 1 to [`MAX_MODERATION_SECS`]; `None` bans until lifted.
    pub expires_in: Option<u64>,
}

impl RoomService {
    /// Bans `target` from the room: a member is removed (every socket of theirs stops
    /// following the room), and nobody may add them, nor may they join, while it holds.
    /// Answered, like a removal, once no node can accept a send of theirs any more.
    pub async fn ban(
        &self,
        actor: UserId,
        room: RoomId,
        target: UserId,
        request: NewBan,
    ) -> Result<Ban, Error> {
        let expires_in = request.expires_in.map(|secs| checked_duration("expires_in", secs)).transpose()?;
        let membership = self.moderate(actor, room, target).await?;
        if self.users.by_id(target).await?.is_none() {
            return Err(Error::NotFound("user"));
        }
        let now = self.clock.now();
        let ban = Ban {
            room_id: room,
            user_id: target,
            banned_by: actor,
            reason: request.reason,
            created_at: now,
            expires_at: expires_in.map(|length| now + length),
        };
        // Stored before the removal: from here on, no add or join lets them back in.
        self.rooms.ban(&ban).await?;
        let removal =
            MemberRemovedEvent { room_id: room, user_id: target, by: actor, reason: Removal::Banned };
        if membership.is_some() && self.store_removed(removal).await? {
            self.leases.revoke(room, target);
            self.announce(room, RoomEvent::Member { user_id: target, added: false }).await;
            self.tell(target, &UserEvent::RoomRemoved { room_id: room, banned: true }).await;
            tokio::time::sleep(self.leases.length()).await;
        }
        Ok(ban)
    }

    /// Gives a member another role. Only the owner does, to members and admins, and the room
    /// keeps its one owner. Answered once no node trusts what the old role allowed (a demoted
    /// admin's posts in an announcement room).
    pub async fn change_role(
        &self,
        actor: UserId,
        room: RoomId,
        target: UserId,
        role: Role,
    ) -> Result<Participant, Error> {
        if role == Role::Owner {
            return Err(Error::invalid("role", "must be member or admin"));
        }
        if self.moderator(actor, room).await? != Role::Owner {
            return Err(Error::Forbidden("only the owner changes roles"));
        }
        if target == actor {
            return Err(Error::Forbidden("the owner stays the owner"));
        }
        let before = self.rooms.participant(room, target).await?.ok_or(Error::NotFound("participant"))?;
        let changed = self.rooms.set_role(room, target, role).await?.ok_or(Error::NotFound("participant"))?;
        if role != before.role {
            self.announce(room, RoomEvent::RoleChanged { user_id: target, role }).await;
        }
        if role < before.role {
            self.leases.revoke(room, target);
            tokio::time::sleep(self.leases.length()).await;
        }
        Ok(changed)
    }

    /// Lifts a ban; the user is not added back.
    pub async fn unban(&self, actor: UserId, room: RoomId, target: UserId) -> Result<(), Error> {
        self.moderator(actor, room).await?;
        if self.rooms.unban(room, target).await? { Ok(()) } else { Err(Error::NotFound("ban")) }
    }

    /// The room's bans that still hold, newest first.
    pub async fn bans(&self, actor: UserId, room: RoomId) -> Result<Vec<Ban>, Error> {
        self.moderator(actor, room).await?;
        let now = self.clock.now();
        Ok(self.rooms.bans(room).await?.into_iter().filter(|ban| ban.in_force(now)).collect())
    }

    /// Mutes a member for `secs` seconds (1 to [`MAX_MODERATION_SECS`]): they go on reading,
    /// and every send, edit and reaction of theirs is refused. Answered once no node can
    /// accept one any more.
    pub async fn mute(
        &self,
        actor: UserId,
        room: RoomId,
        target: UserId,
        secs: u64,
    ) -> Result<Participant, Error> {
        let length = checked_duration("expires_in", secs)?;
        self.moderate(actor, room, target).await?.ok_or(Error::NotFound("participant"))?;
        let until = self.clock.now() + length;
        let muted = self.set_mute(room, target, Some(until)).await?;
        tokio::time::sleep(self.leases.length()).await;
        Ok(muted)
    }

    /// Ends a member's mute at once.
    pub async fn unmute(&self, actor: UserId, room: RoomId, target: UserId) -> Result<Participant, Error> {
        self.moderate(actor, room, target).await?.ok_or(Error::NotFound("participant"))?;
        self.set_mute(room, target, None).await
    }

    async fn set_mute(
        &self,
        room: RoomId,
        target: UserId,
        until: Option<DateTime<Utc>>,
    ) -> Result<Participant, Error> {
        let participant =
            self.rooms.set_muted_until(room, target, until).await?.ok_or(Error::NotFound("participant"))?;
        self.leases.revoke(room, target);
        self.tell(target, &UserEvent::Muted { room_id: room, until }).await;
        Ok(participant)
    }

    /// The actor's role, if they moderate the room: its owner or an admin, in a group or
    /// channel.
    async fn moderator(&self, actor: UserId, room: RoomId) -> Result<Role, Error> {
        let (room, participant) = self.visible(actor, room).await?;
        if room.room_type == RoomType::Direct {
            return Err(Error::Forbidden("direct rooms have no moderators"));
        }
        match participant {
            Some(p) if p.role.manages_members() => Ok(p.role),
            _ => Err(Error::Forbidden("only the owner or an admin moderates the room")),
        }
    }

    /// Checks that `actor` may moderate `target` (a role above theirs; never themselves), and
    /// returns the target's membership, if they have one.
    async fn moderate(
        &self,
        actor: UserId,
        room: RoomId,
        target: UserId,
    ) -> Result<Option<Participant>, Error> {
        let role = self.moderator(actor, room).await?;
        if target == actor {
            return Err(Error::Forbidden("moderators do not moderate themselves"));
        }
        let membership = self.rooms.participant(room, target).await?;
        if membership.as_ref().is_some_and(|p| p.role >= role) {
            return Err(Error::Forbidden("not allowed to moderate this member"));
        }
        Ok(membership)
    }
}

fn checked_duration(field: &str, secs: u64) -> Result<Duration, Error> {
    if !(1..=MAX_MODERATION_SECS).contains(&secs) {
        return Err(Error::invalid(field, format!("must be 1 to {MAX_MODERATION_SECS} seconds")));
    }
    Ok(Duration::seconds(secs as i64))
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::domain::{Content, MessageKind, Metadata, PostPolicy, RoomName};
    use crate::ports::{RoomStore, RoomUpdate, UserFeed};
    use crate::usecases::testkit::Kit;
    use crate::usecases::{NewMessage, NewRoom, RoomCreated};

    async fn room(kit: &Kit, owner: UserId, room_type: RoomType, members: Vec<UserId>) -> RoomId {
        let request =
            NewRoom { name: Some(RoomName::parse("mods").unwrap()), room_type, member_ids: members };
        let RoomCreated { room, .. } = kit.rooms.create(owner, request).await.unwrap();
        room.id
    }

    fn for_good() -> NewBan {
        NewBan { reason: Some(BanReason::parse("spam").unwrap()), expires_in: None }
    }

    async fn send(kit: &Kit, sender: UserId, room: RoomId) -> Result<(), Error> {
        let message = NewMessage {
            room,
            content: Content::parse("hi").unwrap(),
            kind: MessageKind::text(),
            metadata: Metadata::default(),
            client_msg_id: None,
            first_attempt: false,
            reply_to: None,
        };
        kit.messages.send(sender, message).await.map(|_| ())
    }

    #[tokio::test]
    async fn a_banned_member_is_removed_told_and_kept_out_of_a_channel_until_unbanned() {
        let kit = Kit::new();
        let (ann, eve) = (kit.user("ann").await, kit.user("eve").await);
        let news = room(&kit, ann, RoomType::Channel, vec![eve]).await;
        let mut eves = kit.feed.subscribe(eve).await.unwrap();
        let ban = kit.rooms.ban(ann, news, eve, for_good()).await.unwrap();
        assert_eq!(
            (ban.banned_by, ban.reason.as_ref().unwrap().as_str(), ban.expires_at),
            (ann, "spam", None)
        );
        assert_eq!(eves.next().await, Some(UserEvent::RoomRemoved { room_id: news, banned: true }));
        assert!(kit.room_store.participant(news, eve).await.unwrap().is_none());
        assert!(matches!(kit.rooms.join(eve, news).await, Err(Error::Forbidden("banned from this room"))));
        let self_add = kit.rooms.add_member(eve, news, eve, Role::Member).await;
        assert!(matches!(self_add, Err(Error::Forbidden("banned from this room"))));
        let added = kit.rooms.add_member(ann, news, eve, Role::Member).await;
        assert!(matches!(added, Err(Error::Forbidden("banned from this room"))));
        assert_eq!(kit.rooms.bans(ann, news).await.unwrap(), vec![ban]);

        kit.rooms.unban(ann, news, eve).await.unwrap();
        assert!(kit.rooms.bans(ann, news).await.unwrap().is_empty());
        kit.rooms.join(eve, news).await.unwrap();
        assert!(matches!(kit.rooms.unban(ann, news, eve).await, Err(Error::NotFound("ban"))));
    }

    #[tokio::test]
    async fn a_ban_with_an_expiry_ends_by_itself() {
        let kit = Kit::new();
        let (ann, eve) = (kit.user("ann").await, kit.user("eve").await);
        let news = room(&kit, ann, RoomType::Channel, vec![]).await;
        kit.rooms.ban(ann, news, eve, NewBan { reason: None, expires_in: Some(60) }).await.unwrap();
        assert!(kit.rooms.join(eve, news).await.is_err());
        kit.clock.advance(chrono::Duration::seconds(61));
        assert!(kit.rooms.bans(ann, news).await.unwrap().is_empty());
        kit.rooms.join(eve, news).await.unwrap();
    }

    #[tokio::test]
    async fn moderators_act_only_on_roles_below_theirs_and_never_in_direct_rooms() {
        let kit = Kit::new();
        let (ann, bob, cid, dan) =
            (kit.user("ann").await, kit.user("bob").await, kit.user("cid").await, kit.user("dan").await);
        let team = room(&kit, ann, RoomType::Group, vec![dan]).await;
        kit.rooms.add_member(ann, team, bob, Role::Admin).await.unwrap();
        kit.rooms.add_member(ann, team, cid, Role::Admin).await.unwrap();
        for (actor, target) in [(bob, cid), (bob, ann), (dan, bob), (ann, ann), (UserId::generate(), dan)] {
            let refused = kit.rooms.ban(actor, team, target, for_good()).await;
            assert!(matches!(refused, Err(Error::Forbidden(_))), "{actor} banning {target}: {refused:?}");
            assert!(matches!(kit.rooms.mute(actor, team, target, 60).await, Err(Error::Forbidden(_))));
        }
        kit.rooms.ban(bob, team, dan, for_good()).await.unwrap();
        kit.rooms.ban(ann, team, cid, for_good()).await.unwrap();
        let direct = room(&kit, ann, RoomType::Direct, vec![bob]).await;
        assert!(matches!(kit.rooms.ban(ann, direct, bob, for_good()).await, Err(Error::Forbidden(_))));
        assert!(matches!(kit.rooms.bans(dan, team).await, Err(Error::Forbidden(_))));
        let nobody = kit.rooms.ban(ann, team, UserId::generate(), for_good()).await;
        assert!(matches!(nobody, Err(Error::NotFound("user"))));
        for secs in [0, MAX_MODERATION_SECS + 1] {
            let bad = kit.rooms.ban(ann, team, dan, NewBan { reason: None, expires_in: Some(secs) }).await;
            assert!(matches!(bad, Err(Error::InvalidInput(_))));
            assert!(matches!(kit.rooms.mute(ann, team, bob, secs).await, Err(Error::InvalidInput(_))));
        }
    }

    #[tokio::test]
    async fn a_muted_member_reads_but_cannot_send_until_the_mute_ends_or_is_lifted() {
        let kit = Kit::new();
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let team = room(&kit, ann, RoomType::Group, vec![bob]).await;
        send(&kit, bob, team).await.unwrap();
        let mut bobs = kit.feed.subscribe(bob).await.unwrap();
        let muted = kit.rooms.mute(ann, team, bob, 60).await.unwrap();
        let until = muted.muted_until.unwrap();
        assert_eq!(bobs.next().await, Some(UserEvent::Muted { room_id: team, until: Some(until) }));
        assert!(matches!(send(&kit, bob, team).await, Err(Error::Forbidden("muted in this room"))));
        assert!(
            kit.messages
                .history(bob, team, crate::ports::PageQuery { before: None, after: None, limit: 10 })
                .await
                .is_ok()
        );
        kit.clock.advance(chrono::Duration::seconds(61));
        send(&kit, bob, team).await.unwrap();

        kit.rooms.mute(ann, team, bob, 60).await.unwrap();
        // Leaving and coming back does not end a mute.
        kit.rooms.remove_member(bob, team, bob).await.unwrap();
        kit.rooms.add_member(ann, team, bob, Role::Member).await.unwrap();
        assert!(send(&kit, bob, team).await.is_err());
        let unmuted = kit.rooms.unmute(ann, team, bob).await.unwrap();
        assert_eq!(unmuted.muted_until, None);
        send(&kit, bob, team).await.unwrap();
        let stranger = kit.user("cid").await;
        assert!(matches!(kit.rooms.mute(ann, team, stranger, 60).await, Err(Error::NotFound("participant"))));
    }

    #[tokio::test]
    async fn in_an_announcement_channel_only_the_owner_and_admins_post() {
        let kit = Kit::new();
        let (ann, bob, eve) = (kit.user("ann").await, kit.user("bob").await, kit.user("eve").await);
        let news = room(&kit, ann, RoomType::Channel, vec![eve]).await;
        kit.rooms.add_member(ann, news, bob, Role::Admin).await.unwrap();
        let admins_only = RoomUpdate { post_policy: Some(PostPolicy::Admins), ..RoomUpdate::default() };
        assert_eq!(kit.rooms.update(ann, news, admins_only).await.unwrap().post_policy, PostPolicy::Admins);
        let refused = send(&kit, eve, news).await;
        assert!(matches!(refused, Err(Error::Forbidden("only the owner and admins post in this room"))));
        send(&kit, bob, news).await.unwrap();
        send(&kit, ann, news).await.unwrap();
        kit.rooms.change_role(ann, news, bob, Role::Member).await.unwrap();
        assert!(send(&kit, bob, news).await.is_err(), "a demoted admin may not post");
        kit.rooms.change_role(ann, news, bob, Role::Admin).await.unwrap();
        let everyone = RoomUpdate { post_policy: Some(PostPolicy::Everyone), ..RoomUpdate::default() };
        kit.rooms.update(bob, news, everyone).await.unwrap();
        send(&kit, eve, news).await.unwrap();
    }
}

#[cfg(test)]
mod role_tests {
    use futures::StreamExt;

    use super::*;
    use crate::domain::RoomName;
    use crate::ports::EventBus;
    use crate::usecases::testkit::Kit;
    use crate::usecases::{NewRoom, RoomCreated};

    #[tokio::test]
    async fn only_the_owner_changes_roles_and_nobody_becomes_owner() {
        let kit = Kit::new();
        let (ann, bob, cid) = (kit.user("ann").await, kit.user("bob").await, kit.user("cid").await);
        let request = NewRoom {
            name: Some(RoomName::parse("t").unwrap()),
            room_type: RoomType::Group,
            member_ids: vec![bob, cid],
        };
        let RoomCreated { room, .. } = kit.rooms.create(ann, request).await.unwrap();
        let mut events = kit.events.subscribe(room.id).await.unwrap();
        let promoted = kit.rooms.change_role(ann, room.id, bob, Role::Admin).await.unwrap();
        assert_eq!(promoted.role, Role::Admin);
        let heard = events.next().await.unwrap();
        assert_eq!(
            heard,
            RoomEvent::RoleChanged { user_id: bob, role: Role::Admin },
            "everyone following hears it"
        );
        assert!(matches!(
            kit.rooms.change_role(bob, room.id, cid, Role::Admin).await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            kit.rooms.change_role(ann, room.id, ann, Role::Member).await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            kit.rooms.change_role(ann, room.id, cid, Role::Owner).await,
            Err(Error::InvalidInput(_))
        ));
        let stranger = kit.user("dan").await;
        let missing = kit.rooms.change_role(ann, room.id, stranger, Role::Admin).await;
        assert!(matches!(missing, Err(Error::NotFound("participant"))));
        assert_eq!(kit.rooms.change_role(ann, room.id, bob, Role::Member).await.unwrap().role, Role::Member);
        let heard = events.next().await.unwrap();
        assert_eq!(heard, RoomEvent::RoleChanged { user_id: bob, role: Role::Member });
        kit.rooms.change_role(ann, room.id, bob, Role::Member).await.unwrap();
        let unchanged = tokio::time::timeout(std::time::Duration::from_millis(50), events.next()).await;
        assert!(unchanged.is_err(), "no event for a role that stays: {unchanged:?}");
    }
}
