-- Tern's embedded store, as a new data directory gets it (schema 6; older ones are upgraded by
-- the steps in migrations/). Times are Unix seconds (UTC).
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    live INTEGER NOT NULL DEFAULT 0,   -- messages and held messages whose body is in the segment and not yet freed
    sealed INTEGER NOT NULL DEFAULT 0  -- no longer appended to; deleted when live reaches 0
);

CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL,               -- canonical address of the originator
    date INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    deliver_after INTEGER NOT NULL,
    envelope TEXT NOT NULL,             -- the neutral envelope (JSON): addresses, subject, flags, origin
    body_format TEXT NOT NULL,          -- how the body is written: wsp (as MM1 sends it) or mime
    size INTEGER NOT NULL,              -- octets of the body
    segment INTEGER NOT NULL,           -- where the body is, exactly as received
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
    route TEXT NOT NULL,                -- where it goes: local, mm4:<peer>, mm3, reject, no-route
    token TEXT UNIQUE,                  -- retrieval token (local recipients)
    transaction_id TEXT UNIQUE,         -- of the notification and the retrieve-conf
    state TEXT NOT NULL,
    status_text TEXT,
    updated_at INTEGER NOT NULL,
    read_at INTEGER,                    -- when the recipient's read report was taken (one per recipient)
    acked_at INTEGER                    -- when the recipient confirmed its retrieval
);
CREATE INDEX IF NOT EXISTS recipients_message ON recipients (message);

-- Everything pushed to a handset: notifications (built when sent), reports (neutral, written as
-- PDUs when sent) and, from older releases, reports stored as PDUs.
CREATE TABLE IF NOT EXISTS pushes (
    id INTEGER PRIMARY KEY,
    recipient INTEGER REFERENCES recipients (id),
    msisdn TEXT NOT NULL,
    pdu BLOB,
    report TEXT,                        -- a report (JSON) for the handset
    state TEXT NOT NULL,                -- pending, leased (being sent), waiting (for a bearer), done,
                                        -- failed, cancelled
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS pushes_due ON pushes (next_attempt_at) WHERE state IN ('pending', 'leased');
CREATE INDEX IF NOT EXISTS pushes_recipient ON pushes (recipient);
CREATE INDEX IF NOT EXISTS pushes_waiting ON pushes (id) WHERE state = 'waiting';

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

-- What leaves over another interface: forwards of a message to the recipients behind one
-- destination, reports, and answers owed to peers.
CREATE TABLE IF NOT EXISTS outbound (
    id INTEGER PRIMARY KEY,
    message INTEGER REFERENCES messages (id),  -- a forward's message
    destination TEXT NOT NULL,          -- mm4:<peer> or mm3
    kind TEXT NOT NULL,                 -- forward, report, answer
    recipients TEXT,                    -- a forward's recipient ids (JSON array)
    payload TEXT,                       -- a report or an answer (JSON)
    state TEXT NOT NULL,                -- pending, leased, sent, failed, expired, cancelled
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbound_due ON outbound (next_attempt_at) WHERE state IN ('pending', 'leased');
CREATE INDEX IF NOT EXISTS outbound_message ON outbound (message);

-- Messages the protection stage holds back (quarantine) or keeps a copy of (archive); invisible
-- to delivery.
CREATE TABLE IF NOT EXISTS held (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,                 -- quarantine (waits to be released or deleted) or archive
    message_id TEXT NOT NULL,           -- not unique: a message can be delivered and archived
    sender TEXT NOT NULL,               -- canonical address of the originator
    envelope TEXT NOT NULL,             -- the neutral envelope (JSON), as in messages
    recipients TEXT NOT NULL,           -- the routed recipients a release stores (JSON array)
    interface TEXT NOT NULL,            -- why: the interface it came in on,
    profile TEXT NOT NULL,              -- the protection profile,
    check_name TEXT NOT NULL,           -- the check that matched,
    detail TEXT NOT NULL,               -- and what it found
    held_at INTEGER NOT NULL,
    body_format TEXT NOT NULL,          -- wsp or mime
    size INTEGER NOT NULL,              -- octets of the body
    segment INTEGER NOT NULL,           -- where the body is; counted live in its segment
    body_offset INTEGER NOT NULL,
    body_length INTEGER NOT NULL,
    body_crc INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS held_kind ON held (kind, id);
