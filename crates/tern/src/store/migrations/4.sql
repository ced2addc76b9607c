-- Schema 4: body checksums, one read report per recipient, and when a retrieval was acknowledged.
ALTER TABLE messages ADD COLUMN body_crc INTEGER;     -- CRC-32 of the body; NULL for older bodies
ALTER TABLE recipients ADD COLUMN read_at INTEGER;    -- when the recipient's read report was taken
ALTER TABLE recipients ADD COLUMN acked_at INTEGER;   -- when the recipient confirmed its retrieval
