-- Natter's first schema. Kept to portable SQL where it costs nothing, so PostgreSQL can follow.
-- Times are UTC milliseconds since the Unix epoch.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    -- The newest position of this user's event stream (see stream_events).
    last_seq      INTEGER NOT NULL DEFAULT 0
);
-- "Alice" and "alice" are the same person.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- SHA-256 of the token, hex; the token itself is never stored.
    token_hash TEXT    NOT NULL UNIQUE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE chats (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL CHECK (kind IN ('direct')),
    -- "<lower user id>:<higher user id>" for direct chats: one chat per pair. NULL for other kinds.
    direct_key TEXT    UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE chat_members (
    chat_id   INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id)
);
CREATE INDEX chat_members_user ON chat_members (user_id);

CREATE TABLE messages (
    -- AUTOINCREMENT: ids are never reused, so they order history and page it.
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id   INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    sender_id INTEGER NOT NULL REFERENCES users (id),
    -- The sender's idempotency key: a retried send finds its original here.
    nonce     TEXT    NOT NULL,
    body      TEXT    NOT NULL,
    sent_at   INTEGER NOT NULL,
    UNIQUE (sender_id, nonce)
);
CREATE INDEX messages_chat ON messages (chat_id, id);

-- Each user's stream of state changes, written in the same transaction as the change itself, so a
-- client that reconnects replays exactly what it missed (and nothing from chats it has left).
CREATE TABLE stream_events (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    -- The event as pushed, JSON.
    event      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
);
