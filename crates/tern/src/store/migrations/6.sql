-- Schema 6: messages the protection stage holds back (quarantine) or keeps a copy of (archive).
CREATE TABLE held (
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
CREATE INDEX held_kind ON held (kind, id);
