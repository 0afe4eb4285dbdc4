//! What one connection sends, and how it checks each answer: introspection,
//! revocation, issuance and login mixes over the fixture's token pool.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};

use crate::fixture::Fixture;
use crate::generator::Stats;
use crate::opts::Opts;
use crate::requests::{contains, form_value, login_body, post, post_json, Rng};
use crate::{LOGIN_PATH, RECENT_WINDOW};

#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// Introspect pool tokens; with `check`, every answer must be active.
    Introspect {
        check: bool,
    },
    IntrospectRevoke,
    Revoke,
    /// One fixed request (client_credentials).
    Fixed,
    /// Each request of `once` once, in order, then stop (single-use
    /// requests: a DPoP proof is good for one request only).
    Once,
    /// `POST /auth/login` of each user in turn.
    Login,
}

pub(crate) const LIVE: u8 = 0;
pub(crate) const REVOKING: u8 = 1;
pub(crate) const REVOKED: u8 = 2;

pub(crate) struct Workload {
    pub(crate) mode: Mode,
    pub(crate) introspect: Vec<Vec<u8>>,
    pub(crate) revoke: Vec<Vec<u8>>,
    pub(crate) fixed: Vec<u8>,
    pub(crate) once: Vec<Vec<u8>>,
    pub(crate) logins: Vec<Vec<u8>>,
    /// Per pool token: LIVE, REVOKING (request sent), REVOKED (200 received).
    pub(crate) state: Vec<AtomicU8>,
    /// Next pool token to revoke.
    pub(crate) cursor: AtomicUsize,
    /// Requests handed out (introspect-revoke picks every Nth to revoke).
    pub(crate) issued: AtomicU64,
    pub(crate) revoke_every: u64,
    /// What every `Fixed`/`Once` answer's body must contain.
    pub(crate) marker: &'static [u8],
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Introspect { idx: usize, revoked_at_send: bool },
    Revoke { idx: usize },
    Fixed,
    Once { idx: usize },
    Login { idx: usize },
}

impl Workload {
    pub(crate) fn new(mode: Mode, f: &Fixture, opts: &Opts) -> Workload {
        Workload::with_tokens(mode, f, &f.pool, opts)
    }

    /// A workload over `tokens` (a part of the pool).
    pub(crate) fn with_tokens(mode: Mode, f: &Fixture, tokens: &[String], opts: &Opts) -> Workload {
        let intro = |t: &String| {
            post(
                &f.host,
                &f.paths.introspect,
                &f.auth,
                &format!("token={}", form_value(t)),
            )
        };
        let rev = |t: &String| {
            post(
                &f.host,
                &f.paths.revoke,
                &f.auth,
                &format!("token={}&token_type_hint=access_token", form_value(t)),
            )
        };
        let (introspect, revoke) = match mode {
            Mode::Introspect { .. } => (tokens.iter().map(intro).collect(), Vec::new()),
            Mode::IntrospectRevoke => (
                tokens.iter().map(intro).collect(),
                tokens.iter().map(rev).collect(),
            ),
            Mode::Revoke => (Vec::new(), tokens.iter().map(rev).collect()),
            Mode::Fixed | Mode::Once | Mode::Login => (Vec::new(), Vec::new()),
        };
        let logins = match mode {
            Mode::Login => f
                .users
                .iter()
                .map(|u| {
                    let ua = if opts.vary_user_agent {
                        format!("{} {u}", opts.login_user_agent).trim().to_string()
                    } else {
                        opts.login_user_agent.clone()
                    };
                    post_json(&f.host, LOGIN_PATH, &ua, &login_body(u))
                })
                .collect(),
            _ => Vec::new(),
        };
        Workload {
            mode,
            introspect,
            revoke,
            fixed: post(&f.host, &f.paths.token, &f.auth, &f.cc_body),
            once: Vec::new(),
            logins,
            state: (0..tokens.len()).map(|_| AtomicU8::new(LIVE)).collect(),
            cursor: AtomicUsize::new(0),
            issued: AtomicU64::new(0),
            revoke_every: opts.revoke_every,
            marker: br#""access_token""#,
        }
    }

    /// The next request; `None` when there is nothing left to revoke.
    pub(crate) fn next(&self, rng: &mut Rng) -> Option<Op> {
        match self.mode {
            Mode::Fixed => Some(Op::Fixed),
            Mode::Once => {
                let idx = self.cursor.fetch_add(1, Ordering::Relaxed);
                (idx < self.once.len()).then_some(Op::Once { idx })
            }
            // Round-robin over the users: each account logs in once every
            // --users logins.
            Mode::Login => Some(Op::Login {
                idx: (self.issued.fetch_add(1, Ordering::Relaxed) % self.logins.len().max(1) as u64)
                    as usize,
            }),
            Mode::Introspect { .. } => Some(Op::Introspect {
                idx: rng.below(self.introspect.len()),
                revoked_at_send: false,
            }),
            Mode::Revoke => self.take_revocation(),
            Mode::IntrospectRevoke => {
                let n = self.issued.fetch_add(1, Ordering::Relaxed);
                if n % self.revoke_every == self.revoke_every - 1 {
                    if let Some(op) = self.take_revocation() {
                        return Some(op);
                    }
                }
                // Half the introspections aim at the most recently revoked
                // tokens, where a stale answer would show.
                let c = self
                    .cursor
                    .load(Ordering::Acquire)
                    .min(self.introspect.len());
                let idx = if c > 0 && rng.next() & 1 == 0 {
                    c - 1 - rng.below(c.min(RECENT_WINDOW))
                } else {
                    rng.below(self.introspect.len())
                };
                let revoked_at_send = self
                    .state
                    .get(idx)
                    .is_some_and(|s| s.load(Ordering::Acquire) == REVOKED);
                Some(Op::Introspect {
                    idx,
                    revoked_at_send,
                })
            }
        }
    }

    pub(crate) fn take_revocation(&self) -> Option<Op> {
        let idx = self.cursor.fetch_add(1, Ordering::AcqRel);
        let s = self.state.get(idx)?;
        s.store(REVOKING, Ordering::Release);
        Some(Op::Revoke { idx })
    }

    pub(crate) fn bytes(&self, op: &Op) -> &[u8] {
        let b = match op {
            Op::Introspect { idx, .. } => self.introspect.get(*idx),
            Op::Revoke { idx } => self.revoke.get(*idx),
            Op::Fixed => Some(&self.fixed),
            Op::Once { idx } => self.once.get(*idx),
            Op::Login { idx } => self.logins.get(*idx),
        };
        b.map_or(&[][..], |v| v.as_slice())
    }

    pub(crate) fn done(&self, op: Op, status: u16, body: &[u8], s: &mut Stats) {
        // A full password pool is load shedding, not a failure: counted
        // on its own.
        if status == 503 {
            s.busy += 1;
            return;
        }
        if status == 429 {
            s.limited += 1;
        }
        if !(200..300).contains(&status) {
            s.non_2xx += 1;
            return;
        }
        match op {
            Op::Introspect {
                idx,
                revoked_at_send,
            } => {
                let active = contains(body, br#""active":true"#);
                if active {
                    s.active += 1;
                } else {
                    s.inactive += 1;
                }
                let check = matches!(
                    self.mode,
                    Mode::Introspect { check: true } | Mode::IntrospectRevoke
                );
                if !check {
                    return;
                }
                if active && revoked_at_send {
                    s.revoked_but_active += 1;
                }
                // Never revoked, not even by a request sent since: must be active.
                let live_now = self
                    .state
                    .get(idx)
                    .is_some_and(|st| st.load(Ordering::Acquire) == LIVE);
                if !active && live_now {
                    s.live_but_inactive += 1;
                }
            }
            Op::Revoke { idx } => {
                if let Some(st) = self.state.get(idx) {
                    st.store(REVOKED, Ordering::Release);
                }
                s.revocations += 1;
            }
            Op::Fixed | Op::Once { .. } => {
                if !contains(body, self.marker) {
                    s.bad_body += 1;
                }
            }
            Op::Login { .. } => {
                if contains(body, br#""mode":"authentication""#) {
                    s.logins += 1;
                } else {
                    s.bad_body += 1;
                }
            }
        }
    }
}
