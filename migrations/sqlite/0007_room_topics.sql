-- Room topics (see ../0010_room_topics.sql).
alter table rooms add column topic text;
