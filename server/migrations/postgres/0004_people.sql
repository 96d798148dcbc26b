-- Relations between people. One row per direction, each saying where its owner stands with the
-- other: a friendship and its requests appear on both rows, a block only on the blocker's. Both rows
-- are written in one transaction, under both users' row locks taken in id order. No row means no
-- relation.
CREATE TABLE contacts (
    user_id  BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    other_id BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    relation TEXT    NOT NULL
             CHECK (relation IN ('friend', 'request_sent', 'request_received', 'blocked')),
    -- When the relation last changed.
    since    BIGINT  NOT NULL,
    PRIMARY KEY (user_id, other_id),
    CHECK (user_id <> other_id)
);
-- Whether someone blocked a given person is asked from the other side.
CREATE INDEX contacts_other ON contacts (other_id, user_id);

-- Who may open a direct chat and message them, and who may send them friend requests.
ALTER TABLE users ADD COLUMN direct_messages TEXT NOT NULL DEFAULT 'everyone'
    CHECK (direct_messages IN ('everyone', 'friends'));
ALTER TABLE users ADD COLUMN friend_requests TEXT NOT NULL DEFAULT 'everyone'
    CHECK (friend_requests IN ('everyone', 'nobody'));

-- Presence as each person sets it, kept across connections: a mode, a custom status text, who may
-- see them, and when they were last seen (their last connection ended, or they went invisible).
ALTER TABLE users ADD COLUMN presence_mode TEXT NOT NULL DEFAULT 'online'
    CHECK (presence_mode IN ('online', 'away', 'busy', 'invisible'));
ALTER TABLE users ADD COLUMN status_text TEXT;
ALTER TABLE users ADD COLUMN presence_visibility TEXT NOT NULL DEFAULT 'friends'
    CHECK (presence_visibility IN ('everyone', 'friends', 'nobody'));
ALTER TABLE users ADD COLUMN last_seen_at BIGINT;

-- The directory's order and its prefix search: the username in lower case, compared byte by byte
-- (the "C" collation), as SQLite compares it, whatever the database's own collation.
ALTER TABLE users ADD COLUMN search_key TEXT COLLATE "C";
UPDATE users SET search_key = lower(username COLLATE "C");
ALTER TABLE users ALTER COLUMN search_key SET NOT NULL;
CREATE UNIQUE INDEX users_search_key ON users (search_key);

-- People waiting to be told when someone comes online: one notice, then the row is gone.
CREATE TABLE waits (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subject_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    since      BIGINT NOT NULL,
    PRIMARY KEY (user_id, subject_id)
);
CREATE INDEX waits_subject ON waits (subject_id);
