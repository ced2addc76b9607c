-- Schema 5, once every message has its envelope: the MM1 fields it was made from go.
ALTER TABLE messages DROP COLUMN notification;
ALTER TABLE messages DROP COLUMN retrieve;
ALTER TABLE messages DROP COLUMN delivery_report;
ALTER TABLE messages DROP COLUMN read_report;
