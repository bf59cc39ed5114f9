-- Edits and deletions of messages (see adapters/src/sqlite/log.rs). A message's row holds its
-- current state: changed_seq is the seq of the latest change it includes (0 while none), and
-- a deleted message's row is its tombstone, deleted_at set and its content and metadata gone.
alter table messages add column edited_at text;
alter table messages add column deleted_by blob;
alter table messages add column deleted_at text;
alter table messages add column changed_seq integer not null default 0;
-- The log's entry of a message is the message as it was appended, the row its current state:
-- the first edit keeps the appended content and metadata here, and the deletion clears them.
alter table messages add column appended_content text;
alter table messages add column appended_metadata text;

-- The log's change entries, under seqs of the same global sequence as the messages'. change is
-- the JSON of the change as it left its message, without its seq (the row's). dedup_key, set by
-- the log, shares its namespace with the messages' dedup keys. A deletion removes the entries of
-- the message's edits, whose payload holds their text. (room_id, seq) serves a room's entries
-- after a seq and its last seq; (room_id, message_seq) a message's edits.
create table message_changes (
    seq         integer primary key,
    room_id     blob not null,
    message_seq integer not null,
    kind        text not null check (kind in ('edited', 'deleted')),
    dedup_key   text unique,
    change      text not null
);
create index message_changes_room_seq_idx on message_changes (room_id, seq);
create index message_changes_message_idx on message_changes (room_id, message_seq);

-- The seqs of every edit applied to each message, kept after its deletion removed the edits'
-- entries: what the deletion redacts, reported again when it is applied again.
create table message_edits (
    room_id     blob not null,
    message_seq integer not null,
    seq         integer not null,
    primary key (room_id, message_seq, seq)
) without rowid;
