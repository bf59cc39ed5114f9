//! The `RoomStore` contract.

use chat_shared::domain::{
    Ban, BanReason, EventType, PostPolicy, Role, RoomId, RoomName, RoomTopic, RoomType, SenderStanding,
    UserId, WebhookEvent,
};
use chat_shared::ports::{AddMemberOutcome, DirectRoomOutcome, RoomUpdate};

use super::{Stores, new_event, new_message, new_room, now};

contract_tests!(Stores [postgres, sqlite, memory] [
    a_created_room_reads_back_with_its_members_owner_first,
    a_direct_room_is_unique_per_pair_in_either_order_even_when_created_concurrently,
    a_member_who_left_rejoins_with_a_fresh_role_and_keeps_the_read_marker,
    adding_an_active_member_changes_nothing,
    a_users_rooms_come_newest_first_with_unread_counts_capped_at_a_thousand,
    unread_counts_through_a_seq_leave_out_later_messages,
    the_read_marker_only_moves_forward_and_only_for_members,
    an_update_sets_only_the_fields_it_names_and_a_topic_can_be_cleared,
    one_rooms_summary_is_its_entry_in_the_users_room_list,
    a_ban_is_stored_replaced_listed_newest_first_and_lifted,
    a_mute_stays_through_leaving_and_rejoining_and_shows_in_the_room_list,
    a_participants_role_changes_only_while_they_are_active,
    standings_are_read_for_active_participations_only,
]);

/// The events changes hand to the store (no webhook wants them in these tests).
fn room_created() -> WebhookEvent {
    new_event(EventType::RoomCreated, now())
}

fn member_added() -> WebhookEvent {
    new_event(EventType::MemberAdded, now())
}

fn member_removed() -> WebhookEvent {
    new_event(EventType::MemberRemoved, now())
}

async fn a_created_room_reads_back_with_its_members_owner_first(stores: &Stores) {
    let (ann, bob, cat) = (stores.user("ann").await, stores.user("bob").await, stores.user("cat").await);
    let room = new_room(ann, RoomType::Channel);
    let participants = [(cat, Role::Member), (bob, Role::Admin), (ann, Role::Owner)];
    stores.rooms.create(&room, &participants, &room_created()).await.unwrap();
    assert_eq!(stores.rooms.get(room.id).await.unwrap(), Some(room.clone()));
    let members: Vec<(UserId, Role)> =
        stores.rooms.members(room.id).await.unwrap().into_iter().map(|p| (p.user_id, p.role)).collect();
    assert_eq!(members, [(ann, Role::Owner), (bob, Role::Admin), (cat, Role::Member)]);
    let bobs = stores.rooms.participant(room.id, bob).await.unwrap().unwrap();
    assert_eq!((bobs.role, bobs.joined_at, bobs.last_read_seq), (Role::Admin, room.created_at, 0));
    assert!(stores.rooms.get(RoomId::generate()).await.unwrap().is_none());
    assert!(stores.rooms.participant(room.id, UserId::generate()).await.unwrap().is_none());
}

async fn a_direct_room_is_unique_per_pair_in_either_order_even_when_created_concurrently(stores: &Stores) {
    let (ann, bob) = (stores.user("ann").await, stores.user("bob").await);
    let attempts: Vec<_> = (0..6)
        .map(|i| {
            if i % 2 == 0 {
                (new_room(ann, RoomType::Direct), bob)
            } else {
                (new_room(bob, RoomType::Direct), ann)
            }
        })
        .collect();
    let event = room_created();
    let outcomes = futures::future::join_all(
        attempts.iter().map(|(room, other)| stores.rooms.create_direct(room, *other, &event)),
    )
    .await;
    let mut created = Vec::new();
    let mut existing = Vec::new();
    for outcome in outcomes {
        match outcome.unwrap() {
            DirectRoomOutcome::Created(room) => created.push(room),
            DirectRoomOutcome::Existing(room) => existing.push(room),
        }
    }
    assert_eq!(created.len(), 1);
    assert!(existing.iter().all(|room| *room == created[0]));
    let members = stores.rooms.members(created[0].id).await.unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(members.iter().filter(|m| m.role == Role::Owner).count(), 1);
}

async fn a_member_who_left_rejoins_with_a_fresh_role_and_keeps_the_read_marker(stores: &Stores) {
    let (ann, bob) = (stores.user("ann").await, stores.user("bob").await);
    let room = stores.group(ann, &[bob]).await;
    assert_eq!(stores.rooms.mark_read(room, bob, 7).await.unwrap(), Some(7));
    assert!(stores.rooms.remove_member(room, bob, &member_removed()).await.unwrap());
    assert!(!stores.rooms.remove_member(room, bob, &member_removed()).await.unwrap(), "leaving twice");
    assert!(stores.rooms.participant(room, bob).await.unwrap().is_none());
    assert_eq!(stores.rooms.members(room).await.unwrap().len(), 1);
    let rejoined_at = now();
    let AddMemberOutcome::Added(back) =
        stores.rooms.add_member(room, bob, Role::Admin, rejoined_at, &member_added()).await.unwrap()
    else {
        panic!("a member who left is added again");
    };
    assert_eq!((back.role, back.joined_at, back.last_read_seq), (Role::Admin, rejoined_at, 7));
}

async fn adding_an_active_member_changes_nothing(stores: &Stores) {
    let (ann, bob) = (stores.user("ann").await, stores.user("bob").await);
    let room = stores.group(ann, &[bob]).await;
    let before = stores.rooms.participant(room, bob).await.unwrap().unwrap();
    let outcome = stores.rooms.add_member(room, bob, Role::Admin, now(), &member_added()).await.unwrap();
    assert!(matches!(outcome, AddMemberOutcome::AlreadyMember(p) if p == before));
    let AddMemberOutcome::Added(cat) = stores
        .rooms
        .add_member(room, stores.user("cat").await, Role::Member, now(), &member_added())
        .await
        .unwrap()
    else {
        panic!("a new member is added");
    };
    assert_eq!(cat.last_read_seq, 0);
}

async fn a_users_rooms_come_newest_first_with_unread_counts_capped_at_a_thousand(stores: &Stores) {
    let (ann, bob) = (stores.user("ann").await, stores.user("bob").await);
    let busy = stores.group(ann, &[bob]).await;
    let quiet = stores.group(bob, &[ann]).await;
    let left = stores.group(ann, &[bob]).await;
    stores.rooms.remove_member(left, bob, &member_removed()).await.unwrap();
    let messages: Vec<_> = (1..=1005).map(|seq| new_message(busy, seq, "busy", None)).collect();
    assert_eq!(stores.messages.insert_batch(&messages).await.unwrap(), 1005);
    let quiet_messages: Vec<_> = (1..=3).map(|seq| new_message(quiet, seq * 10, "quiet", None)).collect();
    stores.messages.insert_batch(&quiet_messages).await.unwrap();
    stores.rooms.mark_read(quiet, bob, 10).await.unwrap();

    let summaries = stores.rooms.rooms_of(bob).await.unwrap();
    let seen: Vec<(RoomId, Role, u64, u64)> =
        summaries.iter().map(|s| (s.room.id, s.role, s.last_read_seq, s.unread_count)).collect();
    assert_eq!(seen, [(quiet, Role::Owner, 10, 2), (busy, Role::Member, 0, 1000)]);
    assert!(stores.rooms.rooms_of(UserId::generate()).await.unwrap().is_empty());
}

async fn unread_counts_through_a_seq_leave_out_later_messages(stores: &Stores) {
    let (ann, bob) = (stores.user("ann").await, stores.user("bob").await);
    let room = stores.group(ann, &[bob]).await;
    let messages: Vec<_> = [3, 5, 8, 13].map(|seq| new_message(room, seq, "hi", None)).into();
    stores.messages.insert_batch(&messages).await.unwrap();
    stores.rooms.mark_read(room, bob, 3).await.unwrap();
    let count = |through| async move {
        let summaries = stores.rooms.rooms_of_through(bob, through).await.unwrap();
        summaries.iter().map(|s| (s.room.id, s.last_read_seq, s.unread_count)).collect::<Vec<_>>()
    };
    assert_eq!(count(8).await, [(room, 3, 2)]);
    assert_eq!(count(13).await, [(room, 3, 3)]);
    assert_eq!(count(2).await, [(room, 3, 0)], "a bound below the marker counts nothing");
    assert_eq!(count(u64::MAX).await, [(room, 3, 3)]);
    assert!(stores.rooms.rooms_of_through(UserId::generate(), 8).await.unwrap().is_empty());
}

async fn the_read_marker_only_moves_forward_and_only_for_members(stores: &Stores) {
    let ann = stores.user("ann").await;
    let room = stores.group(ann, &[]).await;
    assert_eq!(stores.rooms.mark_read(room, ann, 5).await.unwrap(), Some(5));
    assert_eq!(stores.rooms.mark_read(room, ann, 3).await.unwrap(), Some(5));
    let marks =
        futures::future::join_all([9, 4, 12, 8].map(|seq| stores.rooms.mark_read(room, ann, seq))).await;
    assert!(marks.iter().all(|m| m.as_ref().unwrap().unwrap() >= 5));
    assert_eq!(stores.rooms.participant(room, ann).await.unwrap().unwrap().last_read_seq, 12);
    assert_eq!(stores.rooms.mark_read(room, UserId::generate(), 1).await.unwrap(), None);
}

async fn an_update_sets_only_the_fields_it_names_and_a_topic_can_be_cleared(stores: &Stores) {
    let ann = stores.user("ann").await;
    let room = stores.group(ann, &[]).await;
    let topic = RoomTopic::parse("plans").unwrap();
    let set_topic = RoomUpdate { topic: Some(Some(topic.clone())), ..RoomUpdate::default() };
    let updated = stores.rooms.update(room, &set_topic).await.unwrap().unwrap();
    assert_eq!((updated.name.as_str(), updated.topic.as_ref()), ("a room", Some(&topic)));
    let rename = RoomUpdate {
        name: Some(RoomName::parse("renamed").unwrap()),
        post_policy: Some(PostPolicy::Admins),
        ..RoomUpdate::default()
    };
    let renamed = stores.rooms.update(room, &rename).await.unwrap().unwrap();
    assert_eq!((renamed.name.as_str(), renamed.topic.as_ref()), ("renamed", Some(&topic)));
    assert_eq!(renamed.post_policy, PostPolicy::Admins);
    let clear = RoomUpdate { topic: Some(None), ..RoomUpdate::default() };
    let cleared = stores.rooms.update(room, &clear).await.unwrap().unwrap();
    assert_eq!((cleared.name.as_str(), cleared.topic.as_ref()), ("renamed", None));
    assert_eq!(stores.rooms.get(room).await.unwrap(), Some(cleared));
    assert!(stores.rooms.update(RoomId::generate(), &rename).await.unwrap().is_none());
}

async fn one_rooms_summary_is_its_entry_in_the_users_room_list(stores: &Stores) {
    let (ann, bob) = (stores.user("ann").await, stores.user("bob").await);
    let room = stores.group(ann, &[bob]).await;
    let messages: Vec<_> = (1..=4).map(|seq| new_message(room, seq, "hi", None)).collect();
    stores.messages.insert_batch(&messages).await.unwrap();
    stores.rooms.mark_read(room, bob, 1).await.unwrap();
    let summary = stores.rooms.summary(room, bob).await.unwrap().unwrap();
    assert_eq!((summary.role, summary.last_read_seq, summary.unread_count), (Role::Member, 1, 3));
    assert_eq!(stores.rooms.rooms_of(bob).await.unwrap(), vec![summary]);
    stores.rooms.remove_member(room, bob, &member_removed()).await.unwrap();
    assert!(stores.rooms.summary(room, bob).await.unwrap().is_none());
    assert!(stores.rooms.summary(RoomId::generate(), ann).await.unwrap().is_none());
}

async fn a_ban_is_stored_replaced_listed_newest_first_and_lifted(stores: &Stores) {
    let (ann, bob, eve) = (stores.user("ann").await, stores.user("bob").await, stores.user("eve").await);
    let room = stores.group(ann, &[]).await;
    let first = Ban {
        room_id: room,
        user_id: eve,
        banned_by: ann,
        reason: Some(BanReason::parse("spam").unwrap()),
        created_at: now(),
        expires_at: Some(now() + chrono::Duration::hours(1)),
    };
    stores.rooms.ban(&first).await.unwrap();
    assert_eq!(stores.rooms.ban_of(room, eve).await.unwrap(), Some(first.clone()));
    let replaced =
        Ban { reason: None, expires_at: None, created_at: now() + chrono::Duration::seconds(1), ..first };
    stores.rooms.ban(&replaced).await.unwrap();
    let later = Ban { user_id: bob, created_at: now() + chrono::Duration::seconds(2), ..replaced.clone() };
    stores.rooms.ban(&later).await.unwrap();
    assert_eq!(stores.rooms.bans(room).await.unwrap(), vec![later, replaced.clone()]);
    assert!(stores.rooms.unban(room, bob).await.unwrap());
    assert!(!stores.rooms.unban(room, bob).await.unwrap());
    assert_eq!(stores.rooms.bans(room).await.unwrap(), vec![replaced]);
    assert!(stores.rooms.ban_of(room, bob).await.unwrap().is_none());
}

async fn a_mute_stays_through_leaving_and_rejoining_and_shows_in_the_room_list(stores: &Stores) {
    let (ann, bob) = (stores.user("ann").await, stores.user("bob").await);
    let room = stores.group(ann, &[bob]).await;
    let until = now() + chrono::Duration::minutes(5);
    let muted = stores.rooms.set_muted_until(room, bob, Some(until)).await.unwrap().unwrap();
    assert_eq!(muted.muted_until, Some(until));
    assert_eq!(stores.rooms.rooms_of(bob).await.unwrap()[0].muted_until, Some(until));
    stores.rooms.remove_member(room, bob, &member_removed()).await.unwrap();
    assert!(stores.rooms.set_muted_until(room, bob, None).await.unwrap().is_none());
    stores.rooms.add_member(room, bob, Role::Member, now(), &member_added()).await.unwrap();
    assert_eq!(stores.rooms.participant(room, bob).await.unwrap().unwrap().muted_until, Some(until));
    let unmuted = stores.rooms.set_muted_until(room, bob, None).await.unwrap().unwrap();
    assert_eq!(unmuted.muted_until, None);
    assert_eq!(stores.rooms.summary(room, bob).await.unwrap().unwrap().muted_until, None);
}

async fn a_participants_role_changes_only_while_they_are_active(stores: &Stores) {
    let (ann, bob) = (stores.user("ann").await, stores.user("bob").await);
    let room = stores.group(ann, &[bob]).await;
    let promoted = stores.rooms.set_role(room, bob, Role::Admin).await.unwrap().unwrap();
    assert_eq!(promoted.role, Role::Admin);
    assert_eq!(stores.rooms.participant(room, bob).await.unwrap().unwrap().role, Role::Admin);
    stores.rooms.remove_member(room, bob, &member_removed()).await.unwrap();
    assert!(stores.rooms.set_role(room, bob, Role::Member).await.unwrap().is_none());
    assert!(stores.rooms.set_role(room, UserId::generate(), Role::Member).await.unwrap().is_none());
}

async fn standings_are_read_for_active_participations_only(stores: &Stores) {
    let (ann, bob, cat) = (stores.user("ann").await, stores.user("bob").await, stores.user("cat").await);
    let team = stores.group(ann, &[bob, cat]).await;
    let news = stores.group(bob, &[]).await;
    let update = RoomUpdate { post_policy: Some(PostPolicy::Admins), ..RoomUpdate::default() };
    stores.rooms.update(news, &update).await.unwrap();
    stores.rooms.remove_member(team, cat, &member_removed()).await.unwrap();
    let asked = [(team, ann), (team, bob), (team, cat), (news, bob), (news, ann), (RoomId::generate(), ann)];
    let mut standings: Vec<SenderStanding> = stores.rooms.standings(&asked).await.unwrap();
    standings.sort_by_key(|s| (s.room_id != team, std::cmp::Reverse(s.participant.role)));
    let read: Vec<_> = standings.iter().map(|s| (s.room_id, s.participant.user_id, s.post_policy)).collect();
    assert_eq!(
        read,
        [
            (team, ann, PostPolicy::Everyone),
            (team, bob, PostPolicy::Everyone),
            (news, bob, PostPolicy::Admins)
        ]
    );
    assert_eq!(standings[0].participant, stores.rooms.participant(team, ann).await.unwrap().unwrap());
    assert_eq!(stores.rooms.standings(&[]).await.unwrap(), []);
}
