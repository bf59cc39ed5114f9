//! The `MessageStore` contract.

use chat_shared::domain::{
    Change, ChangeKind, ClientMsgId, Message, MessageKind, Metadata, SentCursor, UserId,
};
use chat_shared::ports::PageQuery;

use super::{Stores, new_message, now};

contract_tests!(Stores [postgres, sqlite, memory] [
    a_message_reads_back_exactly_as_stored,
    a_batch_skips_messages_whose_seq_is_stored_already,
    pages_read_backward_from_the_newest_or_forward_from_a_seq,
    client_ids_are_per_room,
    a_senders_messages_not_deleted_are_walked_room_by_room_in_seq_order,
]);

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

async fn a_message_reads_back_exactly_as_stored(stores: &Stores) {
    let ann = stores.user("ann").await;
    let room = stores.group(ann, &[]).await;
    let message = Message {
        kind: MessageKind::parse("image.v2").unwrap(),
        metadata: Metadata::parse(Some(serde_json::json!({"w": 640, "tags": ["a", "b"], "alt": "ünïcode"})))
            .unwrap(),
        ..new_message(room, 42, "hello 👋", Some("c-1"))
    };
    stores.messages.insert_batch(std::slice::from_ref(&message)).await.unwrap();
    let page = stores.messages.page(room, PageQuery { before: None, after: None, limit: 10 }).await.unwrap();
    assert_eq!(page, std::slice::from_ref(&message));
    let by_client_id = stores.messages.by_client_msg_id(room, &ClientMsgId::parse("c-1").unwrap()).await;
    assert_eq!(by_client_id.unwrap(), Some(message));
}

async fn a_batch_skips_messages_whose_seq_is_stored_already(stores: &Stores) {
    let ann = stores.user("ann").await;
    let room = stores.group(ann, &[]).await;
    let first: Vec<Message> =
        (1..=3).map(|seq| new_message(room, seq, "m", Some(&format!("c{seq}")))).collect();
    assert_eq!(stores.messages.insert_batch(&first).await.unwrap(), 3);
    let again = vec![
        first[0].clone(),
        new_message(room, 3, "same seq", Some("c-other")),
        new_message(room, 4, "new", None),
        new_message(room, 5, "new too", None),
    ];
    assert_eq!(stores.messages.insert_batch(&again).await.unwrap(), 2);
    assert_eq!(stores.messages.insert_batch(&[]).await.unwrap(), 0);
    let page = stores.messages.page(room, PageQuery { before: None, after: None, limit: 50 }).await.unwrap();
    assert_eq!(seqs(&page), [1, 2, 3, 4, 5]);
    assert_eq!(page[2], first[2]);
}

async fn pages_read_backward_from_the_newest_or_forward_from_a_seq(stores: &Stores) {
    let ann = stores.user("ann").await;
    let room = stores.group(ann, &[]).await;
    let other = stores.group(ann, &[]).await;
    let messages: Vec<Message> = (1..=10).map(|n| new_message(room, n * 2, "m", None)).collect();
    stores.messages.insert_batch(&messages).await.unwrap();
    stores.messages.insert_batch(&[new_message(other, 3, "elsewhere", None)]).await.unwrap();
    let page = |before, after, limit| stores.messages.page(room, PageQuery { before, after, limit });
    assert_eq!(seqs(&page(None, None, 3).await.unwrap()), [16, 18, 20]);
    assert_eq!(seqs(&page(Some(16), None, 3).await.unwrap()), [10, 12, 14]);
    assert_eq!(seqs(&page(None, Some(3), 3).await.unwrap()), [4, 6, 8]);
    assert_eq!(seqs(&page(Some(9), Some(3), 10).await.unwrap()), [4, 6, 8]);
    assert_eq!(seqs(&page(Some(2), None, 5).await.unwrap()), Vec::<u64>::new());
    assert_eq!(seqs(&page(None, Some(20), 5).await.unwrap()), Vec::<u64>::new());
}

async fn client_ids_are_per_room(stores: &Stores) {
    let ann = stores.user("ann").await;
    let (room, other) = (stores.group(ann, &[]).await, stores.group(ann, &[]).await);
    let in_room = new_message(room, 7, "here", Some("shared"));
    let in_other = new_message(other, 9, "there", Some("shared"));
    assert_eq!(stores.messages.insert_batch(&[in_room.clone(), in_other.clone()]).await.unwrap(), 2);
    let shared = ClientMsgId::parse("shared").unwrap();
    assert_eq!(stores.messages.by_client_msg_id(room, &shared).await.unwrap(), Some(in_room));
    assert_eq!(stores.messages.by_client_msg_id(other, &shared).await.unwrap(), Some(in_other));
    let unknown = ClientMsgId::parse("unknown").unwrap();
    assert_eq!(stores.messages.by_client_msg_id(room, &unknown).await.unwrap(), None);
}

async fn a_senders_messages_not_deleted_are_walked_room_by_room_in_seq_order(stores: &Stores) {
    let ann = stores.user("ann").await;
    let (mut first, mut second) = (stores.group(ann, &[]).await, stores.group(ann, &[]).await);
    if second < first {
        std::mem::swap(&mut first, &mut second);
    }
    let bob = UserId::generate();
    let by = |sender: UserId, message: Message| Message { sender_id: sender, ..message };
    let messages = [
        by(bob, new_message(second, 2, "b2", None)),
        by(bob, new_message(first, 7, "a7", None)),
        by(UserId::generate(), new_message(first, 8, "someone else's", None)),
        by(bob, new_message(first, 9, "a9", None)),
        by(bob, new_message(first, 11, "a11, deleted", None)),
        by(bob, new_message(second, 5, "b5", None)),
    ];
    stores.messages.insert_batch(&messages).await.unwrap();
    let deleted = &messages[4];
    let deletion = Change {
        kind: ChangeKind::Deleted,
        seq: 0,
        actor: bob,
        client_change_id: None,
        message: deleted.tombstone(bob, now()),
    };
    stores.messages.apply_changes(&[deletion.at_seq(12)]).await.unwrap();

    let at = |room, seq| SentCursor { room, seq };
    let all = stores.messages.sent_by(bob, None, 10).await.unwrap();
    assert_eq!(all, [at(first, 7), at(first, 9), at(second, 2), at(second, 5)]);
    let page = stores.messages.sent_by(bob, None, 2).await.unwrap();
    assert_eq!(page, [at(first, 7), at(first, 9)]);
    let rest = stores.messages.sent_by(bob, Some(at(first, 9)), 2).await.unwrap();
    assert_eq!(rest, [at(second, 2), at(second, 5)]);
    assert!(stores.messages.sent_by(bob, Some(at(second, 5)), 2).await.unwrap().is_empty());
    assert!(stores.messages.sent_by(UserId::generate(), None, 10).await.unwrap().is_empty());
}
