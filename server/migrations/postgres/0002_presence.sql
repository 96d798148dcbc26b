-- Presence for a cluster: who is connected to which node, and which nodes are alive. A node renews
-- its lease while it runs; one whose lease ran out died without a goodbye, and its users go offline.
CREATE TABLE nodes (
    id         TEXT   PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

-- A user is online while a live node holds a row for them.
CREATE TABLE presence (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    node_id TEXT   NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, node_id)
);
CREATE INDEX presence_node ON presence (node_id);

-- Counts the user's presence changes, so nodes apply announcements in the order they were made.
ALTER TABLE users ADD COLUMN presence_version BIGINT NOT NULL DEFAULT 0;
