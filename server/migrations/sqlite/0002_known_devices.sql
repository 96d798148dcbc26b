-- Browsers that have logged in to an account: they keep their own login budget, so strangers who
-- exhaust the account's budget for unknown devices cannot lock its owner out.
CREATE TABLE known_devices (
    -- SHA-256 of the device cookie's token, hex.
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE INDEX known_devices_user ON known_devices (user_id);
