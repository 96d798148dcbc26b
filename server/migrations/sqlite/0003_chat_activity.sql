-- Chat lists are paged by activity, newest first, and show a preview of the newest message. Both are
-- kept on the chat row, updated with each message, so a page reads chat rows only, however long the
-- chats' histories are.
ALTER TABLE chats ADD COLUMN active_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chats ADD COLUMN last_message_id INTEGER REFERENCES messages (id);
UPDATE chats SET
    last_message_id = (SELECT max(m.id) FROM messages m WHERE m.chat_id = chats.id),
    active_at = coalesce((SELECT max(m.sent_at) FROM messages m WHERE m.chat_id = chats.id), created_at);
CREATE INDEX chats_activity ON chats (active_at, id);
