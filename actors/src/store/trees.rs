//! Tree names and their single owner. Each tree has exactly one writer;
//! the owner's storage trait is the only code that opens it.

/// Owned by the store itself: format marker.
pub const META: &str = "meta";
/// Owned by `KeyRotator`.
pub const KEYS: &str = "keys";
/// Owned by `Directory`.
pub const CLIENTS: &str = "clients";
/// Owned by `Directory`.
pub const USERS: &str = "users";
/// Owned by `Directory`.
pub const CONSENTS: &str = "consents";
/// Owned by `SessionRegistry`.
pub const SESSIONS: &str = "sessions";
/// Owned by `TokenIssuer`.
pub const TOKENS: &str = "tokens";
/// Owned by `RevocationList`.
pub const REVOKED: &str = "revoked";
/// Owned by `RevocationList`.
pub const REVOKED_SUBJECTS: &str = "revoked_subjects";
/// Owned by `TokenIssuer`.
pub const CODES: &str = "codes";
/// Owned by `TokenIssuer`.
pub const REFRESH: &str = "refresh";
/// Owned by `Directory`: entities (tenants) and their members.
pub const ENTITIES: &str = "entities";
/// Owned by `Directory`: entities' API keys, by id.
pub const API_KEYS: &str = "api_keys";
/// Owned by `TokenIssuer`: entity authentication tokens, by token key.
pub const ENTITY_TOKENS: &str = "entity_tokens";
/// Owned by `Mailer`: the outbound queue and its dead letters.
pub const MAIL: &str = "mail";
/// Owned by `Directory`: mailed one-time codes and links.
pub const ACCOUNT_CODES: &str = "account_codes";
/// Owned by `Directory`: initial access tokens for client registration,
/// by SHA-256 of the token.
pub const REGISTRATION_TOKENS: &str = "registration_tokens";
/// Owned by `Federation`: upstream subject → local user.
pub const FEDERATION_LINKS: &str = "federation_links";
/// Owned by `LogoutQueue`: back-channel logout deliveries and dead letters.
pub const LOGOUT_DELIVERIES: &str = "logout_deliveries";
/// Owned by `AuditLog`: what administrators did, by time-ordered key.
pub const AUDIT_LOG: &str = "audit_log";
