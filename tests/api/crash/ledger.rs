//! What the harness remembers across kills: everything acknowledged (or
//! merely attempted), and what the checks after each restart looked at.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use super::life::Cred;

/// A refresh token family as the client saw it.
#[derive(Default, Debug, Clone)]
pub(super) struct Family {
    /// Tokens whose rotation was answered `200`: each is used for good.
    pub(super) rotated: Vec<String>,
    /// The newest token a `200` handed out.
    pub(super) newest: Option<String>,
}

/// Everything acknowledged (or merely attempted) so far.
#[derive(Default, Clone)]
pub(super) struct Ledger {
    /// Tokens whose revocation was answered `200`.
    pub(super) revoked: Vec<String>,
    /// Access tokens issued with `200` and never sent to be revoked: (token,
    /// jti).
    pub(super) kept: Vec<(String, String)>,
    /// Codes whose exchange was sent, answered or not: (code, verifier).
    pub(super) codes: Vec<(String, String)>,
    pub(super) families: Vec<Family>,
    /// Reset mails answered `200`, by address.
    pub(super) mail_acked: BTreeMap<String, u32>,
    /// Reset mails asked for and not refused with `429`, answered or not.
    pub(super) mail_asked: BTreeMap<String, u32>,
    /// Every kid an acknowledged key rotation listed.
    pub(super) acked_kids: BTreeSet<String>,
    pub(super) key_rotations: u32,
    pub(super) codes_answered: u32,
    pub(super) rotations_answered: u32,
}

/// What the checks after a restart looked at.
#[derive(Default)]
pub(super) struct Checked {
    pub(super) revoked: usize,
    pub(super) kept: usize,
    pub(super) codes: usize,
    pub(super) rotated: usize,
    pub(super) families: usize,
    pub(super) key_checks: usize,
}

pub(super) type Shared = Rc<RefCell<Ledger>>;

/// Where a worker starts and stops: the ledger marks what happened.
pub(super) struct Setup {
    pub(super) jwt: Cred,
    pub(super) opaque: Cred,
    pub(super) rp: Cred,
    pub(super) rs: Cred,
    pub(super) mail_users: Vec<String>,
}

/// Where each ledger list stood when a round began.
#[derive(Default, Clone)]
pub(super) struct Marks {
    pub(super) revoked: usize,
    pub(super) kept: usize,
    pub(super) codes: usize,
    pub(super) families: usize,
}

impl Marks {
    pub(super) fn of(l: &Ledger) -> Marks {
        Marks {
            revoked: l.revoked.len(),
            kept: l.kept.len(),
            codes: l.codes.len(),
            families: l.families.len(),
        }
    }
}
