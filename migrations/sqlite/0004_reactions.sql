-- Reactions (see migrations/0007_reactions.sql for the numbering by version). The log's
-- reaction entries join the change entries in message_changes, under kind 'reaction' with the
-- reaction's JSON in `change`; SQLite cannot widen a check constraint in place, so the table is
-- rebuilt with its rows and indexes.
create table message_changes_widened (
    seq         integer primary key,
    room_id     blob not null,
    message_seq integer not null,
    kind        text not null check (kind in ('edited', 'deleted', 'reaction')),
    dedup_key   text unique,
    change      text not null
);
insert into message_changes_widened (seq, room_id, message_seq, kind, dedup_key, change)
    select seq, room_id, message_seq, kind, dedup_key, change from message_changes;
drop table message_changes;
alter table message_changes_widened rename to message_changes;
create index message_changes_room_seq_idx on message_changes (room_id, seq);
create index message_changes_message_idx on message_changes (room_id, message_seq);

-- Each reaction's latest entry, applied in the transaction that appends it.
create table message_reactions (
    room_id     blob not null,
    message_seq integer not null,
    user_id     blob not null,
    emoji       text not null,
    version     integer not null,
    seq         integer not null,
    primary key (room_id, message_seq, user_id, emoji)
) without rowid;
