-- One event log in place of a copy of each event per member (docs/architecture.md, "The event log").
-- Chats gain group kinds and their own event count; memberships become periods, so a member sees a
-- chat's events from when they joined until they left.

-- The seq of the chat's newest event.
ALTER TABLE chats ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;

-- Groups join direct chats. SQLite cannot alter a CHECK constraint, and rebuilding the chats table
-- would cascade its drop into messages (foreign keys cannot be switched off inside a migration's
-- transaction). So the constraint's text is widened in place, the procedure SQLite documents for
-- loosening a CHECK (https://sqlite.org/lang_altertable.html, section 7): every row already keeps
-- the wider rule and nothing on disk changes. A connection opened before this still holds the old
-- text (and this one until it reconnects, so nothing after this line touches the chats table's
-- definition): Db::open migrates on a connection of its own.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
    SET sql = replace(sql, 'CHECK (kind IN (''direct''))', 'CHECK (kind IN (''direct'', ''group''))')
    WHERE type = 'table' AND name = 'chats';
PRAGMA writable_schema = OFF;

-- Nothing references memberships, so they are simply rebuilt.
CREATE TABLE chat_members_rebuilt (
    chat_id    INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at  INTEGER NOT NULL,
    -- The member sees the chat's events with joined_seq < seq, and seq <= left_seq once they left.
    joined_seq INTEGER NOT NULL,
    left_seq   INTEGER,
    PRIMARY KEY (chat_id, user_id, joined_seq)
);
INSERT INTO chat_members_rebuilt (chat_id, user_id, joined_at, joined_seq)
    SELECT chat_id, user_id, joined_at, 0 FROM chat_members;
DROP TABLE chat_members;
ALTER TABLE chat_members_rebuilt RENAME TO chat_members;
CREATE UNIQUE INDEX chat_members_current ON chat_members (chat_id, user_id) WHERE left_seq IS NULL;
CREATE INDEX chat_members_user ON chat_members (user_id);

-- The per-member copies go; the log starts afresh under a new epoch, so old positions resync.
DROP TABLE stream_events;
-- users.last_seq now counts the user's own events.
UPDATE users SET last_seq = 0;

CREATE TABLE log_head (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    -- The newest position. Writers take it last, just before they commit, so positions are given
    -- out in commit order and without gaps.
    pos            INTEGER NOT NULL,
    -- Events at or below this position have been pruned.
    pruned_through INTEGER NOT NULL,
    -- Names this log, so positions from another database are refused.
    epoch          TEXT    NOT NULL
);

CREATE TABLE events (
    pos        INTEGER PRIMARY KEY,
    -- Either a chat's event, with its count in that chat...
    chat_id    INTEGER REFERENCES chats (id) ON DELETE CASCADE,
    -- ...or one user's own, with its count among theirs.
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    -- What happened, as a versioned JSON fact (server/src/db/log.rs): never a wire frame.
    fact       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    CHECK ((chat_id IS NULL) <> (user_id IS NULL))
);
CREATE UNIQUE INDEX events_chat ON events (chat_id, pos) WHERE chat_id IS NOT NULL;
CREATE UNIQUE INDEX events_user ON events (user_id, pos) WHERE user_id IS NOT NULL;
