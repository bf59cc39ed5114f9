-- Moderation. A ban keeps a user out of a room until it expires (never, without expires_at) or
-- is lifted; one row per room and user, replaced by a new ban.
create table room_bans (
    room_id    uuid        not null references rooms (id),
    user_id    uuid        not null references users (id),
    banned_by  uuid        not null references users (id),
    reason     text,
    created_at timestamptz not null,
    expires_at timestamptz,
    primary key (room_id, user_id)
);

-- A mute lives on the membership row, which leaving only marks inactive: leaving and joining
-- again does not end it. Null on every row until someone is muted, so adding it rewrites nothing.
alter table participants add column muted_until timestamptz;

-- Who may post: 'everyone' or 'admins' (the owner and admins: announcement channels).
alter table rooms add column post_policy text not null default 'everyone'
    check (post_policy in ('everyone', 'admins'));
