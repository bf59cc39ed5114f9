-- A room may say what it is about under its name. Null until someone sets one, so adding the
-- column rewrites nothing.
alter table rooms add column topic text;
