-- Whether a member's read position is one they marked with `chat:read`. A newcomer starts with what
-- came before their arrival counted as read, so that none of it is unread for them; that position
-- is not theirs to show to others as "Seen". A current member's position is marked if they sent a
-- read during this membership period (a `chat_read@1` event after their `joined_seq`); positions of
-- periods that ended are never shown.
ALTER TABLE chat_members ADD COLUMN read_marked INTEGER NOT NULL DEFAULT 0 CHECK (read_marked IN (0, 1));
UPDATE chat_members SET read_marked = 1
    FROM (SELECT chat_id, json_extract(fact, '$.user_id') AS user_id, max(seq) AS seq FROM events
          WHERE chat_id IS NOT NULL AND json_extract(fact, '$.fact') = 'chat_read@1'
          GROUP BY chat_id, json_extract(fact, '$.user_id')) AS reads
    WHERE reads.chat_id = chat_members.chat_id AND reads.user_id = chat_members.user_id
      AND chat_members.left_seq IS NULL AND reads.seq > chat_members.joined_seq;
