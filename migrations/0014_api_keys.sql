-- API keys of application backends (POST /admin/api-keys). Only the SHA-256 of a key's secret
-- is kept, and calls find their key by it. scopes: space-separated, e.g. 'messages:publish'.
create table api_keys (
    id          uuid        primary key,
    name        text        not null,
    scopes      text        not null,
    secret_hash bytea       not null unique,
    created_at  timestamptz not null,
    created_by  uuid,
    revoked_at  timestamptz
);
