-- Administrators and the audit log (see ../0012_admin.sql).
alter table users add column role text not null default 'user' check (role in ('user', 'admin'));

create table audit_log (
    id             blob primary key,
    at             text not null,
    actor_id       blob,
    action         text not null,
    target_user_id blob,
    detail         text
);
