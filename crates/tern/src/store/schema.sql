-- Tern's embedded store, as a new data directory gets it (schema 4; older ones are upgraded by
-- the files in migrations/). Times are Unix seconds (UTC).
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    live INTEGER NOT NULL DEFAULT 0,   -- messages whose body is in the segment and not yet freed
    sealed INTEGER NOT NULL DEFAULT 0  -- no longer appended to; deleted when live reaches 0
);

CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL,               -- canonical address of the originator
    date INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    deliver_after INTEGER NOT NULL,
    delivery_report INTEGER NOT NULL,
    read_report INTEGER NOT NULL,
    size INTEGER NOT NULL,
    notification BLOB NOT NULL,         -- encoded m-notification.ind fields shared by all recipients
    retrieve BLOB NOT NULL,             -- encoded m-retrieve.conf fields after the Transaction-ID
    segment INTEGER NOT NULL,           -- where the Content-Type field and body are
    body_offset INTEGER NOT NULL,
    body_length INTEGER NOT NULL,
    body_crc INTEGER,                   -- CRC-32 of the body; NULL for bodies stored before schema 4
    expired INTEGER NOT NULL DEFAULT 0  -- body freed
);
CREATE INDEX IF NOT EXISTS messages_expiry ON messages (expires_at) WHERE expired = 0;

CREATE TABLE IF NOT EXISTS recipients (
    id INTEGER PRIMARY KEY,
    message INTEGER NOT NULL REFERENCES messages (id),
    address TEXT NOT NULL,              -- canonical
    route TEXT NOT NULL,                -- local, remote-plmn, email, short-code
    token TEXT UNIQUE,                  -- retrieval token (local recipients)
    transaction_id TEXT UNIQUE,         -- of the notification and the retrieve-conf
    state TEXT NOT NULL,
    status_text TEXT,
    updated_at INTEGER NOT NULL,
    read_at INTEGER,                    -- when the recipient's read report was taken (one per recipient)
    acked_at INTEGER                    -- when the recipient confirmed its retrieval
);
CREATE INDEX IF NOT EXISTS recipients_message ON recipients (message);

-- Everything pushed to a handset: notifications (built when sent) and reports (stored PDUs).
CREATE TABLE IF NOT EXISTS pushes (
    id INTEGER PRIMARY KEY,
    recipient INTEGER REFERENCES recipients (id),
    msisdn TEXT NOT NULL,
    pdu BLOB,
    state TEXT NOT NULL,                -- pending, leased (being sent), done, failed, cancelled
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS pushes_due ON pushes (next_attempt_at) WHERE state IN ('pending', 'leased');
CREATE INDEX IF NOT EXISTS pushes_recipient ON pushes (recipient);

-- SMSC message ids of pushed SMS parts, and the final state their delivery receipts reported.
-- Ids are unique only within one SMSC, so the link (host:port) is part of the key.
CREATE TABLE IF NOT EXISTS receipts (
    link TEXT NOT NULL,
    smsc_id TEXT NOT NULL,
    push INTEGER REFERENCES pushes (id),  -- NULL while a receipt is faster than the submit's record
    state TEXT,
    at INTEGER,
    PRIMARY KEY (link, smsc_id)
);
