use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::leases::MembershipLeases;
use super::webhook_outbox::WebhookOutbox;
use crate::domain::{
    EventType, Participant, PostPolicy, Role, Room, RoomId, RoomName, RoomSummary, RoomType, SenderStanding,
    Seq, SocketId, UserId, WebhookEvent,
};
use crate::error::{Error, FieldErrors};
use crate::ports::{
    AddMemberOutcome, Clock, DirectRoomOutcome, EventBus, RoomEvent, RoomStore, RoomUpdate, StoreError,
    UserEvent, UserFeed, UserStore,
};

/// A room as the client asked for it. `name` may be absent only for direct rooms.
#[derive(Debug)]
pub struct NewRoom {
    pub name: Option<RoomName>,
    pub room_type: RoomType,
    pub member_ids: Vec<UserId>,
}

/// A created room; `created` is false when a direct room of the pair existed and is returned.
#[derive(Debug, Clone)]
pub struct RoomCreated {
    pub room: Room,
    pub created: bool,
}

/// A membership; `added` is false when the user was a member already.
#[derive(Debug, Clone)]
pub struct MemberAdded {
    pub participant: Participant,
    pub added: bool,
}

/// Rooms and membership, with the contract's rules for who may see and change what. Those
/// watching a room learn of membership changes and read markers through the event bus; the
/// users concerned learn of changes to their room list through their feed; webhooks hear of
/// new rooms and members through the outbox.
pub struct RoomService {
    pub(super) rooms: Arc<dyn RoomStore>,
    pub(super) users: Arc<dyn UserStore>,
    events: Arc<dyn EventBus>,
    feed: Arc<dyn UserFeed>,
    pub(super) webhooks: Arc<WebhookOutbox>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) leases: MembershipLeases,
}

/// Why someone stopped being a member, as `member.removed` says.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Removal {
    Left,
    Removed,
    Banned,
}

/// The data of `member.removed`.
#[derive(serde::Serialize)]
pub(super) struct MemberRemovedEvent {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub by: UserId,
    pub reason: Removal,
}

/// The ports a [`RoomService`] works through.
pub struct RoomPorts {
    pub rooms: Arc<dyn RoomStore>,
    pub users: Arc<dyn UserStore>,
    pub events: Arc<dyn EventBus>,
    pub feed: Arc<dyn UserFeed>,
    pub webhooks: Arc<WebhookOutbox>,
    pub clock: Arc<dyn Clock>,
}

/// How many members a room may be created with in one request.
const MAX_INITIAL_MEMBERS: usize = 1000;
/// Most leases renewed by one read of the store; the rest wait for the next renewal or are
/// checked on their next send.
const RENEWED_AT_ONCE: usize = 5000;

impl RoomService {
    pub fn new(ports: RoomPorts, leases: MembershipLeases) -> Self {
        let RoomPorts { rooms, users, events, feed, webhooks, clock } = ports;
        Self { rooms, users, events, feed, webhooks, clock, leases }
    }

    /// Best effort: the change is stored either way, and watchers that miss the event see the
    /// new state on their next read.
    pub(super) async fn announce(&self, room: RoomId, event: RoomEvent) {
        if let Err(err) = self.events.publish(room, &event).await {
            tracing::warn!(%room, error = %err, "room event not published");
        }
    }

    /// Best effort, as room events: the change is stored either way, and a client that missed
    /// the event re-reads its room list (see the `rooms` frame).
    pub(super) async fn tell(&self, user: UserId, event: &UserEvent) {
        if let Err(err) = self.feed.publish(user, event).await {
            tracing::warn!(%user, error = %err, "user event not published");
        }
    }

    /// Tells `user` of a room they are now a participant of, as their room list shows it.
    async fn tell_added(&self, room: RoomId, user: UserId) {
        match self.rooms.summary(room, user).await {
            Ok(Some(summary)) => self.tell(user, &UserEvent::RoomAdded { room: summary }).await,
            // Removed again meanwhile: the removal tells them.
            Ok(None) => {}
            Err(err) => tracing::warn!(%room, %user, error = %err, "room_added not published"),
        }
    }

    /// Creates a room owned by `actor`, or returns the direct room of the pair if it exists.
    pub async fn create(&self, actor: UserId, request: NewRoom) -> Result<RoomCreated, Error> {
        let mut members: Vec<UserId> = Vec::with_capacity(request.member_ids.len());
        for id in request.member_ids {
            if id != actor && !members.contains(&id) {
                members.push(id);
            }
        }
        let mut fields = FieldErrors::default();
        if members.len() > MAX_INITIAL_MEMBERS {
            fields.add("member_ids", format!("at most {MAX_INITIAL_MEMBERS} members"));
        }
        if request.room_type == RoomType::Direct && members.len() != 1 {
            fields.add("member_ids", "a direct room has exactly one other member");
        }
        if request.room_type != RoomType::Direct && request.name.is_none() {
            fields.add("name", "is required");
        }
        fields.into_result()?;
        self.existing(actor).await?;
        for id in &members {
            if self.users.by_id(*id).await?.is_none() {
                return Err(Error::invalid("member_ids", format!("no user with id {id}")));
            }
        }
        let name = match request.name {
            Some(name) => name,
            None => RoomName::parse("direct").map_err(|e| Error::Internal(e.into()))?,
        };
        let room = Room {
            id: RoomId::generate(),
            name,
            room_type: request.room_type,
            topic: None,
            post_policy: PostPolicy::Everyone,
            created_by: actor,
            created_at: self.clock.now(),
            is_active: true,
        };
        let participants: Vec<(UserId, Role)> = std::iter::once((actor, Role::Owner))
            .chain(members.into_iter().map(|id| (id, Role::Member)))
            .collect();
        let event = self.created_event(&room, &participants)?;
        if request.room_type == RoomType::Direct {
            match self.rooms.create_direct(&room, participants[1].0, &event).await? {
                DirectRoomOutcome::Created(room) => {
                    self.webhooks.stored();
                    self.tell_created(&room, &participants).await;
                    return Ok(RoomCreated { room, created: true });
                }
                DirectRoomOutcome::Existing(room) => return Ok(RoomCreated { room, created: false }),
            }
        }
        self.rooms.create(&room, &participants, &event).await?;
        self.webhooks.stored();
        self.tell_created(&room, &participants).await;
        Ok(RoomCreated { room, created: true })
    }

    /// `room.created` of `room`, for the store to record with it.
    fn created_event(&self, room: &Room, participants: &[(UserId, Role)]) -> Result<WebhookEvent, Error> {
        #[derive(serde::Serialize)]
        struct RoomCreatedEvent<'a> {
            room: &'a Room,
            /// The owner first.
            member_ids: Vec<UserId>,
        }
        let member_ids = participants.iter().map(|(user, _)| *user).collect();
        self.webhooks.event(EventType::RoomCreated, RoomCreatedEvent { room, member_ids })
    }

    /// Adds `user_id` as `role`, by `by` (themselves when they join), with its `member.added`.
    async fn store_added(
        &self,
        room_id: RoomId,
        user_id: UserId,
        role: Role,
        by: UserId,
    ) -> Result<AddMemberOutcome, Error> {
        #[derive(serde::Serialize)]
        struct MemberAddedEvent {
            room_id: RoomId,
            user_id: UserId,
            role: Role,
            by: UserId,
        }
        let event =
            self.webhooks.event(EventType::MemberAdded, MemberAddedEvent { room_id, user_id, role, by })?;
        let outcome = self.rooms.add_member(room_id, user_id, role, self.clock.now(), &event).await?;
        if let AddMemberOutcome::Added(_) = outcome {
            self.webhooks.stored();
        }
        Ok(outcome)
    }

    /// Ends `user_id`'s membership, with its `member.removed`; `false` when they were not a
    /// member.
    pub(super) async fn store_removed(&self, removal: MemberRemovedEvent) -> Result<bool, Error> {
        let (room_id, user_id) = (removal.room_id, removal.user_id);
        let event = self.webhooks.event(EventType::MemberRemoved, removal)?;
        let removed = self.rooms.remove_member(room_id, user_id, &event).await?;
        if removed {
            self.webhooks.stored();
        }
        Ok(removed)
    }

    /// Tells every participant of a new room, the creator's other devices included. Nothing is
    /// read yet and nothing unread, so no query is needed to say so.
    async fn tell_created(&self, room: &Room, participants: &[(UserId, Role)]) {
        for (user, role) in participants {
            let summary = RoomSummary {
                room: room.clone(),
                role: *role,
                last_read_seq: 0,
                unread_count: 0,
                muted_until: None,
            };
            self.tell(*user, &UserEvent::RoomAdded { room: summary }).await;
        }
    }

    /// Renames a room or sets its topic. Owners and admins of groups and channels may; direct
    /// rooms keep what they are. Every participant hears of it through their feed.
    pub async fn update(&self, actor: UserId, room_id: RoomId, update: RoomUpdate) -> Result<Room, Error> {
        if update == RoomUpdate::default() {
            let mut fields = FieldErrors::default();
            for field in ["name", "topic", "post_policy"] {
                fields.add(field, "give a name, a topic or a post policy");
            }
            fields.into_result()?;
        }
        let (room, participant) = self.visible(actor, room_id).await?;
        if room.room_type == RoomType::Direct {
            return Err(Error::Forbidden("direct rooms cannot be renamed"));
        }
        if !participant.is_some_and(|p| p.role.manages_members()) {
            return Err(Error::Forbidden("only the owner or an admin changes the room"));
        }
        let restricts =
            update.post_policy == Some(PostPolicy::Admins) && room.post_policy != PostPolicy::Admins;
        let room = self.rooms.update(room_id, &update).await?.ok_or(Error::NotFound("room"))?;
        for member in self.rooms.members(room_id).await? {
            self.tell(member.user_id, &UserEvent::RoomUpdated { room: room.clone() }).await;
        }
        if restricts {
            // As for a removal: once every node's leases granted before have run out, no send
            // of a member who may no longer post is accepted anywhere.
            self.leases.revoke_room(room_id);
            tokio::time::sleep(self.leases.length()).await;
        }
        Ok(room)
    }

    pub async fn list_mine(&self, actor: UserId) -> Result<Vec<RoomSummary>, Error> {
        Ok(self.rooms.rooms_of(actor).await?)
    }

    /// The room, if `actor` may see it: participants see their rooms, anyone sees a channel.
    pub async fn get(&self, actor: UserId, room: RoomId) -> Result<Room, Error> {
        let (room, _) = self.visible(actor, room).await?;
        Ok(room)
    }

    pub async fn members(&self, actor: UserId, room: RoomId) -> Result<Vec<Participant>, Error> {
        self.visible(actor, room).await?;
        Ok(self.rooms.members(room).await?)
    }

    /// The caller's active membership of a room, or why they have none. What messaging checks
    /// before letting anyone read or write a room.
    pub async fn membership(&self, actor: UserId, room: RoomId) -> Result<(Room, Participant), Error> {
        let (room, participant) = self.visible(actor, room).await?;
        participant.map(|p| (room, p)).ok_or(Error::Forbidden("not a participant of this room"))
    }

    /// Refuses a send from anyone who is not a member of the room, as [`Self::membership`]
    /// does. A membership this node confirmed within its lease is trusted without asking the
    /// store: removals wait out the lease (see [`Self::remove_member`]).
    ///
    /// While the store cannot be asked, a sender this node confirmed before, and whose removal
    /// it has not heard of, may go on sending: messaging does not stop with the database.
    pub async fn check_sender(&self, actor: UserId, room: RoomId) -> Result<(), Error> {
        let asked_at = Instant::now();
        let lease = self.leases.until_for_send(room, actor);
        if lease.is_some_and(|until| asked_at < until) {
            return Ok(());
        }
        match self.rooms.participant(room, actor).await {
            Ok(Some(participant)) => {
                self.may_post(room, &participant).await?;
                self.leases.grant(room, actor, asked_at);
                Ok(())
            }
            // Not a participant: the full check names why (no such room, not a member).
            Ok(None) => self.membership(actor, room).await.map(|_| ()),
            Err(StoreError::Unavailable(source)) if lease.is_some() => {
                tracing::debug!(%room, error = %source, "membership unverifiable; trusting the last check");
                Ok(())
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Refuses a member who is muted, or who is not an admin where only admins post.
    async fn may_post(&self, room_id: RoomId, participant: &Participant) -> Result<(), Error> {
        // Admins post whatever the policy, so theirs is not read.
        let post_policy = if participant.role < Role::Admin {
            self.rooms.get(room_id).await?.ok_or(Error::NotFound("room"))?.post_policy
        } else {
            PostPolicy::Everyone
        };
        let standing = SenderStanding { room_id, participant: participant.clone(), post_policy };
        standing.refusal(self.clock.now()).map_or(Ok(()), |why| Err(Error::Forbidden(why)))
    }

    /// Renews, in one read of the store, the leases that sends relied on and that end within
    /// `within`, so that steady senders find theirs valid and never wait for the store. A
    /// sender who is no longer a member, or may no longer post, loses the lease: their next
    /// send is checked and refused. When the store cannot be asked nothing is renewed, and
    /// those senders' next sends ask it themselves. Returns how many leases were renewed.
    ///
    /// Like a send's own check, a renewal counts from before its read, so removals that wait
    /// out the lease length hold.
    pub async fn renew_leases(&self, within: Duration) -> Result<usize, Error> {
        let asked_at = Instant::now();
        let due = self.leases.due(asked_at, within, RENEWED_AT_ONCE);
        if due.is_empty() {
            return Ok(0);
        }
        let now = self.clock.now();
        let allowed: HashSet<(RoomId, UserId)> = (self.rooms.standings(&due).await?.into_iter())
            .filter(|standing| standing.refusal(now).is_none())
            .map(|standing| (standing.room_id, standing.participant.user_id))
            .collect();
        for (room, user) in due {
            if allowed.contains(&(room, user)) {
                self.leases.grant(room, user, asked_at);
            } else {
                self.leases.revoke(room, user);
            }
        }
        Ok(allowed.len())
    }

    /// Forgets a membership this node heard has ended (a removal announced by another node).
    pub fn forget_membership(&self, room: RoomId, user: UserId) {
        self.leases.revoke(room, user);
    }

    /// The room, for following it live: participants join their rooms, and anyone who joins a
    /// channel becomes its member.
    pub async fn join(&self, actor: UserId, room_id: RoomId) -> Result<Room, Error> {
        let (room, participant) = self.visible(actor, room_id).await?;
        if participant.is_none() {
            self.existing(actor).await?;
            self.refuse_banned(room_id, actor).await?;
            if let AddMemberOutcome::Added(_) = self.store_added(room_id, actor, Role::Member, actor).await? {
                self.announce(room_id, RoomEvent::Member { user_id: actor, added: true }).await;
                self.tell_added(room_id, actor).await;
            }
        }
        Ok(room)
    }

    /// Adds `target`. Owners and admins add to groups and channels; anyone may add themselves to
    /// a channel as a member; direct rooms take no new members.
    pub async fn add_member(
        &self,
        actor: UserId,
        room_id: RoomId,
        target: UserId,
        role: Role,
    ) -> Result<MemberAdded, Error> {
        if role == Role::Owner {
            return Err(Error::invalid("role", "must be member or admin"));
        }
        let room = self.rooms.get(room_id).await?.ok_or(Error::NotFound("room"))?;
        let actor_role = self.rooms.participant(room_id, actor).await?.map(|p| p.role);
        let self_join_channel =
            room.room_type == RoomType::Channel && target == actor && role == Role::Member;
        if actor_role.is_none() && room.room_type != RoomType::Channel {
            return Err(Error::Forbidden("not a participant of this room"));
        }
        if room.room_type == RoomType::Direct {
            return Err(Error::Forbidden("direct rooms take no new members"));
        }
        if !self_join_channel && !actor_role.is_some_and(Role::manages_members) {
            return Err(Error::Forbidden("only the owner or an admin adds members"));
        }
        if self.users.by_id(target).await?.is_none() {
            return Err(Error::NotFound("user"));
        }
        if self.rooms.participant(room_id, target).await?.is_none() {
            self.refuse_banned(room_id, target).await?;
        }
        match self.store_added(room_id, target, role, actor).await? {
            AddMemberOutcome::Added(p) => {
                self.announce(room_id, RoomEvent::Member { user_id: target, added: true }).await;
                self.tell_added(room_id, target).await;
                Ok(MemberAdded { participant: p, added: true })
            }
            AddMemberOutcome::AlreadyMember(p) => Ok(MemberAdded { participant: p, added: false }),
        }
    }

    /// Removes `target`. Anyone may leave; removing someone else takes a role above theirs and
    /// at least admin.
    pub async fn remove_member(&self, actor: UserId, room_id: RoomId, target: UserId) -> Result<(), Error> {
        let (_, actor_participant) = self.visible(actor, room_id).await?;
        if target != actor {
            let actor_role = actor_participant
                .map(|p| p.role)
                .ok_or(Error::Forbidden("not a participant of this room"))?;
            let target_role =
                self.rooms.participant(room_id, target).await?.ok_or(Error::NotFound("participant"))?.role;
            if !actor_role.manages_members() || actor_role <= target_role {
                return Err(Error::Forbidden("not allowed to remove this member"));
            }
        }
        let reason = if target == actor { Removal::Left } else { Removal::Removed };
        if !self.store_removed(MemberRemovedEvent { room_id, user_id: target, by: actor, reason }).await? {
            return Err(Error::NotFound("participant"));
        }
        self.leases.revoke(room_id, target);
        self.announce(room_id, RoomEvent::Member { user_id: target, added: false }).await;
        self.tell(target, &UserEvent::RoomRemoved { room_id, banned: false }).await;
        if target != actor {
            // Every node may still trust a lease it took before the removal was stored; once
            // they have all run out, no send of the removed member can be accepted anywhere.
            // (Who leaves is the one sending: their own sends in flight need no such wait.)
            tokio::time::sleep(self.leases.length()).await;
        }
        Ok(())
    }

    /// Moves the read marker of `actor`, whose membership the caller checked, forward and
    /// returns where it stands; the actor's other sockets (not `origin`, which moved it) hear of
    /// it. See [`crate::usecases::MessageService::mark_read`].
    pub(crate) async fn move_read_marker(
        &self,
        actor: UserId,
        room: RoomId,
        seq: Seq,
        origin: Option<SocketId>,
    ) -> Result<Seq, Error> {
        let marker = self
            .rooms
            .mark_read(room, actor, seq)
            .await?
            .ok_or(Error::Forbidden("not a participant of this room"))?;
        self.announce(room, RoomEvent::Read { user_id: actor, seq: marker }).await;
        self.tell(actor, &UserEvent::Read { room_id: room, seq: marker, origin }).await;
        Ok(marker)
    }

    /// Refuses to let a banned user in, until the ban expires or is lifted.
    async fn refuse_banned(&self, room: RoomId, user: UserId) -> Result<(), Error> {
        match self.rooms.ban_of(room, user).await? {
            Some(ban) if ban.in_force(self.clock.now()) => Err(Error::Forbidden("banned from this room")),
            _ => Ok(()),
        }
    }

    /// Refuses a caller whose token names a user who no longer exists, as `/users/me` does,
    /// before anything of theirs is written.
    async fn existing(&self, actor: UserId) -> Result<(), Error> {
        match self.users.by_id(actor).await? {
            Some(_) => Ok(()),
            None => Err(Error::Unauthorized),
        }
    }

    pub(super) async fn visible(
        &self,
        actor: UserId,
        room_id: RoomId,
    ) -> Result<(Room, Option<Participant>), Error> {
        let room = self.rooms.get(room_id).await?.ok_or(Error::NotFound("room"))?;
        let participant = self.rooms.participant(room_id, actor).await?;
        if participant.is_none() && room.room_type != RoomType::Channel {
            return Err(Error::Forbidden("not a participant of this room"));
        }
        Ok((room, participant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::testkit::Kit;

    fn group(members: Vec<UserId>) -> NewRoom {
        NewRoom {
            name: Some(RoomName::parse("team").unwrap()),
            room_type: RoomType::Group,
            member_ids: members,
        }
    }

    fn channel() -> NewRoom {
        NewRoom {
            name: Some(RoomName::parse("news").unwrap()),
            room_type: RoomType::Channel,
            member_ids: vec![],
        }
    }

    fn direct(other: UserId) -> NewRoom {
        NewRoom { name: None, room_type: RoomType::Direct, member_ids: vec![other] }
    }

    #[tokio::test]
    async fn the_creator_owns_the_room_and_members_join_as_members() {
        let kit = Kit::new();
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let RoomCreated { room, created } = kit.rooms.create(ann, group(vec![bob, bob, ann])).await.unwrap();
        assert!(created);
        let members = kit.rooms.members(bob, room.id).await.unwrap();
        let roles: Vec<_> = members.iter().map(|p| (p.user_id, p.role)).collect();
        assert_eq!(roles, vec![(ann, Role::Owner), (bob, Role::Member)]);
    }

    #[tokio::test]
    async fn a_direct_room_is_unique_per_pair_in_either_order() {
        let kit = Kit::new();
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let RoomCreated { room: first, created } = kit.rooms.create(ann, direct(bob)).await.unwrap();
        assert!(created);
        let RoomCreated { room: again, created: created_again } =
            kit.rooms.create(bob, direct(ann)).await.unwrap();
        assert!(!created_again);
        assert_eq!(first.id, again.id);
    }

    #[tokio::test]
    async fn a_direct_room_needs_exactly_one_other_existing_member() {
        let kit = Kit::new();
        let (ann, bob, cid) = (kit.user("ann").await, kit.user("bob").await, kit.user("cid").await);
        for members in [vec![], vec![ann], vec![bob, cid]] {
            let err = kit.rooms.create(ann, direct_with(members)).await.unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)));
        }
        let err = kit.rooms.create(ann, direct(UserId::generate())).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)));
    }

    fn direct_with(member_ids: Vec<UserId>) -> NewRoom {
        NewRoom { name: None, room_type: RoomType::Direct, member_ids }
    }

    #[tokio::test]
    async fn a_group_needs_a_name() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let request = NewRoom { name: None, room_type: RoomType::Group, member_ids: vec![] };
        assert!(matches!(kit.rooms.create(ann, request).await, Err(Error::InvalidInput(_))));
    }

    #[tokio::test]
    async fn outsiders_cannot_see_a_group_but_can_see_a_channel() {
        let kit = Kit::new();
        let (ann, eve) = (kit.user("ann").await, kit.user("eve").await);
        let RoomCreated { room: team, .. } = kit.rooms.create(ann, group(vec![])).await.unwrap();
        let RoomCreated { room: news, .. } = kit.rooms.create(ann, channel()).await.unwrap();
        assert!(matches!(kit.rooms.get(eve, team.id).await, Err(Error::Forbidden(_))));
        assert!(matches!(kit.rooms.members(eve, team.id).await, Err(Error::Forbidden(_))));
        assert_eq!(kit.rooms.get(eve, news.id).await.unwrap().id, news.id);
        assert!(matches!(kit.rooms.get(eve, RoomId::generate()).await, Err(Error::NotFound(_))));
    }

    #[tokio::test]
    async fn only_owners_and_admins_add_members_to_a_group() {
        let kit = Kit::new();
        let (ann, bob, cid, dan) =
            (kit.user("ann").await, kit.user("bob").await, kit.user("cid").await, kit.user("dan").await);
        let RoomCreated { room: team, .. } = kit.rooms.create(ann, group(vec![bob])).await.unwrap();
        let err = kit.rooms.add_member(bob, team.id, cid, Role::Member).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)));
        let err = kit.rooms.add_member(dan, team.id, dan, Role::Member).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)));
        let MemberAdded { participant: admin, added: created } =
            kit.rooms.add_member(ann, team.id, cid, Role::Admin).await.unwrap();
        assert!(created && admin.role == Role::Admin);
        let MemberAdded { added: created, .. } =
            kit.rooms.add_member(cid, team.id, dan, Role::Member).await.unwrap();
        assert!(created);
        let MemberAdded { added: created, .. } =
            kit.rooms.add_member(cid, team.id, dan, Role::Member).await.unwrap();
        assert!(!created, "adding a member twice changes nothing");
    }

    #[tokio::test]
    async fn anyone_joins_a_channel_but_only_as_a_member() {
        let kit = Kit::new();
        let (ann, eve, bob) = (kit.user("ann").await, kit.user("eve").await, kit.user("bob").await);
        let RoomCreated { room: news, .. } = kit.rooms.create(ann, channel()).await.unwrap();
        let MemberAdded { participant: p, .. } =
            kit.rooms.add_member(eve, news.id, eve, Role::Member).await.unwrap();
        assert_eq!(p.role, Role::Member);
        let err = kit.rooms.add_member(bob, news.id, bob, Role::Admin).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)));
        let err = kit.rooms.add_member(eve, news.id, bob, Role::Member).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)));
    }

    #[tokio::test]
    async fn direct_rooms_take_no_new_members() {
        let kit = Kit::new();
        let (ann, bob, cid) = (kit.user("ann").await, kit.user("bob").await, kit.user("cid").await);
        let RoomCreated { room: dm, .. } = kit.rooms.create(ann, direct(bob)).await.unwrap();
        let err = kit.rooms.add_member(ann, dm.id, cid, Role::Member).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)));
    }

    #[tokio::test]
    async fn adding_an_unknown_user_or_to_an_unknown_room_is_not_found() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let RoomCreated { room: team, .. } = kit.rooms.create(ann, group(vec![])).await.unwrap();
        let err = kit.rooms.add_member(ann, team.id, UserId::generate(), Role::Member).await.unwrap_err();
        assert!(matches!(err, Error::NotFound(_)));
        let err = kit.rooms.add_member(ann, RoomId::generate(), ann, Role::Member).await.unwrap_err();
        assert!(matches!(err, Error::NotFound(_)));
    }

    #[tokio::test]
    async fn members_leave_and_only_higher_roles_remove_others() {
        let kit = Kit::new();
        let (ann, bob, cid) = (kit.user("ann").await, kit.user("bob").await, kit.user("cid").await);
        let RoomCreated { room: team, .. } = kit.rooms.create(ann, group(vec![bob])).await.unwrap();
        kit.rooms.add_member(ann, team.id, cid, Role::Admin).await.unwrap();
        // A member cannot remove anyone else; an admin cannot remove the owner.
        assert!(matches!(kit.rooms.remove_member(bob, team.id, cid).await, Err(Error::Forbidden(_))));
        assert!(matches!(kit.rooms.remove_member(cid, team.id, ann).await, Err(Error::Forbidden(_))));
        kit.rooms.remove_member(cid, team.id, bob).await.unwrap();
        assert!(matches!(kit.rooms.get(bob, team.id).await, Err(Error::Forbidden(_))));
        kit.rooms.remove_member(cid, team.id, cid).await.unwrap();
        assert!(matches!(kit.rooms.remove_member(ann, team.id, bob).await, Err(Error::NotFound(_))));
        let ids: Vec<_> = kit.rooms.members(ann, team.id).await.unwrap().iter().map(|p| p.user_id).collect();
        assert_eq!(ids, vec![ann]);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_removal_is_answered_no_node_accepts_the_removed_members_sends() {
        let lease = std::time::Duration::from_secs(2);
        let kit = Kit::with_membership_lease(lease);
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let RoomCreated { room: team, .. } = kit.rooms.create(ann, group(vec![bob])).await.unwrap();
        let other_node = kit.other_node_rooms();
        other_node.check_sender(bob, team.id).await.unwrap();

        let started = Instant::now();
        kit.rooms.remove_member(ann, team.id, bob).await.unwrap();
        assert!(started.elapsed() >= lease, "answered before the other node's lease ran out");
        assert!(matches!(other_node.check_sender(bob, team.id).await, Err(Error::Forbidden(_))));
        assert!(matches!(kit.rooms.check_sender(bob, team.id).await, Err(Error::Forbidden(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_membership_checked_within_its_lease_is_not_asked_again() {
        let kit = Kit::with_membership_lease(std::time::Duration::from_secs(2));
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let RoomCreated { room: team, .. } = kit.rooms.create(ann, group(vec![bob])).await.unwrap();
        kit.rooms.check_sender(bob, team.id).await.unwrap();
        // Removed behind the use case's back, as by another node: the lease still holds...
        kit.remove_from_store(team.id, bob).await;
        kit.rooms.check_sender(bob, team.id).await.unwrap();
        // ...until it runs out.
        tokio::time::advance(std::time::Duration::from_secs(2)).await;
        assert!(matches!(kit.rooms.check_sender(bob, team.id).await, Err(Error::Forbidden(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn leases_senders_rely_on_are_renewed_and_ended_memberships_lose_theirs() {
        let lease = std::time::Duration::from_secs(2);
        let kit = Kit::with_membership_lease(lease);
        let (ann, bob, cid) = (kit.user("ann").await, kit.user("bob").await, kit.user("cid").await);
        let RoomCreated { room: team, .. } = kit.rooms.create(ann, group(vec![bob, cid])).await.unwrap();
        for sender in [ann, bob, cid] {
            kit.rooms.check_sender(sender, team.id).await.unwrap();
        }
        tokio::time::advance(lease / 2).await;
        // Sends rely on ann's and bob's leases; cid is quiet. Then bob is removed behind the
        // use case's back, as by another node.
        kit.rooms.check_sender(ann, team.id).await.unwrap();
        kit.rooms.check_sender(bob, team.id).await.unwrap();
        kit.remove_from_store(team.id, bob).await;
        assert_eq!(kit.rooms.renew_leases(lease * 3 / 4).await.unwrap(), 1);

        // Past the original leases: ann's was renewed and is trusted without the store...
        tokio::time::advance(lease * 3 / 4).await;
        kit.remove_from_store(team.id, ann).await;
        kit.rooms.check_sender(ann, team.id).await.unwrap();
        // ...bob's ended with his membership, and cid's, unused, simply ran out.
        assert!(matches!(kit.rooms.check_sender(bob, team.id).await, Err(Error::Forbidden(_))));
        assert_eq!(kit.rooms.renew_leases(lease).await.unwrap(), 0, "ann's lease is now gone too");
        assert!(matches!(kit.rooms.check_sender(ann, team.id).await, Err(Error::Forbidden(_))));
        assert_eq!(kit.rooms.renew_leases(lease).await.unwrap(), 0, "nothing is due");
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_ends_the_lease_of_a_member_who_may_no_longer_post() {
        let lease = std::time::Duration::from_secs(2);
        let kit = Kit::with_membership_lease(lease);
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let RoomCreated { room: team, .. } = kit.rooms.create(ann, group(vec![bob])).await.unwrap();
        kit.rooms.check_sender(bob, team.id).await.unwrap();
        kit.rooms.check_sender(ann, team.id).await.unwrap();
        tokio::time::advance(lease / 2).await;
        kit.rooms.check_sender(bob, team.id).await.unwrap();
        kit.rooms.check_sender(ann, team.id).await.unwrap();
        // Only admins post now, behind the use case's back: the owner keeps her lease.
        let update = RoomUpdate { post_policy: Some(PostPolicy::Admins), ..RoomUpdate::default() };
        kit.room_store.update(team.id, &update).await.unwrap();
        assert_eq!(kit.rooms.renew_leases(lease).await.unwrap(), 1);
        assert!(matches!(kit.rooms.check_sender(bob, team.id).await, Err(Error::Forbidden(_))));
        kit.rooms.check_sender(ann, team.id).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn leaving_is_answered_without_waiting_out_the_leases() {
        let kit = Kit::with_membership_lease(std::time::Duration::from_secs(2));
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let RoomCreated { room: team, .. } = kit.rooms.create(ann, group(vec![bob])).await.unwrap();
        let started = Instant::now();
        kit.rooms.remove_member(bob, team.id, bob).await.unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(matches!(kit.rooms.check_sender(bob, team.id).await, Err(Error::Forbidden(_))));
    }

    #[tokio::test]
    async fn a_token_of_a_user_who_no_longer_exists_creates_and_joins_nothing() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let ghost = UserId::generate();
        assert!(matches!(kit.rooms.create(ghost, group(vec![ann])).await, Err(Error::Unauthorized)));
        assert!(matches!(kit.rooms.create(ghost, direct(ann)).await, Err(Error::Unauthorized)));
        let RoomCreated { room: news, .. } = kit.rooms.create(ann, channel()).await.unwrap();
        assert!(matches!(kit.rooms.join(ghost, news.id).await, Err(Error::Unauthorized)));
        let ids: Vec<_> = kit.rooms.members(ann, news.id).await.unwrap().iter().map(|p| p.user_id).collect();
        assert_eq!(ids, vec![ann]);
    }

    #[tokio::test]
    async fn a_member_who_left_can_be_added_again() {
        let kit = Kit::new();
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let RoomCreated { room: team, .. } = kit.rooms.create(ann, group(vec![bob])).await.unwrap();
        kit.rooms.remove_member(bob, team.id, bob).await.unwrap();
        let MemberAdded { added: created, .. } =
            kit.rooms.add_member(ann, team.id, bob, Role::Member).await.unwrap();
        assert!(created);
        assert_eq!(kit.rooms.get(bob, team.id).await.unwrap().id, team.id);
    }

    #[tokio::test]
    async fn my_rooms_list_only_active_memberships_with_my_role() {
        let kit = Kit::new();
        let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
        let RoomCreated { room: team, .. } = kit.rooms.create(ann, group(vec![bob])).await.unwrap();
        let RoomCreated { room: news, .. } = kit.rooms.create(bob, channel()).await.unwrap();
        let mine = kit.rooms.list_mine(bob).await.unwrap();
        let mut roles: Vec<_> = mine.iter().map(|s| (s.room.id, s.role)).collect();
        roles.sort_by_key(|(id, _)| *id == team.id);
        assert_eq!(roles, vec![(news.id, Role::Owner), (team.id, Role::Member)]);
        kit.rooms.remove_member(bob, team.id, bob).await.unwrap();
        assert_eq!(kit.rooms.list_mine(bob).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn the_read_marker_never_moves_back() {
        let kit = Kit::new();
        let ann = kit.user("ann").await;
        let RoomCreated { room: team, .. } = kit.rooms.create(ann, group(vec![])).await.unwrap();
        assert_eq!(kit.rooms.move_read_marker(ann, team.id, 10, None).await.unwrap(), 10);
        assert_eq!(kit.rooms.move_read_marker(ann, team.id, 4, None).await.unwrap(), 10);
        assert_eq!(kit.rooms.move_read_marker(ann, team.id, 12, None).await.unwrap(), 12);
    }

    mod feed {
        use futures::StreamExt;

        use super::*;
        use crate::domain::RoomTopic;
        use crate::ports::{UserEventStream, UserFeed};

        async fn next(feed: &mut UserEventStream) -> UserEvent {
            tokio::time::timeout(std::time::Duration::from_secs(1), feed.next()).await.unwrap().unwrap()
        }

        async fn nothing_more(feed: &mut UserEventStream) {
            let more = tokio::time::timeout(std::time::Duration::from_millis(50), feed.next()).await;
            assert!(more.is_err(), "unexpected {more:?}");
        }

        fn added(event: UserEvent) -> RoomSummary {
            match event {
                UserEvent::RoomAdded { room } => room,
                other => panic!("expected room_added, got {other:?}"),
            }
        }

        #[tokio::test]
        async fn everyone_in_a_new_room_hears_of_it_with_their_role() {
            let kit = Kit::new();
            let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
            let (mut anns, mut bobs) =
                (kit.feed.subscribe(ann).await.unwrap(), kit.feed.subscribe(bob).await.unwrap());
            let RoomCreated { room, .. } = kit.rooms.create(ann, group(vec![bob])).await.unwrap();
            let for_ann = added(next(&mut anns).await);
            let for_bob = added(next(&mut bobs).await);
            assert_eq!((for_ann.room.id, for_ann.role), (room.id, Role::Owner));
            assert_eq!((for_bob.room, for_bob.role, for_bob.unread_count), (room, Role::Member, 0));
        }

        #[tokio::test]
        async fn a_direct_room_is_heard_of_once_when_made_and_not_when_asked_for_again() {
            let kit = Kit::new();
            let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
            let mut bobs = kit.feed.subscribe(bob).await.unwrap();
            let RoomCreated { room, .. } = kit.rooms.create(ann, direct(bob)).await.unwrap();
            assert_eq!(added(next(&mut bobs).await).room.id, room.id);
            kit.rooms.create(bob, direct(ann)).await.unwrap();
            kit.rooms.create(ann, direct(bob)).await.unwrap();
            nothing_more(&mut bobs).await;
        }

        #[tokio::test]
        async fn a_member_hears_of_being_added_and_removed_and_of_nothing_that_changed_nothing() {
            let kit = Kit::new();
            let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
            let RoomCreated { room, .. } = kit.rooms.create(ann, group(vec![])).await.unwrap();
            let mut bobs = kit.feed.subscribe(bob).await.unwrap();
            kit.rooms.add_member(ann, room.id, bob, Role::Admin).await.unwrap();
            let summary = added(next(&mut bobs).await);
            assert_eq!((summary.room.id, summary.role), (room.id, Role::Admin));
            kit.rooms.add_member(ann, room.id, bob, Role::Admin).await.unwrap();
            nothing_more(&mut bobs).await;
            kit.rooms.remove_member(ann, room.id, bob).await.unwrap();
            assert_eq!(next(&mut bobs).await, UserEvent::RoomRemoved { room_id: room.id, banned: false });
            assert!(kit.rooms.remove_member(ann, room.id, bob).await.is_err());
            nothing_more(&mut bobs).await;
        }

        #[tokio::test]
        async fn leaving_and_joining_a_channel_reach_the_users_other_devices() {
            let kit = Kit::new();
            let (ann, eve) = (kit.user("ann").await, kit.user("eve").await);
            let RoomCreated { room: news, .. } = kit.rooms.create(ann, channel()).await.unwrap();
            let mut eves = kit.feed.subscribe(eve).await.unwrap();
            kit.rooms.join(eve, news.id).await.unwrap();
            assert_eq!(added(next(&mut eves).await).room.id, news.id);
            kit.rooms.join(eve, news.id).await.unwrap();
            nothing_more(&mut eves).await;
            kit.rooms.remove_member(eve, news.id, eve).await.unwrap();
            assert_eq!(next(&mut eves).await, UserEvent::RoomRemoved { room_id: news.id, banned: false });
        }

        #[tokio::test]
        async fn a_rejoining_member_hears_of_the_room_with_their_kept_read_marker() {
            let kit = Kit::new();
            let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
            let RoomCreated { room, .. } = kit.rooms.create(ann, group(vec![bob])).await.unwrap();
            kit.rooms.move_read_marker(bob, room.id, 7, None).await.unwrap();
            kit.rooms.remove_member(bob, room.id, bob).await.unwrap();
            let mut bobs = kit.feed.subscribe(bob).await.unwrap();
            kit.rooms.add_member(ann, room.id, bob, Role::Member).await.unwrap();
            assert_eq!(added(next(&mut bobs).await).last_read_seq, 7);
        }

        #[tokio::test]
        async fn owners_and_admins_rename_a_room_and_every_member_hears_of_it() {
            let kit = Kit::new();
            let (ann, bob, cid) = (kit.user("ann").await, kit.user("bob").await, kit.user("cid").await);
            let RoomCreated { room, .. } = kit.rooms.create(ann, group(vec![bob])).await.unwrap();
            let mut bobs = kit.feed.subscribe(bob).await.unwrap();
            let update = RoomUpdate {
                name: Some(RoomName::parse("plans").unwrap()),
                topic: Some(Some(RoomTopic::parse("what we do next").unwrap())),
                post_policy: None,
            };
            let updated = kit.rooms.update(ann, room.id, update).await.unwrap();
            assert_eq!(
                (updated.name.as_str(), updated.topic.as_ref().unwrap().as_str()),
                ("plans", "what we do next")
            );
            assert_eq!(next(&mut bobs).await, UserEvent::RoomUpdated { room: updated.clone() });
            assert_eq!(kit.rooms.get(bob, room.id).await.unwrap(), updated);

            let clear = RoomUpdate { name: None, topic: Some(None), post_policy: None };
            let cleared = kit.rooms.update(ann, room.id, clear.clone()).await.unwrap();
            assert_eq!((cleared.name.as_str(), cleared.topic), ("plans", None));

            assert!(matches!(kit.rooms.update(bob, room.id, clear.clone()).await, Err(Error::Forbidden(_))));
            assert!(matches!(kit.rooms.update(cid, room.id, clear.clone()).await, Err(Error::Forbidden(_))));
            kit.rooms.add_member(ann, room.id, cid, Role::Admin).await.unwrap();
            let by_admin =
                RoomUpdate { name: Some(RoomName::parse("by cid").unwrap()), topic: None, post_policy: None };
            assert_eq!(kit.rooms.update(cid, room.id, by_admin).await.unwrap().name.as_str(), "by cid");
            let nowhere = kit.rooms.update(ann, RoomId::generate(), clear).await;
            assert!(matches!(nowhere, Err(Error::NotFound(_))));
            let empty = kit.rooms.update(ann, room.id, RoomUpdate::default()).await;
            assert!(matches!(empty, Err(Error::InvalidInput(_))));
        }

        #[tokio::test]
        async fn a_direct_room_cannot_be_renamed() {
            let kit = Kit::new();
            let (ann, bob) = (kit.user("ann").await, kit.user("bob").await);
            let RoomCreated { room, .. } = kit.rooms.create(ann, direct(bob)).await.unwrap();
            let update = RoomUpdate { name: Some(RoomName::parse("us").unwrap()), ..RoomUpdate::default() };
            assert!(matches!(kit.rooms.update(ann, room.id, update).await, Err(Error::Forbidden(_))));
        }

        #[tokio::test]
        async fn a_moved_read_marker_reaches_the_readers_feed_naming_the_socket_that_moved_it() {
            let kit = Kit::new();
            let ann = kit.user("ann").await;
            let RoomCreated { room, .. } = kit.rooms.create(ann, group(vec![])).await.unwrap();
            let mut anns = kit.feed.subscribe(ann).await.unwrap();
            let socket = SocketId::generate();
            kit.rooms.move_read_marker(ann, room.id, 5, Some(socket)).await.unwrap();
            let heard = next(&mut anns).await;
            assert_eq!(heard, UserEvent::Read { room_id: room.id, seq: 5, origin: Some(socket) });
        }
    }
}
