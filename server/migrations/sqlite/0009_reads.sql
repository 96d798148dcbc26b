-- Read positions and mute, per membership period.

-- The newest message the member has read (0 for none). What they have not read is counted from it,
-- so counts never drift; a newcomer starts with everything before their arrival read.
ALTER TABLE chat_members ADD COLUMN read_through INTEGER NOT NULL DEFAULT 0;
UPDATE chat_members SET read_through = coalesce(
    (SELECT last_message_id FROM chats WHERE chats.id = chat_members.chat_id), 0);
-- A muted chat raises no notification, and its count stays out of the total.
ALTER TABLE chat_members ADD COLUMN muted INTEGER NOT NULL DEFAULT 0 CHECK (muted IN (0, 1));
