-- Room topics (see ../0009_room_topics.sql).
alter table rooms add column topic text;
