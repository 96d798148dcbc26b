-- Whether a member's read position is one they marked with `chat:read`. A newcomer starts with what
-- came before their arrival counted as read, so that it is not unread for them; that position is
-- not theirs to show to others as "Seen". Positions already moved past the arrival were marked.
ALTER TABLE chat_members ADD COLUMN read_marked INTEGER NOT NULL DEFAULT 0 CHECK (read_marked IN (0, 1));
UPDATE chat_members SET read_marked = 1
WHERE read_through > coalesce(
    (SELECT max(msg.id) FROM messages msg
     WHERE msg.chat_id = chat_members.chat_id AND msg.seq <= chat_members.joined_seq), 0);
