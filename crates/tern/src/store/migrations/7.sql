-- Schema 7: pushes that nothing could carry (no SMPP link bound, no bearer for the number) wait
-- in state 'waiting', out of the due queue, until a link binds or the relay starts again.
CREATE INDEX pushes_waiting ON pushes (id) WHERE state = 'waiting';
