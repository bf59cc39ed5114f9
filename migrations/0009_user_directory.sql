-- The user directory finds users whose username or display name starts with what was typed,
-- compared lower-cased, and pages through them by lower-cased username. Both columns get an
-- index of their lower-cased value under the "C" collation (byte order): there a prefix is a
-- range (`>= p and < p || U+10FFFF`) that the index serves however the query is planned (a
-- LIKE on a parameter is not), pages are cut by plain comparison, and the order does not
-- depend on the database's locale. `lower()` itself still follows the database's LC_CTYPE,
-- so display names compare Unicode-aware under a UTF-8 locale.
create index users_username_lower_c_idx on users ((lower(username)) collate "C");
create index users_display_name_lower_c_idx on users ((lower(display_name)) collate "C");
