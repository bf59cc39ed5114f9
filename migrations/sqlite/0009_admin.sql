-- Administrators and the audit log (see ../0012_admin.sql).
alter table users add column role text not null default 'user' check (role in ('user', 'admin'));

-- A disabled user cannot log in, is not listed in the directory, and all their logins ended
-- when they were disabled.
alter table users add column disabled_at text;

create table audit_log (
    id             blob primary key,
    at             text not null,
    actor_id       blob,
    action         text not null,
    target_user_id blob,
    detail         text
);
