//! What the request asks of the authentication itself: the `acr` of
//! `acr_values` or of the `claims` parameter (OIDC Core §3.1.2.1,
//! §5.5.1.1), and a `sub` the `claims` parameter names; and the consent
//! that individually requested claims need.
//!
//! A request for `mfa` from a session without a second factor sends the
//! user through the login again, which asks for the TOTP code or a
//! passkey of a user who has one; a user with neither is offered to set
//! up TOTP first
//! (`/account/totp/required`), then logs in with it. It ends in
//! `unmet_authentication_requirements` when that cannot help: `prompt=none`,
//! a user who declined to set up TOTP (`mfa_declined`), a login done for
//! this very request that still fell short, or only classes this server
//! does not know asked for as essential.

use actix_web::HttpResponse;
use tessera_actors::directory::User;
use tessera_actors::domain::Scope;
use tessera_actors::grants::claims::{RequestedClaims, UNMET_AUTHENTICATION_REQUIREMENTS};
use tessera_actors::sessions::Session;

use super::validate::Validated;
use super::Reply;

/// What to do instead of going on.
pub(super) enum Outcome {
    /// Log in again: the new login can meet the request.
    Login,
    /// Set up two-step verification first (the user has none), then come
    /// back.
    Enrol,
    /// The answer to the client: the request cannot be met.
    Answer(HttpResponse),
}

/// `None` when the session is the one, and good enough, for the request.
/// `logged_in_for_it`: the session's login was made for this request.
pub(super) fn check(
    v: &Validated,
    session: &Session,
    user: &User,
    logged_in_for_it: bool,
    declined: bool,
    reply: &Reply<'_>,
) -> Option<Outcome> {
    // §5.5.1: only the user the `sub` names may get a positive answer.
    if let Some(sub) = &v.claims.sub {
        if *sub != user.id.to_string() {
            if v.prompt_none || logged_in_for_it {
                return Some(Outcome::Answer(reply.error(
                    "login_required",
                    "the signed-in user is not the one the claims parameter names",
                )));
            }
            return Some(Outcome::Login);
        }
    }
    let acr = &v.claims.acr;
    if acr.satisfied_by(&session.amr) {
        return None;
    }
    let why = if acr.values.is_empty() {
        "none of the requested acr values is supported"
    } else if v.prompt_none {
        "the request needs two-step verification (acr mfa), and prompt=none allows no login"
    } else if !user.has_second_factor() && (declined || !acr.wants_mfa()) {
        "the request needs two-step verification (acr mfa), which this user has not set up"
    } else if !user.has_second_factor() {
        return Some(Outcome::Enrol);
    } else if logged_in_for_it || !acr.wants_mfa() {
        "the login did not meet the requested authentication context"
    } else {
        return Some(Outcome::Login);
    };
    Some(Outcome::Answer(
        reply.error(UNMET_AUTHENTICATION_REQUIREMENTS, why),
    ))
}

/// The scope consent must cover: the requested one, and the scopes that
/// would release the individually requested claims. When that cannot be
/// a scope, the individual claims are dropped.
pub(super) fn consent_scope(v: &mut Validated) -> Scope {
    let extra = v.claims.claims.scopes();
    if extra.iter().all(|s| v.scope.contains(s)) {
        return v.scope.clone();
    }
    let tokens = v
        .scope
        .tokens()
        .iter()
        .map(String::as_str)
        .chain(extra)
        .collect::<Vec<_>>();
    match Scope::from_tokens(tokens) {
        Ok(s) => s,
        Err(_) => {
            v.claims.claims = RequestedClaims::default();
            v.scope.clone()
        }
    }
}
