-- Webhooks (POST /admin/webhooks) and the outbox of their deliveries. The secret is kept as
-- it was shown (`whsec_...`): signing a delivery needs the key itself. events: space-separated,
-- e.g. 'member.added room.created'.
create table webhooks (
    id         uuid        primary key,
    url        text        not null,
    events     text        not null,
    secret     text        not null,
    created_at timestamptz not null,
    created_by uuid
);

-- One row per (webhook, event), whatever the number of attempts: the unique key is what makes
-- recording an event again (a stream message redelivered) enqueue nothing. A pending row is
-- due at next_attempt_at; claiming it for an attempt pushes next_attempt_at past the attempt's
-- lease, so a worker that dies holding it only delays it. Deleting a webhook deletes its rows.
create table webhook_deliveries (
    id              uuid        primary key,
    webhook_id      uuid        not null references webhooks (id) on delete cascade,
    event_id        uuid        not null,
    event_type      text        not null,
    body            text        not null,
    created_at      timestamptz not null,
    status          text        not null default 'pending'
                                check (status in ('pending', 'delivered', 'failed')),
    attempts        integer     not null default 0,
    next_attempt_at timestamptz,
    last_attempt_at timestamptz,
    last_status     integer,
    last_error      text,
    delivered_at    timestamptz,
    unique (webhook_id, event_id)
);

-- What the workers claim: pending rows by due time.
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'pending';
-- A webhook's latest deliveries (GET /admin/webhooks/{id}/deliveries).
create index webhook_deliveries_by_webhook on webhook_deliveries (webhook_id, id);
