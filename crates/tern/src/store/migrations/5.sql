-- Schema 5: the neutral envelope replaces the stored MM1 fields (converted row by row by the
-- store before the old columns go), neutral reports in the push queue, and the outbound queue.
ALTER TABLE messages ADD COLUMN envelope TEXT;
ALTER TABLE messages ADD COLUMN body_format TEXT NOT NULL DEFAULT 'wsp';
ALTER TABLE pushes ADD COLUMN report TEXT;
