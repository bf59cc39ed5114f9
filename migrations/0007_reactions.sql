-- Reactions: each user's emoji on a message. A reaction entry of the stream is numbered per
-- (message, user, emoji) by `version`, which counts the additions and removals so far: odd
-- while the reaction stands. The persister keeps, per key, the entry with the highest version,
-- so entries applied in any order and more than once give the same row; `seq` is that entry's
-- stream seq. A removed reaction keeps its row (version even): a late, older addition must not
-- bring it back. No text is kept here.
--
-- A page's counts read by (room_id, message_seq), the key's leading columns.
create table message_reactions (
    room_id     uuid not null,
    message_seq bigint not null,
    user_id     uuid not null,
    emoji       text not null,
    version     integer not null,
    seq         bigint not null,
    primary key (room_id, message_seq, user_id, emoji)
);
