-- Administrators run the deployment. The first is made from the command line
-- (`chat-node admin grant <username>`), never over HTTP.
alter table users add column role text not null default 'user' check (role in ('user', 'admin'));

-- A disabled user cannot log in, is not listed in the directory, and all their logins ended
-- when they were disabled.
alter table users add column disabled_at timestamptz;

-- What administrators did: who (null: the command line), what, when, to whom. Ids are UUIDv7,
-- so they sort by time and page by id.
create table audit_log (
    id             uuid        primary key,
    at             timestamptz not null,
    actor_id       uuid,
    action         text        not null,
    target_user_id uuid,
    detail         text
);
