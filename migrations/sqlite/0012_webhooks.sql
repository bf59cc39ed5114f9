-- See ../0015_webhooks.sql.
create table webhooks (
    id         blob primary key,
    url        text not null,
    events     text not null,
    secret     text not null,
    created_at text not null,
    created_by blob
);

create table webhook_deliveries (
    id              blob    primary key,
    webhook_id      blob    not null references webhooks (id) on delete cascade,
    event_id        blob    not null,
    event_type      text    not null,
    body            text    not null,
    created_at      text    not null,
    status          text    not null default 'pending'
                            check (status in ('pending', 'delivered', 'failed')),
    attempts        integer not null default 0,
    next_attempt_at text,
    last_attempt_at text,
    last_status     integer,
    last_error      text,
    delivered_at    text,
    unique (webhook_id, event_id)
);

create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_by_webhook on webhook_deliveries (webhook_id, id);

-- Where message.created resumes in the log (see SqliteNewMessages): every message with a
-- higher seq is still to be made an event. It starts at the newest message when the feature
-- arrives, so history is not replayed as new.
create table webhook_cursor (
    name text    primary key,
    seq  integer not null
);
insert into webhook_cursor (name, seq) values ('message.created', (select coalesce(max(seq), 0) from messages));
