-- A message is identified by its room and seq, the stream's own key for it, and only that key is
-- unique.
--
-- The unique (room_id, client_msg_id) key could lose an acknowledged message: a send repeated
-- after the stream's duplicate window, while the persister is behind (an outage longer than the
-- window), finds its client id neither in the window nor here yet, so the stream stores it again
-- under a new seq. The persister then skipped that second message for its taken client id. Now
-- both are stored, and a client-id lookup answers with the first.
--
-- The unique index on id goes too: ids are UUIDv7 made by the node for each append, nothing
-- reads a message by id, and each unique index costs every stored row a search (a sixth of a
-- `COPY` of message rows, measured).
alter table messages drop constraint messages_pkey;
alter table messages drop constraint messages_room_seq_key;
alter table messages add constraint messages_pkey primary key (room_id, seq);
alter table messages drop constraint messages_room_client_msg_id_key;
create index messages_room_client_msg_id_idx on messages (room_id, client_msg_id);
