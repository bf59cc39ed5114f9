-- Messages can be edited and deleted. A change is an entry of the room's stream of its own,
-- carrying the whole message as it leaves it; the persister keeps, for each message, the state
-- with the highest changed_seq (the stream seq of the change it includes, 0 while none), and a
-- deletion is final.
--
-- A deletion is a redaction: the row becomes a tombstone that keeps the message's place, ids,
-- sender, kind and times, with content '' (the column stays not null) and metadata null, and
-- deleted_at set, which is what marks it deleted. None of the columns needs a rewrite of the
-- table: they are null or have a constant default.
alter table messages
    add column edited_at   timestamptz,
    add column deleted_by  uuid,
    add column deleted_at  timestamptz,
    add column changed_seq bigint not null default 0;

-- The stream seqs of each message's edits, so that its deletion knows which stream entries
-- still hold its text and must be erased. No text is kept here. A deletion reads them by
-- message, which the key's leading columns serve; the edit's own seq makes a redelivered edit
-- a no-op.
create table message_edits (
    room_id     uuid not null,
    message_seq bigint not null,
    seq         bigint not null,
    primary key (room_id, message_seq, seq)
);

-- Requests may name a message by its id. The index is not unique (see 0003: a unique index
-- costs every stored row a search), and a b-tree rather than a hash index like the client-id
-- one (0004): ids are UUIDv7, which rise with time, so nearly every new entry goes to the
-- rightmost leaf, which PostgreSQL finds without a descent and which stays cached, where a hash
-- index puts each one in a random bucket. Inserting 400,000 rows into a table of 2,000,000 took
-- 3.0-4.6 s without an index on id, 6.0-7.1 s with a b-tree and 7.6-7.8 s with a hash index,
-- whose buckets also came out larger (81 MB against 72 MB).
create index messages_id_idx on messages (id);
