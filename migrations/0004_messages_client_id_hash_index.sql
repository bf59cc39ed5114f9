-- Client-id lookups are the only reader of the (room_id, client_msg_id) index, and only ever ask
-- for equality. As a b-tree it put every stored row at a random place in a large tree: a `COPY`
-- of 200,000 message rows ran at 140k rows/s with it and 180k with this hash index (medians,
-- bench/RESULTS.md), which is also a third of its size. A hash index has one key column, so
-- the key is one expression: the room's UUID as text (always 36 characters, so the two parts
-- cannot run into each other) and then the client id. Rows without a client id are not indexed.
--
-- The new index is built before the old one goes, so lookups keep an index throughout; writes
-- wait for the build, and meanwhile the messages wait in the stream.
create index messages_room_client_id_hash_idx on messages using hash ((room_id::text || client_msg_id));
drop index messages_room_client_msg_id_idx;
