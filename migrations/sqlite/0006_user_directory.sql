-- The user directory (see ../0009_user_directory.sql). SQLite compares text byte by byte
-- already, so `users_username_lower_key` serves usernames; display names get their own index.
-- SQLite's `lower()` folds ASCII letters only, so display names compare case-insensitively
-- for those alone.
create index users_display_name_lower_idx on users (lower(display_name));
