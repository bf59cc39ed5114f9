-- Accounts, rooms, memberships and messages.

-- Usernames are stored as typed and unique regardless of case.
create table users (
    id            uuid primary key,
    username      text not null,
    display_name  text not null,
    password_hash text not null,
    created_at    timestamptz not null,
    updated_at    timestamptz not null default now()
);
create unique index users_username_lower_key on users (lower(username));

-- Refresh tokens are kept only as SHA-256 hashes. Tokens of one login share a family, so a
-- replayed token can revoke every token descended from that login.
create table refresh_tokens (
    id         uuid primary key,
    user_id    uuid not null references users (id) on delete cascade,
    family_id  uuid not null,
    token_hash bytea not null unique,
    issued_at  timestamptz not null,
    expires_at timestamptz not null,
    used_at    timestamptz,
    revoked_at timestamptz
);
create index refresh_tokens_family_idx on refresh_tokens (family_id);
create index refresh_tokens_expires_idx on refresh_tokens (expires_at);

-- created_by has no foreign key: a room outlives its creator's account.
-- direct_key ("<smaller user id>:<larger user id>") makes a direct room unique per pair.
create table rooms (
    id         uuid primary key,
    name       text not null,
    type       text not null check (type in ('direct', 'group', 'channel')),
    created_by uuid not null,
    direct_key text unique,
    created_at timestamptz not null,
    is_active  boolean not null default true
);

-- One row per room and user for ever: leaving clears is_active, joining again sets it.
create table participants (
    room_id       uuid not null references rooms (id) on delete cascade,
    user_id       uuid not null references users (id) on delete cascade,
    role          text not null check (role in ('owner', 'admin', 'member')),
    joined_at     timestamptz not null,
    last_read_seq bigint not null default 0,
    is_active     boolean not null default true,
    primary key (room_id, user_id)
);
create index participants_active_user_idx on participants (user_id) where is_active;

-- Written by the persister from the message stream. seq is the stream's sequence: strictly
-- increasing within a room, not dense. The unique (room_id, seq) index also serves history
-- pages and unread counts. sender_id has no foreign key so the persister never has to refuse
-- an acknowledged message.
create table messages (
    id            uuid primary key,
    room_id       uuid not null references rooms (id),
    seq           bigint not null,
    sender_id     uuid not null,
    content       text not null,
    kind          text not null default 'text',
    metadata      jsonb,
    client_msg_id text,
    created_at    timestamptz not null,
    updated_at    timestamptz not null default now(),
    constraint messages_room_seq_key unique (room_id, seq),
    constraint messages_room_client_msg_id_key unique (room_id, client_msg_id)
);
