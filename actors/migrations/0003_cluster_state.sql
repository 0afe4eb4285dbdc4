-- tessera's schema, version 3: state a cluster's nodes share that no node
-- keeps a view of and that `store copy` does not move (it is short-lived).
--
-- federation_states  upstream logins in flight, by SHA-256 of their
--                    `state`: the callback may reach any node, and a
--                    `state` is taken once (DELETE … RETURNING).
-- login_failures     failure counts and locks of the login limits, by key
--                    (an account, an IP, a TOTP user): every node counts
--                    the same attempts. Changes ride the change feed.

CREATE TABLE federation_states (
    id bytea PRIMARY KEY,
    expires_at bigint NOT NULL,
    payload bytea NOT NULL
);

CREATE TABLE login_failures (
    key text PRIMARY KEY,
    failures integer NOT NULL,
    window_start bigint NOT NULL,
    locked_until bigint NOT NULL
);
