-- A password change revokes every other login of its user: it finds their refresh tokens by
-- user, which without this index would read the whole table.
create index refresh_tokens_user_idx on refresh_tokens (user_id);
