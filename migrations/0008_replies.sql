-- A message may reply to another message of its room. The reply keeps only a reference to its
-- parent (its id, seq and sender), never the parent's text: deleting the parent redacts it by
-- erasing the parent's own row and entries, and quotes are read from the parent's current row.
-- The columns are null on every message that replies to nothing, so adding them rewrites
-- nothing.
alter table messages
    add column reply_to_id        uuid,
    add column reply_to_seq       bigint,
    add column reply_to_sender_id uuid;

-- A thread page reads a message's replies by seq, and a history page counts the replies of its
-- messages: both by (room, parent seq), then seq. Only replies are indexed, so messages that
-- reply to nothing cost the index nothing.
create index messages_replies_idx on messages (room_id, reply_to_seq, seq) where reply_to_seq is not null;
