-- Uploaded files. The bytes live in the media store (`--media-store`) under `media/<id>`; this row
-- says what they are, whose, and how many, so that downloads are answered and quotas kept from here.
CREATE TABLE media (
    -- 128 random bits in hex: unguessable, and the object's name in the store.
    id         TEXT    PRIMARY KEY,
    owner_id   BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Decided from the bytes, never from the name or the type the client claimed.
    kind       TEXT    NOT NULL CHECK (kind IN ('image', 'audio', 'video', 'file')),
    mime       TEXT    NOT NULL,
    size       BIGINT  NOT NULL CHECK (size >= 0),
    -- The name it was uploaded with, made safe to show; never part of a storage key.
    name       TEXT    NOT NULL,
    -- The message it is attached to: until then (at most a day) the upload is the owner's alone.
    message_id BIGINT  REFERENCES messages (id),
    created_at BIGINT  NOT NULL
);
CREATE INDEX media_owner ON media (owner_id);
CREATE INDEX media_unattached ON media (created_at) WHERE message_id IS NULL;
-- Bytes the user's files take in all, against their quota; kept with each upload and deletion.
ALTER TABLE users ADD COLUMN media_bytes BIGINT NOT NULL DEFAULT 0;
