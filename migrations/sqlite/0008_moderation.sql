-- Moderation (see ../0011_moderation.sql).
create table room_bans (
    room_id    blob not null references rooms (id),
    user_id    blob not null references users (id),
    banned_by  blob not null references users (id),
    reason     text,
    created_at text not null,
    expires_at text,
    primary key (room_id, user_id)
);

alter table participants add column muted_until text;

alter table rooms add column post_policy text not null default 'everyone'
    check (post_policy in ('everyone', 'admins'));
