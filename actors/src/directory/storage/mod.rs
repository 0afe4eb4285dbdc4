//! Where `Directory` keeps its records: clients, users, consents, entities,
//! API keys and mailed one-time codes.
//!
//! A message's writes form one unit: they are staged with the `put`/`delete`
//! calls, then either made durable together ([`DirectoryStore::commit`]) or
//! taken back ([`DirectoryStore::rollback`]). A unit whose commit fails is
//! taken back too, so nothing unacknowledged lingers for a later reload to
//! publish. Where single use matters (a code redeemed once, a TOTP step
//! used once, an id taken once) the write is conditional and answers
//! whether it won, so that several writers racing get exactly one winner.

use crate::domain::Scope;
use crate::secret::SecretHash;
use crate::store::{self, trees, Store, StoreError};
use crate::stores::Durable;

use super::codes::{CodePurpose, CodeRecord};
use super::registration::InitialToken;
use super::{ApiKey, Client, Entity, User};

/// Everything the directory's views are built from.
#[derive(Debug, Default)]
pub struct DirectoryState {
    pub clients: Vec<Client>,
    pub users: Vec<User>,
    /// (user, client, the scope consented to).
    pub consents: Vec<(uuid::Uuid, String, Scope)>,
    pub entities: Vec<Entity>,
    pub api_keys: Vec<ApiKey>,
}

/// Persistence of the directory: the only writer is `Directory`.
pub trait DirectoryStore: Send + 'static {
    fn load_all(&self) -> Result<DirectoryState, StoreError>;

    /// Insert a client unless its id is taken; answers whether it won.
    fn create_client(&mut self, c: &Client) -> Result<bool, StoreError>;
    fn put_client(&mut self, c: &Client) -> Result<(), StoreError>;
    /// Answers whether there was one.
    fn delete_client(&mut self, id: &str) -> Result<bool, StoreError>;

    fn put_user(&mut self, u: &User) -> Result<(), StoreError>;
    /// Write `new` only if the stored record is still `expected`; answers
    /// whether it won (a TOTP step is used once this way).
    fn replace_user(&mut self, expected: &User, new: &User) -> Result<bool, StoreError>;
    /// Answers whether there was one.
    fn delete_user(&mut self, id: &uuid::Uuid) -> Result<bool, StoreError>;

    fn consent(&self, user: &uuid::Uuid, client: &str) -> Result<Option<Scope>, StoreError>;
    fn put_consent(
        &mut self,
        user: &uuid::Uuid,
        client: &str,
        scope: &Scope,
    ) -> Result<(), StoreError>;

    fn put_entity(&mut self, e: &Entity) -> Result<(), StoreError>;
    /// Answers whether there was one.
    fn delete_entity(&mut self, id: &uuid::Uuid) -> Result<bool, StoreError>;
    fn put_api_key(&mut self, k: &ApiKey) -> Result<(), StoreError>;
    fn delete_api_key(&mut self, id: &uuid::Uuid) -> Result<bool, StoreError>;
    /// Record an API key's last use outside any unit: not awaited, never
    /// taken back (a lost last-used time is harmless).
    fn touch_api_key(&mut self, k: &ApiKey) -> Result<(), StoreError>;

    /// The live code of `purpose` for `user`.
    fn code(
        &self,
        purpose: CodePurpose,
        user: &uuid::Uuid,
    ) -> Result<Option<CodeRecord>, StoreError>;
    /// The code a link token's SHA-256 names.
    fn code_by_link(&self, hash: &SecretHash) -> Result<Option<CodeRecord>, StoreError>;
    /// Store a new code (the user's previous one of that purpose is gone).
    fn put_code(&mut self, rec: &CodeRecord) -> Result<(), StoreError>;
    /// Replace the code with `new`, or delete it (`None`), only if the
    /// stored one is still `expected`; answers whether it won.
    fn replace_code(
        &mut self,
        expected: &CodeRecord,
        new: Option<&CodeRecord>,
    ) -> Result<bool, StoreError>;

    /// The initial access token of this SHA-256.
    fn initial_token(&self, hash: &SecretHash) -> Result<Option<InitialToken>, StoreError>;
    fn initial_tokens(&self) -> Result<Vec<InitialToken>, StoreError>;
    fn put_initial_token(&mut self, t: &InitialToken) -> Result<(), StoreError>;
    /// Replace the token with `new`, or delete it (`None`), only if the
    /// stored one is still `expected`; answers whether it won.
    fn replace_initial_token(
        &mut self,
        expected: &InitialToken,
        new: Option<&InitialToken>,
    ) -> Result<bool, StoreError>;

    /// Make the staged writes durable; if that fails they are taken back.
    fn commit(&mut self) -> Durable;
    /// Take back the staged writes (the message failed before its commit).
    fn rollback(&mut self);
}

/// sled: one tree per record kind. Staged writes go to the trees at once
/// (the actor runs one message at a time, and publishes only after the
/// commit), remembering what they replaced so a failed unit can be undone.
pub struct SledDirectoryStore {
    store: Store,
    clients: sled::Tree,
    users: sled::Tree,
    consents: sled::Tree,
    entities: sled::Tree,
    api_keys: sled::Tree,
    codes: sled::Tree,
    initial_tokens: sled::Tree,
    /// How to take back the writes of the unit in progress.
    pending: Vec<Undo>,
}

struct Undo {
    tree: sled::Tree,
    key: Vec<u8>,
    prev: Option<sled::IVec>,
}

fn undo_all(undo: Vec<Undo>) {
    for u in undo.into_iter().rev() {
        let r = match u.prev {
            Some(p) => u.tree.insert(&u.key, p).map(|_| ()),
            None => u.tree.remove(&u.key).map(|_| ()),
        };
        if let Err(e) = r {
            tracing::error!(error = %e, "could not take back an unacknowledged directory write");
        }
    }
}

/// Consent key: the user's 16 bytes, then the client id.
pub(crate) fn consent_key(user: &uuid::Uuid, client: &str) -> Vec<u8> {
    let mut k = user.as_bytes().to_vec();
    k.extend_from_slice(client.as_bytes());
    k
}

/// A stored consent: the key names the user and the client.
pub(crate) fn decode_consent(
    k: &[u8],
    v: &[u8],
) -> Result<(uuid::Uuid, String, Scope), StoreError> {
    let (u, c) = k.split_at(16.min(k.len()));
    let (Ok(user), Ok(client)) = (uuid::Uuid::from_slice(u), std::str::from_utf8(c)) else {
        return Err(StoreError::Decode("malformed consent key".into()));
    };
    Ok((user, client.to_string(), store::decode(v)?))
}

/// Code keys: `u/<purpose>/<user id>` → the record; `t/<sha256>` → that
/// key, so a link finds its record.
pub(crate) fn record_key(purpose: CodePurpose, user: &uuid::Uuid) -> Vec<u8> {
    let mut k = format!("u/{}/", purpose.tag()).into_bytes();
    k.extend_from_slice(user.as_bytes());
    k
}

pub(crate) fn token_index_key(hash: &SecretHash) -> Vec<u8> {
    let mut k = b"t/".to_vec();
    k.extend_from_slice(hash);
    k
}

fn values<T: serde::de::DeserializeOwned>(tree: &sled::Tree) -> Result<Vec<T>, StoreError> {
    tree.iter().values().map(|v| store::decode(&v?)).collect()
}

impl SledDirectoryStore {
    pub fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(SledDirectoryStore {
            store: store.clone(),
            clients: store.tree(trees::CLIENTS)?,
            users: store.tree(trees::USERS)?,
            consents: store.tree(trees::CONSENTS)?,
            entities: store.tree(trees::ENTITIES)?,
            api_keys: store.tree(trees::API_KEYS)?,
            codes: store.tree(trees::ACCOUNT_CODES)?,
            initial_tokens: store.tree(trees::REGISTRATION_TOKENS)?,
            pending: Vec::new(),
        })
    }

    /// Insert, remembering how to take it back.
    fn put(&mut self, tree: &sled::Tree, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        let prev = tree.insert(key, value)?;
        self.pending.push(Undo {
            tree: tree.clone(),
            key: key.to_vec(),
            prev,
        });
        Ok(())
    }

    /// Remove, remembering how to take it back; answers whether it was there.
    fn del(&mut self, tree: &sled::Tree, key: &[u8]) -> Result<bool, StoreError> {
        let prev = tree.remove(key)?;
        let existed = prev.is_some();
        if existed {
            self.pending.push(Undo {
                tree: tree.clone(),
                key: key.to_vec(),
                prev,
            });
        }
        Ok(existed)
    }

    fn code_at(&self, key: &[u8]) -> Result<Option<CodeRecord>, StoreError> {
        match self.codes.get(key)? {
            Some(v) => Ok(Some(store::decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Remove a code record and its token index entry.
    fn drop_code(&mut self, rec: &CodeRecord) -> Result<(), StoreError> {
        let tree = self.codes.clone();
        if rec.key.is_none() {
            self.del(&tree, &token_index_key(&rec.hash))?;
        }
        self.del(&tree, &record_key(rec.purpose, &rec.user_id))?;
        Ok(())
    }
}

impl DirectoryStore for SledDirectoryStore {
    fn load_all(&self) -> Result<DirectoryState, StoreError> {
        let mut consents = Vec::new();
        for kv in self.consents.iter() {
            let (k, v) = kv?;
            consents.push(decode_consent(&k, &v)?);
        }
        Ok(DirectoryState {
            clients: values(&self.clients)?,
            users: values(&self.users)?,
            consents,
            entities: values(&self.entities)?,
            api_keys: values(&self.api_keys)?,
        })
    }

    fn create_client(&mut self, c: &Client) -> Result<bool, StoreError> {
        let value = store::encode(c)?;
        if self.clients.contains_key(c.client_id.as_bytes())? {
            return Ok(false);
        }
        let tree = self.clients.clone();
        self.put(&tree, c.client_id.as_bytes(), value)?;
        Ok(true)
    }
    fn put_client(&mut self, c: &Client) -> Result<(), StoreError> {
        let tree = self.clients.clone();
        self.put(&tree, c.client_id.as_bytes(), store::encode(c)?)
    }
    fn delete_client(&mut self, id: &str) -> Result<bool, StoreError> {
        let tree = self.clients.clone();
        self.del(&tree, id.as_bytes())
    }

    fn put_user(&mut self, u: &User) -> Result<(), StoreError> {
        let tree = self.users.clone();
        self.put(&tree, u.id.as_bytes(), store::encode(u)?)
    }
    fn replace_user(&mut self, expected: &User, new: &User) -> Result<bool, StoreError> {
        let current: Option<User> = match self.users.get(expected.id.as_bytes())? {
            Some(v) => Some(store::decode(&v)?),
            None => None,
        };
        if current.as_ref() != Some(expected) {
            return Ok(false);
        }
        self.put_user(new)?;
        Ok(true)
    }
    fn delete_user(&mut self, id: &uuid::Uuid) -> Result<bool, StoreError> {
        let tree = self.users.clone();
        self.del(&tree, id.as_bytes())
    }

    fn consent(&self, user: &uuid::Uuid, client: &str) -> Result<Option<Scope>, StoreError> {
        match self.consents.get(consent_key(user, client))? {
            Some(v) => Ok(Some(store::decode(&v)?)),
            None => Ok(None),
        }
    }
    fn put_consent(
        &mut self,
        user: &uuid::Uuid,
        client: &str,
        scope: &Scope,
    ) -> Result<(), StoreError> {
        let tree = self.consents.clone();
        self.put(&tree, &consent_key(user, client), store::encode(scope)?)
    }

    fn put_entity(&mut self, e: &Entity) -> Result<(), StoreError> {
        let tree = self.entities.clone();
        self.put(&tree, e.id.as_bytes(), store::encode(e)?)
    }
    fn delete_entity(&mut self, id: &uuid::Uuid) -> Result<bool, StoreError> {
        let tree = self.entities.clone();
        self.del(&tree, id.as_bytes())
    }
    fn put_api_key(&mut self, k: &ApiKey) -> Result<(), StoreError> {
        let tree = self.api_keys.clone();
        self.put(&tree, k.id.as_bytes(), store::encode(k)?)
    }
    fn delete_api_key(&mut self, id: &uuid::Uuid) -> Result<bool, StoreError> {
        let tree = self.api_keys.clone();
        self.del(&tree, id.as_bytes())
    }
    fn touch_api_key(&mut self, k: &ApiKey) -> Result<(), StoreError> {
        self.api_keys.insert(k.id.as_bytes(), store::encode(k)?)?;
        Ok(())
    }

    fn code(
        &self,
        purpose: CodePurpose,
        user: &uuid::Uuid,
    ) -> Result<Option<CodeRecord>, StoreError> {
        self.code_at(&record_key(purpose, user))
    }
    fn code_by_link(&self, hash: &SecretHash) -> Result<Option<CodeRecord>, StoreError> {
        match self.codes.get(token_index_key(hash))? {
            Some(k) => self.code_at(&k),
            None => Ok(None),
        }
    }
    fn put_code(&mut self, rec: &CodeRecord) -> Result<(), StoreError> {
        let tree = self.codes.clone();
        let key = record_key(rec.purpose, &rec.user_id);
        if rec.key.is_none() {
            self.put(&tree, &token_index_key(&rec.hash), key.clone())?;
        }
        self.put(&tree, &key, store::encode(rec)?)
    }
    fn replace_code(
        &mut self,
        expected: &CodeRecord,
        new: Option<&CodeRecord>,
    ) -> Result<bool, StoreError> {
        let key = record_key(expected.purpose, &expected.user_id);
        if self.code_at(&key)?.as_ref() != Some(expected) {
            return Ok(false);
        }
        match new {
            // Same code, fewer attempts left: the index entry stays.
            Some(rec) => {
                let tree = self.codes.clone();
                self.put(&tree, &key, store::encode(rec)?)?;
            }
            None => self.drop_code(expected)?,
        }
        Ok(true)
    }

    fn initial_token(&self, hash: &SecretHash) -> Result<Option<InitialToken>, StoreError> {
        match self.initial_tokens.get(hash)? {
            Some(v) => Ok(Some(store::decode(&v)?)),
            None => Ok(None),
        }
    }
    fn initial_tokens(&self) -> Result<Vec<InitialToken>, StoreError> {
        values(&self.initial_tokens)
    }
    fn put_initial_token(&mut self, t: &InitialToken) -> Result<(), StoreError> {
        let tree = self.initial_tokens.clone();
        self.put(&tree, &t.hash, store::encode(t)?)
    }
    fn replace_initial_token(
        &mut self,
        expected: &InitialToken,
        new: Option<&InitialToken>,
    ) -> Result<bool, StoreError> {
        // The directory is this tree's only writer and handles one message
        // at a time: comparing, then writing, cannot interleave.
        if self.initial_token(&expected.hash)?.as_ref() != Some(expected) {
            return Ok(false);
        }
        let tree = self.initial_tokens.clone();
        match new {
            Some(t) => self.put(&tree, &expected.hash, store::encode(t)?)?,
            None => {
                self.del(&tree, &expected.hash)?;
            }
        }
        Ok(true)
    }

    fn commit(&mut self) -> Durable {
        let store = self.store.clone();
        let undo = std::mem::take(&mut self.pending);
        Box::pin(async move {
            if let Err(e) = store.durable().await {
                undo_all(undo);
                return Err(e);
            }
            Ok(())
        })
    }
    fn rollback(&mut self) {
        undo_all(std::mem::take(&mut self.pending));
    }
}

#[cfg(test)]
mod tests;
