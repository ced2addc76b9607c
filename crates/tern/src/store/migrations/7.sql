-- Schema 7: pushes that nothing could carry (no SMPP link bound, no connection to the push proxy
-- gateway, no bearer for the number) wait in state 'waiting', out of the due queue, until a link
-- binds, the gateway answers again or the relay starts again.
CREATE INDEX pushes_waiting ON pushes (id) WHERE state = 'waiting';
