-- Groups: a title, public (listed and joinable) or private, roles, bans, and system lines.

ALTER TABLE chats ADD COLUMN title TEXT;
-- The title in lower case (Unicode's rules, applied by the server), which the room directory searches.
ALTER TABLE chats ADD COLUMN title_key TEXT;
ALTER TABLE chats ADD COLUMN public INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1));
-- Set when the owner deleted the group, or its last member left: it is gone for everyone.
ALTER TABLE chats ADD COLUMN deleted_at BIGINT;
-- The room directory pages public groups by id.
CREATE INDEX chats_public ON chats (id) WHERE public = 1 AND deleted_at IS NULL;

ALTER TABLE chat_members ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
    CHECK (role IN ('owner', 'admin', 'member'));

-- People an admin removed with a ban: they may not join the public group again until unbanned or
-- added.
CREATE TABLE chat_bans (
    chat_id BIGINT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    since   BIGINT NOT NULL,
    PRIMARY KEY (chat_id, user_id)
);

-- The seq of the event that sent the message, in its chat's stream: who may read it follows from
-- the membership periods, as for every other chat event. Messages from before the event log have
-- none (0); only founding members (joined_seq 0) were there to see them.
ALTER TABLE messages ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE messages SET seq = sent.seq
    FROM (SELECT (fact::jsonb ->> 'message_id')::bigint AS message_id, seq FROM events
          WHERE chat_id IS NOT NULL AND fact::jsonb ->> 'fact' = 'message_sent@1') AS sent
    WHERE sent.message_id = messages.id;
-- A system line's change to its group (a GroupChange, as JSON); NULL for what people wrote.
ALTER TABLE messages ADD COLUMN system TEXT;
-- Set when the message was deleted; its text is erased then.
ALTER TABLE messages ADD COLUMN deleted_at BIGINT;
-- The seq of the deletion's event in the chat's stream: what unread counts as of an earlier event
-- still count it.
ALTER TABLE messages ADD COLUMN deleted_seq BIGINT;

-- When the sender last edited the message.
ALTER TABLE messages ADD COLUMN edited_at BIGINT;
-- The texts a message had before its edits; deleted with the message's text.
CREATE TABLE message_versions (
    message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    -- 1 for the text it was sent with, 2 for the first edit's, …
    version    BIGINT NOT NULL,
    body       TEXT    NOT NULL,
    -- When it was sent with this text, or edited to it.
    since      BIGINT NOT NULL,
    PRIMARY KEY (message_id, version)
);

-- For an event about an earlier message (an edit, a deletion): that message's seq. A member who
-- joined after it never saw it, so they do not hear of its edits either.
ALTER TABLE events ADD COLUMN about_seq BIGINT;
