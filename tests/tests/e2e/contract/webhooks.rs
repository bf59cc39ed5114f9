//! The `WebhookStore` contract: webhooks listed newest first and deleted with their
//! deliveries; an event enqueued once per webhook that wants it, however often it is recorded;
//! claims that take each due delivery once until their lease runs out; outcomes recorded only
//! for the latest claim. And the room and user stores' side of it: a change's event enqueued in
//! the change's own transaction, when and only when the change is made.

use chat_shared::domain::{
    DeliveryStatus, EventType, Role, RoomType, UserId, Webhook, WebhookId, WebhookSecret, WebhookUrl,
};
use chat_shared::ports::{AddMemberOutcome, AttemptOutcome, AttemptResult, DirectRoomOutcome};
use chrono::{Duration, SubsecRound};

use super::{Stores, new_event, new_room, now};

contract_tests!(Stores [postgres, sqlite, memory] [
    webhooks_read_back_exactly_list_newest_first_and_are_deleted_once,
    an_event_is_enqueued_once_for_each_webhook_that_wants_it,
    a_due_delivery_is_claimed_once_until_its_lease_runs_out,
    an_outcome_counts_only_for_the_latest_claim_and_is_shown_in_the_deliveries,
    deleting_a_webhook_drops_its_pending_deliveries,
    delivered_and_failed_deliveries_are_pruned_and_pending_ones_kept,
    a_changes_event_is_enqueued_when_and_only_when_the_change_is_made,
]);

/// What takes a database to break behind the stores' back.
mod databases {
    use super::{Stores, a_change_whose_event_cannot_be_enqueued_is_not_stored};

    contract_tests!(Stores [postgres, sqlite] [
        a_change_whose_event_cannot_be_enqueued_is_not_stored,
    ]);
}

fn new_webhook(url: &str, events: Vec<EventType>) -> Webhook {
    Webhook {
        id: WebhookId::generate(),
        url: WebhookUrl::parse(url).unwrap(),
        events,
        created_at: now().trunc_subsecs(6),
        created_by: None,
    }
}

async fn webhooks_read_back_exactly_list_newest_first_and_are_deleted_once(stores: &Stores) {
    let admin = stores.user("root").await;
    let first = Webhook {
        created_by: Some(admin),
        ..new_webhook("https://hooks.example.com/a?x=1", vec![EventType::RoomCreated, EventType::MemberAdded])
    };
    let second = new_webhook("http://127.0.0.1:9/b", EventType::ALL.to_vec());
    let store = &stores.webhooks;
    store.insert(&first, &WebhookSecret::generate()).await.unwrap();
    store.insert(&second, &WebhookSecret::generate()).await.unwrap();
    assert_eq!(store.all().await.unwrap(), [second.clone(), first.clone()]);
    assert_eq!(store.get(first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.delete(first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.delete(first.id).await.unwrap(), None);
    assert_eq!(store.get(first.id).await.unwrap(), None);
    assert_eq!(store.all().await.unwrap(), [second]);
}

async fn an_event_is_enqueued_once_for_each_webhook_that_wants_it(stores: &Stores) {
    let store = &stores.webhooks;
    let rooms = new_webhook("http://127.0.0.1:9/rooms", vec![EventType::RoomCreated]);
    let all = new_webhook("http://127.0.0.1:9/all", EventType::ALL.to_vec());
    let members = new_webhook("http://127.0.0.1:9/members", vec![EventType::MemberAdded]);
    for webhook in [&rooms, &all, &members] {
        store.insert(webhook, &WebhookSecret::generate()).await.unwrap();
    }
    let created = new_event(EventType::RoomCreated, now());
    assert_eq!(store.enqueue(&created).await.unwrap(), 2);
    assert_eq!(store.enqueue(&created).await.unwrap(), 0, "recorded again: nothing new");
    assert_eq!(store.enqueue(&new_event(EventType::UserDisabled, now())).await.unwrap(), 1);
    assert_eq!(store.enqueue(&new_event(EventType::MessageCreated, now())).await.unwrap(), 1);

    let later = now() + Duration::seconds(1);
    assert_eq!(store.backlog(later).await.unwrap(), 4);
    let mut due = store.claim(later, later + Duration::seconds(30), 100).await.unwrap();
    due.sort_by_key(|d| (d.event_type, d.url.as_str().to_owned()));
    let seen: Vec<(EventType, &str)> = due.iter().map(|d| (d.event_type, d.url.as_str())).collect();
    assert_eq!(
        seen,
        [
            (EventType::MessageCreated, "http://127.0.0.1:9/all"),
            (EventType::RoomCreated, "http://127.0.0.1:9/all"),
            (EventType::RoomCreated, "http://127.0.0.1:9/rooms"),
            (EventType::UserDisabled, "http://127.0.0.1:9/all"),
        ]
    );
    let room_deliveries: Vec<_> = due.iter().filter(|d| d.event_type == EventType::RoomCreated).collect();
    assert_ne!(room_deliveries[0].id, room_deliveries[1].id, "a delivery id per webhook");
    assert_eq!(room_deliveries[0].event_id, created.id);
    assert_eq!(room_deliveries[0].body, created.body(), "the envelope, byte for byte");
    assert!(due.iter().all(|d| d.attempt == 1));
}

async fn a_due_delivery_is_claimed_once_until_its_lease_runs_out(stores: &Stores) {
    let store = &stores.webhooks;
    let webhook = new_webhook("http://127.0.0.1:9/in", vec![EventType::RoomCreated]);
    let secret = WebhookSecret::generate();
    store.insert(&webhook, &secret).await.unwrap();
    let start = now().trunc_subsecs(3);
    // Enqueued in this order, due in it; the third later than the claims look.
    for offset_ms in [0, 250, 5_000] {
        store
            .enqueue(&new_event(EventType::RoomCreated, start + Duration::milliseconds(offset_ms)))
            .await
            .unwrap();
    }
    let at = start + Duration::milliseconds(500);
    let lease = at + Duration::seconds(30);
    assert_eq!(store.backlog(at).await.unwrap(), 2);
    let first = store.claim(at, lease, 1).await.unwrap();
    assert_eq!((first.len(), first[0].created_at), (1, start), "the oldest due first");
    assert_eq!(first[0].secret, secret);
    assert_eq!(first[0].webhook_id, webhook.id);
    let second = store.claim(at, lease, 10).await.unwrap();
    assert_eq!(second.len(), 1, "the other due one, not the claimed one");
    assert_eq!(second[0].created_at, start + Duration::milliseconds(250));
    assert!(store.claim(at, lease, 10).await.unwrap().is_empty());
    assert_eq!(store.backlog(at).await.unwrap(), 0, "claimed ones are not due");

    let after_lease = lease + Duration::milliseconds(1);
    let again = store.claim(after_lease, after_lease + Duration::seconds(30), 10).await.unwrap();
    let mut ids: Vec<_> = again.iter().map(|d| (d.id, d.attempt)).collect();
    ids.sort();
    let mut expected = vec![(first[0].id, 2), (second[0].id, 2)];
    expected.extend(again.iter().filter(|d| d.attempt == 1).map(|d| (d.id, 1)));
    expected.sort();
    assert_eq!(ids, expected, "the lapsed claims come back, attempt 2; the third is due now too");
    assert_eq!(again.len(), 3);
}

async fn an_outcome_counts_only_for_the_latest_claim_and_is_shown_in_the_deliveries(stores: &Stores) {
    let store = &stores.webhooks;
    let webhook = new_webhook("http://127.0.0.1:9/in", vec![EventType::MemberRemoved]);
    store.insert(&webhook, &WebhookSecret::generate()).await.unwrap();
    let start = now().trunc_subsecs(6);
    let removed = new_event(EventType::MemberRemoved, start);
    store.enqueue(&removed).await.unwrap();
    let due = store.claim(start, start + Duration::seconds(30), 10).await.unwrap().remove(0);

    let failed_at = start + Duration::seconds(1);
    let retry_at = start + Duration::seconds(11);
    let failure = AttemptOutcome {
        at: failed_at,
        status: Some(503),
        result: AttemptResult::Retry { error: "HTTP 503".into(), next_attempt_at: retry_at },
    };
    assert!(store.record(due.id, due.attempt, &failure).await.unwrap());
    let pending = store.deliveries(webhook.id, 10).await.unwrap().remove(0);
    assert_eq!(
        (pending.status, pending.attempts, pending.next_attempt_at, pending.last_status),
        (DeliveryStatus::Pending, 1, Some(retry_at), Some(503))
    );
    assert_eq!((pending.last_attempt_at, pending.last_error.as_deref()), (Some(failed_at), Some("HTTP 503")));
    assert_eq!(
        (pending.event_id, pending.event_type, pending.created_at),
        (removed.id, removed.event_type, start)
    );
    assert!(store.claim(failed_at, failed_at + Duration::seconds(30), 10).await.unwrap().is_empty());

    let retried = store.claim(retry_at, retry_at + Duration::seconds(30), 10).await.unwrap().remove(0);
    assert_eq!((retried.id, retried.attempt), (due.id, 2));
    let stale =
        AttemptOutcome { at: retry_at, status: None, result: AttemptResult::GaveUp { error: "late".into() } };
    assert!(!store.record(due.id, 1, &stale).await.unwrap(), "an earlier claim's outcome is ignored");
    let delivered_at = retry_at + Duration::seconds(1);
    let success = AttemptOutcome { at: delivered_at, status: Some(200), result: AttemptResult::Delivered };
    assert!(store.record(retried.id, retried.attempt, &success).await.unwrap());
    assert!(!store.record(retried.id, retried.attempt, &success).await.unwrap(), "recorded once");
    let delivered = store.deliveries(webhook.id, 10).await.unwrap().remove(0);
    assert_eq!(
        (delivered.status, delivered.attempts, delivered.next_attempt_at, delivered.delivered_at),
        (DeliveryStatus::Delivered, 2, None, Some(delivered_at))
    );
    assert_eq!((delivered.last_status, delivered.last_error), (Some(200), None));
    let far = delivered_at + Duration::days(2);
    assert!(store.claim(far, far + Duration::seconds(30), 10).await.unwrap().is_empty());

    // Given up: failed for good, never claimed again.
    let other = new_event(EventType::MemberRemoved, start);
    store.enqueue(&other).await.unwrap();
    let due = store.claim(far, far + Duration::seconds(30), 10).await.unwrap().remove(0);
    let gave_up =
        AttemptOutcome { at: far, status: None, result: AttemptResult::GaveUp { error: "timed out".into() } };
    assert!(store.record(due.id, due.attempt, &gave_up).await.unwrap());
    let listed = store.deliveries(webhook.id, 10).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!((listed[0].id, listed[0].status), (due.id, DeliveryStatus::Failed), "newest first");
    assert_eq!((listed[0].next_attempt_at, listed[0].last_error.as_deref()), (None, Some("timed out")));
    assert_eq!(store.deliveries(webhook.id, 1).await.unwrap().len(), 1);
    let later = far + Duration::days(1);
    assert!(store.claim(later, later + Duration::seconds(30), 10).await.unwrap().is_empty());
    assert_eq!(store.backlog(later).await.unwrap(), 0);
}

async fn deleting_a_webhook_drops_its_pending_deliveries(stores: &Stores) {
    let store = &stores.webhooks;
    let (kept, deleted) = (
        new_webhook("http://127.0.0.1:9/kept", vec![EventType::RoomCreated]),
        new_webhook("http://127.0.0.1:9/deleted", vec![EventType::RoomCreated]),
    );
    store.insert(&kept, &WebhookSecret::generate()).await.unwrap();
    store.insert(&deleted, &WebhookSecret::generate()).await.unwrap();
    store.enqueue(&new_event(EventType::RoomCreated, now())).await.unwrap();
    store.delete(deleted.id).await.unwrap();
    assert!(store.deliveries(deleted.id, 10).await.unwrap().is_empty());
    let later = now() + Duration::seconds(1);
    let due = store.claim(later, later + Duration::seconds(30), 10).await.unwrap();
    assert_eq!(due.iter().map(|d| d.webhook_id).collect::<Vec<_>>(), [kept.id]);
}

async fn delivered_and_failed_deliveries_are_pruned_and_pending_ones_kept(stores: &Stores) {
    let store = &stores.webhooks;
    let webhook = new_webhook("http://127.0.0.1:9/in", vec![EventType::RoomCreated]);
    store.insert(&webhook, &WebhookSecret::generate()).await.unwrap();
    let old = now().trunc_subsecs(6) - Duration::days(8);
    for _ in 0..3 {
        store.enqueue(&new_event(EventType::RoomCreated, old)).await.unwrap();
    }
    let mut due = store.claim(now(), now() + Duration::seconds(30), 2).await.unwrap();
    let delivered = AttemptOutcome { at: now(), status: Some(200), result: AttemptResult::Delivered };
    let gave_up =
        AttemptOutcome { at: now(), status: None, result: AttemptResult::GaveUp { error: "x".into() } };
    let (first, second) = (due.remove(0), due.remove(0));
    assert!(store.record(first.id, first.attempt, &delivered).await.unwrap());
    assert!(store.record(second.id, second.attempt, &gave_up).await.unwrap());
    store.enqueue(&new_event(EventType::RoomCreated, now())).await.unwrap();
    let recent = store.claim(now(), now(), 10).await.unwrap();
    let recent: Vec<_> = recent.into_iter().filter(|d| d.created_at > old).collect();
    assert!(store.record(recent[0].id, recent[0].attempt, &delivered).await.unwrap());

    assert_eq!(store.prune(now() - Duration::days(7)).await.unwrap(), 2, "the old finished ones");
    let left = store.deliveries(webhook.id, 10).await.unwrap();
    let statuses: Vec<DeliveryStatus> = left.iter().map(|d| d.status).collect();
    assert_eq!(left.len(), 2, "{statuses:?}");
    assert!(left.iter().any(|d| d.status == DeliveryStatus::Pending), "an old pending one stays");
    assert!(left.iter().any(|d| d.status == DeliveryStatus::Delivered && d.created_at > old));
}

async fn a_changes_event_is_enqueued_when_and_only_when_the_change_is_made(stores: &Stores) {
    let webhook = new_webhook("http://127.0.0.1:9/all", EventType::ALL.to_vec());
    stores.webhooks.insert(&webhook, &WebhookSecret::generate()).await.unwrap();
    let (ann, bob, cat) = (stores.user("ann").await, stores.user("bob").await, stores.user("cat").await);
    let (rooms, users) = (&stores.rooms, &stores.users);
    let mut made = Vec::new();

    let room = new_room(ann, RoomType::Group);
    let created = new_event(EventType::RoomCreated, now());
    rooms.create(&room, &[(ann, Role::Owner)], &created).await.unwrap();
    made.push(created.id);
    let direct = new_event(EventType::RoomCreated, now());
    let outcome = rooms.create_direct(&new_room(ann, RoomType::Direct), bob, &direct).await.unwrap();
    assert!(matches!(outcome, DirectRoomOutcome::Created(_)));
    made.push(direct.id);
    let pair_again = new_event(EventType::RoomCreated, now());
    let outcome = rooms.create_direct(&new_room(bob, RoomType::Direct), ann, &pair_again).await.unwrap();
    assert!(matches!(outcome, DirectRoomOutcome::Existing(_)));

    let added = new_event(EventType::MemberAdded, now());
    let outcome = rooms.add_member(room.id, bob, Role::Member, now(), &added).await.unwrap();
    assert!(matches!(outcome, AddMemberOutcome::Added(_)));
    made.push(added.id);
    let member_already = new_event(EventType::MemberAdded, now());
    let outcome = rooms.add_member(room.id, bob, Role::Admin, now(), &member_already).await.unwrap();
    assert!(matches!(outcome, AddMemberOutcome::AlreadyMember(_)));

    let removed = new_event(EventType::MemberRemoved, now());
    assert!(rooms.remove_member(room.id, bob, &removed).await.unwrap());
    made.push(removed.id);
    let not_a_member = new_event(EventType::MemberRemoved, now());
    assert!(!rooms.remove_member(room.id, cat, &not_a_member).await.unwrap());

    let disabled = new_event(EventType::UserDisabled, now());
    assert!(users.set_disabled(cat, Some(now()), Some(&disabled)).await.unwrap().is_some());
    made.push(disabled.id);
    let nobody = new_event(EventType::UserDisabled, now());
    assert!(users.set_disabled(UserId::generate(), Some(now()), Some(&nobody)).await.unwrap().is_none());
    assert!(users.set_disabled(cat, None, None).await.unwrap().is_some(), "enabled, with no event");

    let deliveries = stores.webhooks.deliveries(webhook.id, 100).await.unwrap();
    let mut enqueued: Vec<_> = deliveries.iter().map(|d| d.event_id).collect();
    enqueued.sort();
    made.sort();
    assert_eq!(enqueued, made, "one delivery per change made, none for the changes not made");
    assert!(deliveries.iter().all(|d| d.status == DeliveryStatus::Pending));
}

async fn a_change_whose_event_cannot_be_enqueued_is_not_stored(stores: &Stores) {
    let webhook = new_webhook("http://127.0.0.1:9/all", EventType::ALL.to_vec());
    stores.webhooks.insert(&webhook, &WebhookSecret::generate()).await.unwrap();
    let (ann, bob) = (stores.user("ann").await, stores.user("bob").await);
    let member = stores.group(ann, &[bob]).await;
    // The outbox breaks: every change with an event fails, and none is stored without it.
    stores.execute("drop table webhook_deliveries").await;

    let room = new_room(ann, RoomType::Group);
    let created = new_event(EventType::RoomCreated, now());
    assert!(stores.rooms.create(&room, &[(ann, Role::Owner)], &created).await.is_err());
    assert_eq!(stores.rooms.get(room.id).await.unwrap(), None);
    let direct = new_room(ann, RoomType::Direct);
    assert!(stores.rooms.create_direct(&direct, bob, &created).await.is_err());
    assert_eq!(stores.rooms.get(direct.id).await.unwrap(), None);

    let cat = stores.user("cat").await;
    let added = new_event(EventType::MemberAdded, now());
    assert!(stores.rooms.add_member(member, cat, Role::Member, now(), &added).await.is_err());
    assert_eq!(stores.rooms.participant(member, cat).await.unwrap(), None);
    let removed = new_event(EventType::MemberRemoved, now());
    assert!(stores.rooms.remove_member(member, bob, &removed).await.is_err());
    assert!(stores.rooms.participant(member, bob).await.unwrap().is_some());

    let disabled = new_event(EventType::UserDisabled, now());
    assert!(stores.users.set_disabled(cat, Some(now()), Some(&disabled)).await.is_err());
    assert_eq!(stores.users.by_id(cat).await.unwrap().unwrap().disabled_at, None);
}
