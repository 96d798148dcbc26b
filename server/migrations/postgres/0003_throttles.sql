-- Login and registration attempts per key (an account, a device, an address), counted in fixed
-- windows in the database, so the limits hold for every node of a cluster together.
CREATE TABLE throttle_windows (
    key        TEXT   PRIMARY KEY,
    -- When the window closes; a later attempt opens a new one.
    expires_at BIGINT NOT NULL,
    attempts   BIGINT NOT NULL
);
CREATE INDEX throttle_windows_expiry ON throttle_windows (expires_at);
