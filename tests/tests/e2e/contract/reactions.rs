//! The `MessageStore` contract for reactions: entries applied once, in any order, the highest
//! version winning; counts per message and emoji as one reader sees them, with the versions of
//! watched reactions read in the same snapshot.

use chat_shared::domain::{Emoji, Reaction, ReactionKey, RoomId, Seq, UserId};
use chat_shared::ports::{ReactionTally, StoredReactions};

use super::{Stores, new_message};

contract_tests!(Stores [postgres, sqlite, memory] [
    entries_apply_once_in_any_order_and_the_highest_version_wins,
    counts_are_per_message_and_emoji_as_the_reader_sees_them,
    only_the_watched_reactions_the_store_holds_have_versions,
]);

fn entry(room: RoomId, message_seq: Seq, user: UserId, emoji: &str, version: u32, seq: Seq) -> Reaction {
    Reaction {
        emoji: Emoji::parse(emoji).unwrap(),
        added: Reaction::stands(version),
        version,
        user,
        room_id: room,
        message_id: chat_shared::domain::MessageId::generate(),
        message_seq,
        seq,
    }
    .at_seq(seq)
}

fn key(message_seq: Seq, user: UserId, emoji: &str) -> ReactionKey {
    ReactionKey { message_seq, user, emoji: Emoji::parse(emoji).unwrap() }
}

async fn read(
    stores: &Stores,
    room: RoomId,
    seqs: &[Seq],
    reader: UserId,
    watched: &[ReactionKey],
) -> StoredReactions {
    let mut stored = stores.messages.reactions(room, seqs, reader, watched).await.unwrap();
    stored.tallies.sort_by_key(|t| (t.message_seq, t.first_seq));
    stored.versions.sort();
    stored
}

async fn entries_apply_once_in_any_order_and_the_highest_version_wins(stores: &Stores) {
    let room = RoomId::generate();
    let (ann, bob) = (UserId::generate(), UserId::generate());
    let added = entry(room, 3, ann, "👍", 1, 10);
    let removed = entry(room, 3, ann, "👍", 2, 11);
    let added_again = entry(room, 3, ann, "👍", 3, 12);
    let bobs = entry(room, 3, bob, "👍", 1, 13);
    // Out of order, twice over, and the newest of one key twice in one batch.
    stores.messages.apply_reactions(&[added_again.clone(), added.clone(), bobs.clone()]).await.unwrap();
    stores
        .messages
        .apply_reactions(&[removed.clone(), added, bobs, removed, added_again.clone()])
        .await
        .unwrap();
    let stored = read(stores, room, &[3], bob, &[key(3, ann, "👍")]).await;
    assert_eq!(
        stored.tallies,
        [ReactionTally {
            message_seq: 3,
            emoji: Emoji::parse("👍").unwrap(),
            count: 2,
            me: true,
            first_seq: 12,
            latest_seq: 13
        }]
    );
    assert_eq!(stored.versions, [(key(3, ann, "👍"), 3)]);
}

async fn counts_are_per_message_and_emoji_as_the_reader_sees_them(stores: &Stores) {
    let ann = stores.user("ann").await;
    let room = stores.group(ann, &[]).await;
    let bob = UserId::generate();
    stores
        .messages
        .insert_batch(&[new_message(room, 3, "three", None), new_message(room, 4, "four", None)])
        .await
        .unwrap();
    let entries = [
        entry(room, 3, ann, "🎉", 1, 20),
        entry(room, 3, bob, "👍", 1, 21),
        entry(room, 3, ann, "👍", 1, 22),
        entry(room, 3, ann, "🎉", 2, 23),
        entry(room, 4, bob, "❤️", 1, 24),
        entry(RoomId::generate(), 3, bob, "👍", 1, 25),
    ];
    stores.messages.apply_reactions(&entries).await.unwrap();
    let by_ann = read(stores, room, &[3, 4], ann, &[]).await;
    let seen: Vec<(Seq, &str, u32, bool, Seq)> = by_ann
        .tallies
        .iter()
        .map(|t| (t.message_seq, t.emoji.as_str(), t.count, t.me, t.latest_seq))
        .collect();
    assert_eq!(seen, [(3, "👍", 2, true, 22), (3, "🎉", 0, false, 23), (4, "❤️", 1, false, 24)]);
    assert_eq!(by_ann.tallies[1].first_seq, Seq::MAX, "no 🎉 stands");
    assert!(by_ann.versions.is_empty());
    let only_four = read(stores, room, &[4], bob, &[]).await;
    assert_eq!(only_four.tallies.len(), 1);
    assert!(only_four.tallies[0].me);
    assert_eq!(read(stores, room, &[5], ann, &[]).await, StoredReactions::default());
}

async fn only_the_watched_reactions_the_store_holds_have_versions(stores: &Stores) {
    let room = RoomId::generate();
    let (ann, bob) = (UserId::generate(), UserId::generate());
    stores
        .messages
        .apply_reactions(&[entry(room, 7, ann, "✅", 2, 30), entry(room, 7, bob, "✅", 1, 31)])
        .await
        .unwrap();
    let watched = [key(7, ann, "✅"), key(7, ann, "❌"), key(8, bob, "✅"), key(7, bob, "✅")];
    let stored = read(stores, room, &[], ann, &watched).await;
    assert!(stored.tallies.is_empty());
    let mut expected = vec![(key(7, ann, "✅"), 2), (key(7, bob, "✅"), 1)];
    expected.sort();
    assert_eq!(stored.versions, expected);
}
