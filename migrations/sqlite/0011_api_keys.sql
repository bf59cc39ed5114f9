-- See ../0014_api_keys.sql.
create table api_keys (
    id          blob primary key,
    name        text not null,
    scopes      text not null,
    secret_hash blob not null unique,
    created_at  text not null,
    created_by  blob,
    revoked_at  text
);
