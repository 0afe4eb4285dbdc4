-- tessera's schema, version 6: dynamic client registration (RFC 7591).
--
-- registration_tokens  initial access tokens an administrator issued for
--                      client registration, by SHA-256 of the token, with
--                      the uses they have left; read from the database
--                      when used (never held in memory), swept at expiry.

CREATE TABLE registration_tokens (LIKE keys INCLUDING ALL);
CREATE INDEX registration_tokens_expiry ON registration_tokens (expires_at)
    WHERE expires_at IS NOT NULL;
