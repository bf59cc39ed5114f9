-- Replies (see ../0008_replies.sql): a reply keeps only a reference to its parent, never its
-- text. The log's entry of a message is its row, so the reference is in the log too.
alter table messages add column reply_to_id blob;
alter table messages add column reply_to_seq integer;
alter table messages add column reply_to_sender_id blob;

-- Thread pages and reply counts, by (room, parent seq), then seq; only replies are indexed.
create index messages_replies_idx on messages (room_id, reply_to_seq, seq) where reply_to_seq is not null;
