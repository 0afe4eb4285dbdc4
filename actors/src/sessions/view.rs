//! The published sessions view: by cookie hash (every request), by public
//! id (the sessions API), by user (listing, logout everywhere).

use std::sync::Arc;

use dashmap::DashMap;

use super::Session;
use crate::idmap::{new_map, IdMap};
use crate::secret;

pub struct SessionsView {
    by_key: IdMap<uuid::Uuid>,
    by_id: DashMap<uuid::Uuid, Arc<Session>>,
    by_user: DashMap<uuid::Uuid, Vec<uuid::Uuid>>,
}

impl Default for SessionsView {
    fn default() -> Self {
        SessionsView {
            by_key: new_map(),
            by_id: DashMap::new(),
            by_user: DashMap::new(),
        }
    }
}

impl SessionsView {
    /// The session a cookie names, if it exists (liveness is the caller's
    /// check, against its clock).
    pub fn by_cookie(&self, cookie: &str) -> Option<Arc<Session>> {
        if cookie.is_empty() || cookie.len() > 256 {
            return None;
        }
        let id = *self.by_key.get(&secret::token_key(cookie))?;
        self.get(&id)
    }
    pub fn get(&self, id: &uuid::Uuid) -> Option<Arc<Session>> {
        self.by_id.get(id).map(|s| s.value().clone())
    }
    /// A user's sessions, newest first.
    pub fn of_user(&self, user: &uuid::Uuid) -> Vec<Arc<Session>> {
        let ids: Vec<uuid::Uuid> = self
            .by_user
            .get(user)
            .map(|v| v.value().clone())
            .unwrap_or_default();
        let mut out: Vec<Arc<Session>> = ids.iter().filter_map(|id| self.get(id)).collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        out
    }
    pub fn len(&self) -> usize {
        self.by_id.len()
    }
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
    pub(super) fn dead(&self, now: i64) -> Vec<uuid::Uuid> {
        self.by_id
            .iter()
            .filter(|e| !e.value().is_live(now))
            .map(|e| *e.key())
            .collect()
    }
    pub(super) fn clear(&self) {
        self.by_key.clear();
        self.by_id.clear();
        self.by_user.clear();
    }
    pub(super) fn publish(&self, s: Arc<Session>) {
        self.by_key.insert(s.key, s.id);
        let mut list = self.by_user.entry(s.user_id).or_default();
        if !list.contains(&s.id) {
            list.push(s.id);
        }
        drop(list);
        self.by_id.insert(s.id, s);
    }
    pub(super) fn unpublish(&self, id: &uuid::Uuid) {
        if let Some((_, s)) = self.by_id.remove(id) {
            self.by_key.remove(&s.key);
            if let Some(mut list) = self.by_user.get_mut(&s.user_id) {
                list.retain(|x| x != id);
            }
            self.by_user.remove_if(&s.user_id, |_, l| l.is_empty());
        }
    }
}
