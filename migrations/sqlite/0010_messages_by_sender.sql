-- See ../0013_messages_by_sender.sql.
create index messages_sender_idx on messages (sender_id, room_id, seq) where deleted_at is null;
