-- tessera's schema, version 2: the cluster's change feed and node liveness.
--
-- events  every committed change a node's in-memory views depend on, in
--         commit order. `seq` is taken while the writing transaction holds
--         the feed lock (an advisory lock released at commit), so a
--         transaction that took a higher seq committed after every lower
--         one that committed at all: a reader that sees seq N sees every
--         committed seq below it (gaps are rolled-back transactions, for
--         good). `origin` is the writing process (a node's incarnation),
--         which applied the change itself already. `payload` is NULL for
--         a deletion.
-- nodes   one row per node: the last event it applied and when it last
--         answered, in the database's clock.

CREATE TABLE events (
    seq bigint PRIMARY KEY,
    origin bigint NOT NULL,
    tbl text NOT NULL,
    id bytea NOT NULL,
    payload bytea,
    committed_at timestamptz NOT NULL DEFAULT now()
);
CREATE SEQUENCE events_seq AS bigint;

CREATE TABLE nodes (
    node_id text PRIMARY KEY,
    origin bigint NOT NULL,
    applied_seq bigint NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    started_at timestamptz NOT NULL,
    ready boolean NOT NULL DEFAULT false
);

-- How far events have been pruned: a node that applied less than this
-- cannot catch up from the table and must start over from a snapshot.
CREATE TABLE feed_horizon (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    pruned_through bigint NOT NULL
);
INSERT INTO feed_horizon (pruned_through) VALUES (0);
