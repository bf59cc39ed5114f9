//! The `MessageStore` contract for replies: the reference a reply keeps, through the batch
//! insert, changes and redaction; thread pages; reply counts; parents found in one call.

use chat_shared::domain::{Change, ChangeKind, Message, ReplyTo, RoomId};
use chat_shared::ports::{MessageRef, PageQuery};

use super::{Stores, new_message, now};

contract_tests!(Stores [postgres, sqlite, memory] [
    a_reply_keeps_its_parents_reference_through_insert_edit_and_deletion,
    a_thread_page_holds_the_direct_replies_after_a_seq,
    reply_counts_count_stored_replies_up_to_a_seq,
    messages_are_found_by_many_seqs_at_once_only_in_their_room,
]);

async fn stored_room(stores: &Stores) -> RoomId {
    stored_rooms(stores).await.0
}

/// Two rooms of one owner.
async fn stored_rooms(stores: &Stores) -> (RoomId, RoomId) {
    let ann = stores.user("ann").await;
    (stores.group(ann, &[]).await, stores.group(ann, &[]).await)
}

fn reply(room: RoomId, seq: u64, parent: &Message) -> Message {
    Message { reply_to: Some(ReplyTo::to(parent)), ..new_message(room, seq, &format!("reply {seq}"), None) }
}

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

async fn a_reply_keeps_its_parents_reference_through_insert_edit_and_deletion(stores: &Stores) {
    let room = stored_room(stores).await;
    let parent = new_message(room, 3, "the parent's text", None);
    let answer = reply(room, 5, &parent);
    stores.messages.insert_batch(&[parent.clone(), answer.clone()]).await.unwrap();
    let found = stores.messages.find(room, MessageRef::Seq(5)).await.unwrap().unwrap();
    assert_eq!(found.reply_to, Some(ReplyTo::to(&parent)));
    assert_eq!(found, answer);

    let edited = answer.edited(chat_shared::domain::Content::parse("changed").unwrap(), None, now());
    let edit = Change {
        kind: ChangeKind::Edited,
        seq: 0,
        actor: answer.sender_id,
        client_change_id: None,
        message: edited,
    }
    .at_seq(7);
    let tombstone = answer.tombstone(answer.sender_id, now());
    let deletion = Change {
        kind: ChangeKind::Deleted,
        seq: 0,
        actor: answer.sender_id,
        client_change_id: None,
        message: tombstone,
    }
    .at_seq(8);
    let redacted = stores.messages.apply_changes(&[edit, deletion]).await.unwrap();
    assert_eq!(redacted.log_seqs, [5, 7], "only the reply's own entries");
    let page = stores.messages.page(room, PageQuery { before: None, after: None, limit: 10 }).await.unwrap();
    assert_eq!(page[0], parent, "the parent is untouched");
    assert!(page[1].deleted);
    assert_eq!(page[1].reply_to, Some(ReplyTo::to(&parent)), "a tombstone stays in its thread");

    // A reply whose change reached the store first keeps its reference too.
    let early = reply(room, 9, &parent);
    let early_edit = Change {
        kind: ChangeKind::Edited,
        seq: 0,
        actor: early.sender_id,
        client_change_id: None,
        message: early.edited(chat_shared::domain::Content::parse("early").unwrap(), None, now()),
    }
    .at_seq(10);
    stores.messages.apply_changes(&[early_edit]).await.unwrap();
    let found = stores.messages.find(room, MessageRef::Seq(9)).await.unwrap().unwrap();
    assert_eq!(found.reply_to, Some(ReplyTo::to(&parent)));
}

async fn a_thread_page_holds_the_direct_replies_after_a_seq(stores: &Stores) {
    let (room, other_room) = stored_rooms(stores).await;
    let parent = new_message(room, 10, "topic", None);
    let mut batch = vec![parent.clone(), new_message(room, 11, "unrelated", None)];
    batch.extend([12, 14, 15, 17].map(|seq| reply(room, seq, &parent)));
    batch.push(reply(room, 16, &batch[2]));
    // The same seq in another room, answering a message of the same seq there.
    batch.push(reply(other_room, 13, &Message { room_id: other_room, ..parent.clone() }));
    stores.messages.insert_batch(&batch).await.unwrap();

    assert_eq!(seqs(&stores.messages.replies(room, 10, 0, 50).await.unwrap()), [12, 14, 15, 17]);
    assert_eq!(seqs(&stores.messages.replies(room, 10, 0, 2).await.unwrap()), [12, 14]);
    assert_eq!(seqs(&stores.messages.replies(room, 10, 14, 2).await.unwrap()), [15, 17]);
    assert_eq!(seqs(&stores.messages.replies(room, 10, 17, 2).await.unwrap()), Vec::<u64>::new());
    assert_eq!(seqs(&stores.messages.replies(room, 12, 0, 50).await.unwrap()), [16]);
    assert_eq!(seqs(&stores.messages.replies(room, 11, 0, 50).await.unwrap()), Vec::<u64>::new());
}

async fn reply_counts_count_stored_replies_up_to_a_seq(stores: &Stores) {
    let (room, other_room) = stored_rooms(stores).await;
    let (first, second) = (new_message(room, 1, "one", None), new_message(room, 2, "two", None));
    let batch = [
        first.clone(),
        second.clone(),
        reply(room, 3, &first),
        reply(room, 4, &first),
        reply(room, 5, &second),
        reply(room, 6, &first),
    ];
    stores.messages.insert_batch(&batch).await.unwrap();
    let mut counts = stores.messages.reply_counts(room, &[1, 2, 3, 99], 5).await.unwrap();
    counts.sort_unstable();
    assert_eq!(counts, [(1, 2), (2, 1)]);
    let mut all = stores.messages.reply_counts(room, &[1, 2], u64::MAX).await.unwrap();
    all.sort_unstable();
    assert_eq!(all, [(1, 3), (2, 1)]);
    assert_eq!(stores.messages.reply_counts(room, &[], u64::MAX).await.unwrap(), []);
    assert_eq!(stores.messages.reply_counts(other_room, &[1], u64::MAX).await.unwrap(), []);
}

async fn messages_are_found_by_many_seqs_at_once_only_in_their_room(stores: &Stores) {
    let (room, other_room) = stored_rooms(stores).await;
    let batch: Vec<Message> = (1..=4).map(|seq| new_message(room, seq, "m", None)).collect();
    stores.messages.insert_batch(&batch).await.unwrap();
    stores.messages.insert_batch(&[new_message(other_room, 5, "elsewhere", None)]).await.unwrap();
    let mut found = stores.messages.find_seqs(room, &[4, 2, 5, 77]).await.unwrap();
    found.sort_by_key(|m| m.seq);
    assert_eq!(found, [batch[1].clone(), batch[3].clone()]);
    assert!(stores.messages.find_seqs(room, &[]).await.unwrap().is_empty());
}
