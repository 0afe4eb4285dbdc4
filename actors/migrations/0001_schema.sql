-- tessera's schema, version 1.
--
-- One table per record kind, mirroring the embedded store's trees: `id`
-- holds the same key bytes the sled tree uses and `payload` the same
-- versioned record encoding, so `tessera store copy` moves records between
-- backends unchanged and compares them byte for byte. What SQL itself
-- queries or constrains is a typed column beside the payload:
--   expires_at  when the row may be deleted (the bounded expiry sweep),
--   done        the single-use state a conditional UPDATE decides
--               (an authorization code consumed, a refresh token used).

CREATE TABLE keys (
    id bytea PRIMARY KEY,
    expires_at bigint,
    done boolean NOT NULL DEFAULT false,
    payload bytea NOT NULL
);
CREATE TABLE clients (LIKE keys INCLUDING ALL);
CREATE TABLE users (LIKE keys INCLUDING ALL);
CREATE TABLE consents (LIKE keys INCLUDING ALL);
CREATE TABLE entities (LIKE keys INCLUDING ALL);
CREATE TABLE api_keys (LIKE keys INCLUDING ALL);
CREATE TABLE account_codes (LIKE keys INCLUDING ALL);
CREATE TABLE sessions (LIKE keys INCLUDING ALL);
CREATE TABLE access_tokens (LIKE keys INCLUDING ALL);
CREATE TABLE auth_codes (LIKE keys INCLUDING ALL);
CREATE TABLE refresh_tokens (LIKE keys INCLUDING ALL);
CREATE TABLE entity_tokens (LIKE keys INCLUDING ALL);
CREATE TABLE revoked (LIKE keys INCLUDING ALL);
CREATE TABLE revoked_subjects (LIKE keys INCLUDING ALL);
CREATE TABLE mail (LIKE keys INCLUDING ALL);
CREATE TABLE federation_links (LIKE keys INCLUDING ALL);

-- The expiry sweep finds what it deletes by this, in bounded batches.
CREATE INDEX account_codes_expiry ON account_codes (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX sessions_expiry ON sessions (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX auth_codes_expiry ON auth_codes (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX entity_tokens_expiry ON entity_tokens (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX revoked_expiry ON revoked (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX revoked_subjects_expiry ON revoked_subjects (expires_at) WHERE expires_at IS NOT NULL;
