-- tessera's schema, version 4: single use of DPoP proofs across nodes.
--
-- dpop_proofs  one row per accepted proof, by the first 128 bits of
--              SHA-256 of (key thumbprint, jti), kept until the proof's
--              acceptance window has passed; the sweep removes it then.

CREATE TABLE dpop_proofs (
    id bytea PRIMARY KEY,
    expires_at bigint NOT NULL
);
