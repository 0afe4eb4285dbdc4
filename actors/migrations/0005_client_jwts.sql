-- tessera's schema, version 5: single use of client assertions and
-- request objects, and pushed authorization requests, across nodes.
--
-- used_jtis  one row per accepted client assertion (RFC 7523) or request
--            object (RFC 9101), by the first 128 bits of SHA-256 of
--            (kind, client id, jti), kept until the JWT expires; the sweep
--            removes it then.

CREATE TABLE used_jtis (
    id bytea PRIMARY KEY,
    expires_at bigint NOT NULL
);

-- pushed_requests  authorization requests pushed by clients (RFC 9126) or
--                  sent as request objects (RFC 9101), shared by the nodes
--                  of a cluster: by SHA-256 of the request_uri's secret
--                  part, the client, the parameters, and, once a browser
--                  has taken the request, the hash of that browser's
--                  binding cookie. Gone when used, or swept at expiry.

CREATE TABLE pushed_requests (
    id bytea PRIMARY KEY,
    expires_at bigint NOT NULL,
    binding bytea,
    payload bytea NOT NULL
);
