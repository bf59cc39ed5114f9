//! The `MessageStore` contract for changes to messages: edits and deletions applied once, in
//! any order, and redaction.

use chat_shared::domain::{Change, ChangeKind, ClientMsgId, Content, Message, Metadata, RoomId, UserId};
use chat_shared::ports::{MessageRef, PageQuery, Redacted};

use super::{Stores, new_message, now};

contract_tests!(Stores [postgres, sqlite, memory] [
    an_edit_replaces_content_and_metadata_and_keeps_the_rest,
    changes_apply_once_in_any_order_and_the_newest_wins,
    a_change_that_comes_before_its_message_is_kept_and_the_message_then_skipped,
    a_deletion_leaves_a_tombstone_and_redacts_the_message_and_its_edits,
    an_edit_that_comes_after_the_deletion_is_redacted_too,
    a_deletion_and_an_edit_in_one_batch_leave_the_tombstone,
    messages_are_found_by_id_or_seq_only_in_their_room,
]);

fn edit(of: &Message, text: &str, seq: u64) -> Change {
    let metadata = Metadata::parse(Some(serde_json::json!({ "v": seq }))).unwrap();
    let edited = of.edited(Content::parse(text).unwrap(), Some(metadata), now());
    Change { kind: ChangeKind::Edited, seq: 0, actor: of.sender_id, client_change_id: None, message: edited }
        .at_seq(seq)
}

fn deletion(of: &Message, by: UserId, seq: u64) -> Change {
    let tombstone = of.tombstone(by, now());
    let client_change_id = Some(ClientMsgId::parse("d-1").unwrap());
    Change { kind: ChangeKind::Deleted, seq: 0, actor: by, client_change_id, message: tombstone }.at_seq(seq)
}

async fn newest_page(stores: &Stores, room: RoomId) -> Vec<Message> {
    stores.messages.page(room, PageQuery { before: None, after: None, limit: 50 }).await.unwrap()
}

async fn stored_room(stores: &Stores) -> RoomId {
    let ann = stores.user("ann").await;
    stores.group(ann, &[]).await
}

async fn an_edit_replaces_content_and_metadata_and_keeps_the_rest(stores: &Stores) {
    let room = stored_room(stores).await;
    let original = new_message(room, 5, "first", Some("c-5"));
    stores.messages.insert_batch(std::slice::from_ref(&original)).await.unwrap();
    let change = edit(&original, "second", 8);
    assert_eq!(
        stores.messages.apply_changes(std::slice::from_ref(&change)).await.unwrap(),
        Redacted::default()
    );
    let edited = change.message.clone();
    assert_eq!(edited.content.as_str(), "second");
    assert_eq!(edited.changed_seq, 8);
    assert!(edited.edited_at.is_some());
    assert_eq!(newest_page(stores, room).await, std::slice::from_ref(&edited));
    assert_eq!(stores.messages.find(room, MessageRef::Seq(5)).await.unwrap(), Some(edited.clone()));
    assert_eq!(stores.messages.find(room, MessageRef::Id(original.id)).await.unwrap(), Some(edited.clone()));
    let by_client_id = stores.messages.by_client_msg_id(room, &ClientMsgId::parse("c-5").unwrap()).await;
    assert_eq!(by_client_id.unwrap(), Some(edited));
}

async fn changes_apply_once_in_any_order_and_the_newest_wins(stores: &Stores) {
    let room = stored_room(stores).await;
    let original = new_message(room, 5, "first", None);
    stores.messages.insert_batch(std::slice::from_ref(&original)).await.unwrap();
    let (older, newer) = (edit(&original, "older", 7), edit(&original, "newer", 9));
    stores.messages.apply_changes(std::slice::from_ref(&newer)).await.unwrap();
    stores.messages.apply_changes(&[older.clone(), newer.clone(), older]).await.unwrap();
    assert_eq!(newest_page(stores, room).await, [newer.message]);
}

async fn a_change_that_comes_before_its_message_is_kept_and_the_message_then_skipped(stores: &Stores) {
    let room = stored_room(stores).await;
    let original = new_message(room, 5, "first", Some("c-5"));
    let change = edit(&original, "second", 8);
    stores.messages.apply_changes(std::slice::from_ref(&change)).await.unwrap();
    assert_eq!(stores.messages.insert_batch(std::slice::from_ref(&original)).await.unwrap(), 0);
    assert_eq!(newest_page(stores, room).await, std::slice::from_ref(&change.message));
    let by_client_id = stores.messages.by_client_msg_id(room, &ClientMsgId::parse("c-5").unwrap()).await;
    assert_eq!(by_client_id.unwrap(), Some(change.message));
}

async fn a_deletion_leaves_a_tombstone_and_redacts_the_message_and_its_edits(stores: &Stores) {
    let room = stored_room(stores).await;
    let original = Message {
        metadata: Metadata::parse(Some(serde_json::json!({"secret": "x"}))).unwrap(),
        ..new_message(room, 5, "first", Some("c-5"))
    };
    let other = new_message(room, 6, "stays", None);
    stores.messages.insert_batch(&[original.clone(), other.clone()]).await.unwrap();
    stores
        .messages
        .apply_changes(&[edit(&original, "second", 7), edit(&original, "third", 9)])
        .await
        .unwrap();
    let moderator = UserId::generate();
    let deleted = deletion(&original, moderator, 10);
    let redacted = stores.messages.apply_changes(std::slice::from_ref(&deleted)).await.unwrap();
    assert_eq!(redacted.log_seqs, [5, 7, 9]);

    let tombstone = &newest_page(stores, room).await[0];
    assert_eq!(tombstone, &deleted.message);
    assert!(tombstone.deleted);
    assert_eq!(tombstone.content.as_str(), "");
    assert_eq!(tombstone.metadata, Metadata::default());
    assert_eq!(tombstone.edited_at, None);
    assert_eq!(tombstone.deleted_by, Some(moderator));
    assert_eq!(tombstone.changed_seq, 10);
    assert_eq!(
        (tombstone.id, tombstone.sender_id, tombstone.created_at),
        (original.id, original.sender_id, original.created_at)
    );
    assert_eq!(newest_page(stores, room).await[1], other);
    let by_client_id = stores.messages.by_client_msg_id(room, &ClientMsgId::parse("c-5").unwrap()).await;
    assert_eq!(by_client_id.unwrap().as_ref(), Some(tombstone));
    // Applying it again redacts the same again: a redelivered deletion whose log removal failed.
    let again = stores.messages.apply_changes(std::slice::from_ref(&deleted)).await.unwrap();
    assert_eq!(again.log_seqs, [5, 7, 9]);
}

async fn an_edit_that_comes_after_the_deletion_is_redacted_too(stores: &Stores) {
    let room = stored_room(stores).await;
    let original = new_message(room, 5, "first", None);
    stores.messages.insert_batch(std::slice::from_ref(&original)).await.unwrap();
    let deleted = deletion(&original, original.sender_id, 10);
    stores.messages.apply_changes(std::slice::from_ref(&deleted)).await.unwrap();
    let late = stores.messages.apply_changes(&[edit(&original, "too late", 7)]).await.unwrap();
    assert!(late.log_seqs.contains(&7), "{late:?}");
    assert_eq!(newest_page(stores, room).await, [deleted.message]);
}

async fn a_deletion_and_an_edit_in_one_batch_leave_the_tombstone(stores: &Stores) {
    let room = stored_room(stores).await;
    let original = new_message(room, 5, "first", None);
    let deleted = deletion(&original, original.sender_id, 8);
    let redacted = stores
        .messages
        .apply_changes(&[edit(&original, "second", 7), deleted.clone(), edit(&original, "late", 9)])
        .await
        .unwrap();
    assert_eq!(redacted.log_seqs, [5, 7, 9]);
    assert_eq!(stores.messages.insert_batch(std::slice::from_ref(&original)).await.unwrap(), 0);
    assert_eq!(newest_page(stores, room).await, [deleted.message]);
}

async fn messages_are_found_by_id_or_seq_only_in_their_room(stores: &Stores) {
    let ann = stores.user("ann").await;
    let (room, other) = (stores.group(ann, &[]).await, stores.group(ann, &[]).await);
    let message = new_message(room, 5, "here", None);
    stores.messages.insert_batch(std::slice::from_ref(&message)).await.unwrap();
    assert_eq!(stores.messages.find(room, MessageRef::Id(message.id)).await.unwrap(), Some(message.clone()));
    assert_eq!(stores.messages.find(other, MessageRef::Id(message.id)).await.unwrap(), None);
    assert_eq!(stores.messages.find(other, MessageRef::Seq(5)).await.unwrap(), None);
    assert_eq!(stores.messages.find(room, MessageRef::Seq(6)).await.unwrap(), None);
}
