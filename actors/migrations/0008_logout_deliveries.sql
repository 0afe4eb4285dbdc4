-- tessera's schema, version 8: back-channel logout deliveries.
--
-- The outbound queue of OIDC Back-Channel Logout tokens, shared by the
-- nodes of a cluster. `payload` holds the delivery record; the typed
-- columns are what SQL decides on:
--   client_id, seq  per-client order: a row is attempted only once every
--                   older row to the same client is delivered or dead;
--   dead            given up on, kept for an operator;
--   lease_until     the node attempting the row, until then (unix seconds).

CREATE TABLE logout_deliveries (
    id bytea PRIMARY KEY,
    client_id text NOT NULL,
    seq bigint NOT NULL,
    dead boolean NOT NULL DEFAULT false,
    lease_until bigint,
    payload bytea NOT NULL
);

CREATE INDEX logout_deliveries_order ON logout_deliveries (client_id, seq, id) WHERE NOT dead;
