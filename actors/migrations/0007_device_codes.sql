-- tessera's schema, version 7: the device authorization grant (RFC 8628).
--
-- device_codes  device authorization grants in flight, by SHA-256 of the
--               device code; user_code is a SHA-256 of the normalized
--               user code (neither code is stored). status: 0 pending,
--               1 approved (approval holds who and how), 2 denied, 3 the
--               tokens were handed out. last_poll and poll_interval pace
--               the device's polling (slow_down). Each change is one
--               conditional UPDATE; the sweep removes a row once expired.

CREATE TABLE device_codes (
    id bytea PRIMARY KEY,
    user_code bytea NOT NULL UNIQUE,
    client_id text NOT NULL,
    expires_at bigint NOT NULL,
    status smallint NOT NULL DEFAULT 0,
    last_poll bigint,
    poll_interval bigint NOT NULL,
    payload bytea NOT NULL,
    approval bytea
);

CREATE INDEX device_codes_expires_at ON device_codes (expires_at);
