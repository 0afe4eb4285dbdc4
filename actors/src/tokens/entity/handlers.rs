//! The entity-token messages: get, create, update, revoke and refresh.
//! Each answers only once its change is durable and published.

use super::*;

impl Handler<GetEntityToken> for TokenIssuer {
    type Result = Option<EntityToken>;
    fn handle(&mut self, msg: GetEntityToken, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        self.entity
            .by_member
            .get(&(msg.entity_id, msg.user_id))
            .filter(|(key, t)| t.expires_at > now && self.index.get(*key).is_some())
            .map(|(key, t)| {
                let mut t = t.clone();
                t.last_used_at = self.index.entity_last_used(*key).max(t.last_used_at);
                t
            })
    }
}

impl Handler<CreateEntityToken> for TokenIssuer {
    type Result = ResponseFuture<Result<(EntityToken, String), EntityTokenError>>;
    fn handle(&mut self, msg: CreateEntityToken, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        let member = (msg.entity_id, msg.user_id);
        // A token that expired or was revoked by id no longer counts.
        if let Some((key, t)) = self.entity.by_member.get(&member) {
            if t.expires_at > now && self.index.get(*key).is_some() {
                return Box::pin(async { Err(EntityTokenError::Exists) });
            }
        }
        if let Err(e) = check_flags(&msg.flags) {
            return Box::pin(async move { Err(e) });
        }
        let t = EntityToken {
            id: uuid::Uuid::new_v4(),
            entity_id: msg.entity_id,
            user_id: msg.user_id,
            flags: msg.flags,
            created_at: now,
            expires_at: msg.expires_at,
            last_used_at: None,
            client_id: msg.client_id,
        };
        let old = self.entity.by_member.get(&member).map(|(k, _)| *k);
        let written = self.write_new_entity_token(&t).and_then(|w| {
            if let Some(old) = old {
                self.store.remove(Table::Entity, &[old])?;
            }
            Ok(w)
        });
        let (key, secret_value) = match written {
            Ok(w) => w,
            Err(e) => return Box::pin(async move { Err(e.into()) }),
        };
        // Published only once durable: the actor handles nothing else
        // meanwhile only for what it has already put in its own maps, and
        // the member map is what `Exists` reads, so fill it now.
        self.entity.by_member.insert(member, (key, t.clone()));
        let durable = self.store.durable();
        let rec = self.entity_record(&t);
        let index = self.index.clone();
        let meta = EntityMeta {
            entity_id: t.entity_id,
            flags: t.flags.clone(),
        };
        Box::pin(async move {
            durable.await?;
            if let Some(old) = old {
                index.remove(old);
                index.forget_entity_meta(old);
            }
            index.insert(key, rec);
            index.set_entity_meta(key, meta);
            metrics::counter!("tessera_tokens_issued_total", "kind" => "entity_token", "grant" => "entity", "format" => "opaque")
                .increment(1);
            Ok((t, secret_value))
        })
    }
}

impl Handler<UpdateEntityToken> for TokenIssuer {
    type Result = ResponseFuture<Result<EntityToken, EntityTokenError>>;
    fn handle(&mut self, msg: UpdateEntityToken, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        let member = (msg.entity_id, msg.user_id);
        let Some((key, mut t)) = self
            .entity
            .by_member
            .get(&member)
            .filter(|(key, t)| t.expires_at > now && self.index.get(*key).is_some())
            .cloned()
        else {
            return Box::pin(async { Err(EntityTokenError::NotFound) });
        };
        if let Some(flags) = msg.flags {
            if let Err(e) = check_flags(&flags) {
                return Box::pin(async move { Err(e) });
            }
            t.flags = flags;
        }
        if let Some(exp) = msg.expires_at {
            t.expires_at = exp;
        }
        t.last_used_at = self.index.entity_last_used(key).max(t.last_used_at);
        let written = store::encode(&t).and_then(|v| self.store.put(Table::Entity, vec![(key, v)]));
        if let Err(e) = written {
            return Box::pin(async move { Err(e.into()) });
        }
        self.entity.by_member.insert(member, (key, t.clone()));
        let durable = self.store.durable();
        let rec = self.entity_record(&t);
        let index = self.index.clone();
        Box::pin(async move {
            durable.await?;
            index.insert(key, rec);
            index.set_entity_meta(
                key,
                EntityMeta {
                    entity_id: t.entity_id,
                    flags: t.flags.clone(),
                },
            );
            Ok(t)
        })
    }
}

impl Handler<RevokeEntityToken> for TokenIssuer {
    type Result = ResponseFuture<Result<usize, EntityTokenError>>;
    fn handle(&mut self, msg: RevokeEntityToken, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        let members: Vec<(uuid::Uuid, uuid::Uuid)> = self
            .entity
            .by_member
            .keys()
            .filter(|(e, u)| *e == msg.entity_id && msg.user_id.is_none_or(|m| m == *u))
            .copied()
            .collect();
        let mut gone = Vec::new();
        let mut live = 0;
        for m in members {
            if let Some((key, t)) = self.entity.by_member.remove(&m) {
                if t.expires_at > now && self.index.get(key).is_some() {
                    live += 1;
                }
                gone.push((key, t));
            }
        }
        if msg.user_id.is_some() && live == 0 {
            return Box::pin(async { Err(EntityTokenError::NotFound) });
        }
        let keys: Vec<u128> = gone.iter().map(|(k, _)| *k).collect();
        if let Err(e) = self.store.remove(Table::Entity, &keys) {
            return Box::pin(async move { Err(e.into()) });
        }
        let ids: Vec<(u128, i64)> = gone
            .iter()
            .map(|(_, t)| (t.id.as_u128(), t.expires_at.max(now)))
            .collect();
        for k in &keys {
            self.unpublish_entity_token(*k);
        }
        let revocations = self.revocations.clone();
        let durable = self.store.durable();
        Box::pin(async move {
            if !ids.is_empty() {
                revocations.send(Revoke(ids)).await??;
            }
            durable.await?;
            Ok(live)
        })
    }
}

impl Handler<RefreshEntityToken> for TokenIssuer {
    type Result = ResponseFuture<Result<(EntityToken, String), EntityTokenError>>;
    fn handle(&mut self, msg: RefreshEntityToken, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        let member = (msg.entity_id, msg.user_id);
        let Some((old_key, old)) = self
            .entity
            .by_member
            .get(&member)
            .filter(|(key, t)| t.expires_at > now && self.index.get(*key).is_some())
            .cloned()
        else {
            return Box::pin(async { Err(EntityTokenError::NotFound) });
        };
        // Keys are SHA-256 prefixes: comparing them is comparing hashes.
        if secret::token_key(msg.presented.trim()) != old_key {
            return Box::pin(async { Err(EntityTokenError::Mismatch) });
        }
        let lifetime = (old.expires_at - old.created_at).max(1);
        let t = EntityToken {
            id: uuid::Uuid::new_v4(),
            created_at: now,
            expires_at: now.saturating_add(lifetime),
            last_used_at: None,
            ..old.clone()
        };
        let written = self.write_new_entity_token(&t).and_then(|w| {
            self.store.remove(Table::Entity, &[old_key])?;
            Ok(w)
        });
        let (key, secret_value) = match written {
            Ok(w) => w,
            Err(e) => return Box::pin(async move { Err(e.into()) }),
        };
        self.entity.by_member.insert(member, (key, t.clone()));
        self.unpublish_entity_token(old_key);
        let durable = self.store.durable();
        let revocations = self.revocations.clone();
        let rec = self.entity_record(&t);
        let index = self.index.clone();
        let meta = EntityMeta {
            entity_id: t.entity_id,
            flags: t.flags.clone(),
        };
        let old_id = (old.id.as_u128(), old.expires_at.max(now));
        Box::pin(async move {
            revocations.send(Revoke(vec![old_id])).await??;
            durable.await?;
            index.insert(key, rec);
            index.set_entity_meta(key, meta);
            Ok((t, secret_value))
        })
    }
}
