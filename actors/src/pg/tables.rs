//! The tables: one per sled tree, with the same key bytes and the same
//! encoded records (see `migrations/0001_schema.sql`). What each table's
//! typed columns hold is derived from the record here, in one place, for
//! the owners' writes and for `store copy` alike.

use serde::Deserialize;

use crate::store::{self, trees};

/// Every table, named by the sled tree it mirrors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Keys,
    Clients,
    Users,
    Consents,
    Entities,
    ApiKeys,
    AccountCodes,
    Sessions,
    AccessTokens,
    AuthCodes,
    RefreshTokens,
    EntityTokens,
    Revoked,
    RevokedSubjects,
    Mail,
    FederationLinks,
    RegistrationTokens,
    AuditLog,
}

impl Table {
    pub const ALL: [Table; 18] = [
        Table::Keys,
        Table::Clients,
        Table::Users,
        Table::Consents,
        Table::Entities,
        Table::ApiKeys,
        Table::AccountCodes,
        Table::Sessions,
        Table::AccessTokens,
        Table::AuthCodes,
        Table::RefreshTokens,
        Table::EntityTokens,
        Table::Revoked,
        Table::RevokedSubjects,
        Table::Mail,
        Table::FederationLinks,
        Table::RegistrationTokens,
        Table::AuditLog,
    ];

    /// The SQL table name (a fixed identifier, never input).
    pub fn name(self) -> &'static str {
        match self {
            Table::Keys => "keys",
            Table::Clients => "clients",
            Table::Users => "users",
            Table::Consents => "consents",
            Table::Entities => "entities",
            Table::ApiKeys => "api_keys",
            Table::AccountCodes => "account_codes",
            Table::Sessions => "sessions",
            Table::AccessTokens => "access_tokens",
            Table::AuthCodes => "auth_codes",
            Table::RefreshTokens => "refresh_tokens",
            Table::EntityTokens => "entity_tokens",
            Table::Revoked => "revoked",
            Table::RevokedSubjects => "revoked_subjects",
            Table::Mail => "mail",
            Table::FederationLinks => "federation_links",
            Table::RegistrationTokens => "registration_tokens",
            Table::AuditLog => "audit_log",
        }
    }

    /// The sled tree holding the same records.
    pub fn tree(self) -> &'static str {
        match self {
            Table::Keys => trees::KEYS,
            Table::Clients => trees::CLIENTS,
            Table::Users => trees::USERS,
            Table::Consents => trees::CONSENTS,
            Table::Entities => trees::ENTITIES,
            Table::ApiKeys => trees::API_KEYS,
            Table::AccountCodes => trees::ACCOUNT_CODES,
            Table::Sessions => trees::SESSIONS,
            Table::AccessTokens => trees::TOKENS,
            Table::AuthCodes => trees::CODES,
            Table::RefreshTokens => trees::REFRESH,
            Table::EntityTokens => trees::ENTITY_TOKENS,
            Table::Revoked => trees::REVOKED,
            Table::RevokedSubjects => trees::REVOKED_SUBJECTS,
            Table::Mail => trees::MAIL,
            Table::FederationLinks => trees::FEDERATION_LINKS,
            Table::RegistrationTokens => trees::REGISTRATION_TOKENS,
            Table::AuditLog => trees::AUDIT_LOG,
        }
    }

    /// The table of that SQL name.
    pub fn named(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether some node keeps this table's rows in memory, so a change
    /// to one is an event on the cluster's feed. The mail queue is each
    /// node's own (claimed in SQL), and mailed codes are read from the
    /// database when used, and so are initial access tokens. The audit log
    /// is read from the table by every listing.
    pub fn fed(self) -> bool {
        !matches!(
            self,
            Table::Mail | Table::AccountCodes | Table::RegistrationTokens | Table::AuditLog
        )
    }

    /// Whether rows of this table expire (the sweep deletes them).
    pub fn expires(self) -> bool {
        matches!(
            self,
            Table::AccountCodes
                | Table::Sessions
                | Table::AccessTokens
                | Table::AuthCodes
                | Table::RefreshTokens
                | Table::EntityTokens
                | Table::Revoked
                | Table::RevokedSubjects
                | Table::RegistrationTokens
        )
    }

    /// The typed columns of a record: when it may be deleted, and whether
    /// its single use is spent. A record that cannot be read for them keeps
    /// no expiry (it is never swept) rather than failing the write.
    pub fn columns(self, id: &[u8], payload: &[u8]) -> Columns {
        let peek = || -> Option<Peek> {
            let (_, json) = payload.split_first()?;
            serde_json::from_slice(json).ok()
        };
        match self {
            Table::AccessTokens | Table::AuthCodes | Table::RefreshTokens => {
                let p = peek().unwrap_or_default();
                Columns {
                    expires_at: p.exp,
                    done: p.consumed.or(p.used).unwrap_or(false),
                }
            }
            Table::EntityTokens | Table::RegistrationTokens => {
                Columns::expiring(peek().and_then(|p| p.expires_at))
            }
            // Only the records expire; a link's index entry (`t/…`) goes
            // with its record.
            Table::AccountCodes if id.starts_with(b"u/") => {
                Columns::expiring(peek().and_then(|p| p.expires_at))
            }
            // The absolute end: the idle expiry moves with use.
            Table::Sessions => Columns::expiring(peek().and_then(|p| p.absolute_expires_at)),
            Table::Revoked => Columns::expiring(store::decode::<i64>(payload).ok()),
            Table::RevokedSubjects => Columns::expiring(
                store::decode::<(i64, i64)>(payload)
                    .ok()
                    .map(|(_, until)| until),
            ),
            _ => Columns::default(),
        }
    }
}

/// A row's typed columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Columns {
    pub expires_at: Option<i64>,
    pub done: bool,
}

impl Columns {
    fn expiring(expires_at: Option<i64>) -> Columns {
        Columns {
            expires_at,
            done: false,
        }
    }
}

/// The fields a typed column is derived from; the rest of the record is
/// skipped unread.
#[derive(Deserialize, Default)]
struct Peek {
    exp: Option<i64>,
    expires_at: Option<i64>,
    absolute_expires_at: Option<i64>,
    consumed: Option<bool>,
    used: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_come_from_the_record() {
        let code = store::encode(&serde_json::json!({"exp": 61, "consumed": true})).unwrap();
        assert_eq!(
            Table::AuthCodes.columns(b"k", &code),
            Columns {
                expires_at: Some(61),
                done: true
            }
        );
        let until = store::encode(&99i64).unwrap();
        assert_eq!(Table::Revoked.columns(b"k", &until).expires_at, Some(99));
        let cut = store::encode(&(5i64, 77i64)).unwrap();
        assert_eq!(
            Table::RevokedSubjects.columns(b"s", &cut).expires_at,
            Some(77)
        );
        let rec = store::encode(&serde_json::json!({"expires_at": 12})).unwrap();
        assert_eq!(
            Table::AccountCodes.columns(b"u/x", &rec).expires_at,
            Some(12)
        );
        assert_eq!(Table::AccountCodes.columns(b"t/x", &rec).expires_at, None);
        assert_eq!(Table::Users.columns(b"u", &rec), Columns::default());
        assert_eq!(
            Table::AccessTokens.columns(b"k", b"garbage"),
            Columns::default()
        );
        assert_eq!(Table::ALL.len(), 18);
    }
}
