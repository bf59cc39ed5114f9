-- An administrator deletes a user's messages in bulk (POST /admin/users/{id}/messages/delete),
-- walking the ones not deleted yet room by room in seq order.
create index messages_sender_idx on messages (sender_id, room_id, seq) where deleted_at is null;
