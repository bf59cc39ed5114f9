-- Accounts, rooms, memberships and messages of the embedded mode: the tables of the
-- PostgreSQL schema (../0001_accounts_rooms_messages.sql) in SQLite's types. Ids are 16-byte
-- UUID blobs; times are RFC 3339 text in UTC, whose text order is their time order.

-- Usernames are stored as typed and unique regardless of case (they are ASCII, so SQLite's
-- ASCII-only lower() is enough).
create table users (
    id            blob primary key,
    username      text not null,
    display_name  text not null,
    password_hash text not null,
    created_at    text not null,
    updated_at    text not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
create unique index users_username_lower_key on users (lower(username));

-- Refresh tokens are kept only as SHA-256 hashes. Tokens of one login share a family, so a
-- replayed token can revoke every token descended from that login.
create table refresh_tokens (
    id         blob primary key,
    user_id    blob not null references users (id) on delete cascade,
    family_id  blob not null,
    token_hash blob not null unique,
    issued_at  text not null,
    expires_at text not null,
    used_at    text,
    revoked_at text
);
create index refresh_tokens_family_idx on refresh_tokens (family_id);
create index refresh_tokens_expires_idx on refresh_tokens (expires_at);

-- created_by has no foreign key: a room outlives its creator's account.
-- direct_key ("<smaller user id>:<larger user id>") makes a direct room unique per pair.
create table rooms (
    id         blob primary key,
    name       text not null,
    type       text not null check (type in ('direct', 'group', 'channel')),
    created_by blob not null,
    direct_key text unique,
    created_at text not null,
    is_active  integer not null default 1
);

-- One row per room and user for ever: leaving clears is_active, joining again sets it.
create table participants (
    room_id       blob not null references rooms (id) on delete cascade,
    user_id       blob not null references users (id) on delete cascade,
    role          text not null check (role in ('owner', 'admin', 'member')),
    joined_at     text not null,
    last_read_seq integer not null default 0,
    is_active     integer not null default 1,
    primary key (room_id, user_id)
);
create index participants_active_user_idx on participants (user_id) where is_active;

-- The message log and the messages at rest in one table (see adapters/src/sqlite/log.rs).
-- seq is global and increasing, like a stream sequence; the unique (room_id, seq) index serves
-- history pages, unread counts and each room's last seq, messages_seq_idx the next seq and
-- reads by seq. dedup_key, set by the log, catches a repeated send for as long as the message
-- exists. Neither room_id nor sender_id has a foreign key: like the stream it stands for, the
-- log takes what the use cases checked before appending.
create table messages (
    id            blob primary key,
    room_id       blob not null,
    seq           integer not null,
    sender_id     blob not null,
    content       text not null,
    kind          text not null default 'text',
    metadata      text,
    client_msg_id text,
    created_at    text not null,
    dedup_key     text unique,
    constraint messages_room_seq_key unique (room_id, seq),
    constraint messages_room_client_msg_id_key unique (room_id, client_msg_id)
);
create index messages_seq_idx on messages (seq);
