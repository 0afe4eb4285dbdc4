//! A valid request meets the browser's session: sign in first (back here
//! afterwards), ask for consent, or issue the code.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use tessera_actors::directory::{Client, GrantConsent, User};
use tessera_actors::domain::Scope;
use tessera_actors::secret::{self, prefix, SecretHash};
use tessera_actors::sessions::Session;
use tessera_actors::tokens::{AuthCode, IssueCode};

use crate::extract::csrf::session_csrf;
use crate::extract::session::current_session;
use crate::extract::OAuthForm;
use crate::state::AppState;
use crate::views;

use super::validate::Validated;
use super::Reply;

/// The authorize URL to come back to after logging in: the same request,
/// without `prompt=login` and with `auth_after` so the new login satisfies it.
fn return_to(form: &OAuthForm, auth_after: Option<i64>) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form.pairs() {
        match k.as_str() {
            "consent" | "csrf" | "auth_after" => {}
            "prompt" => {
                let rest: Vec<&str> = v
                    .split(' ')
                    .filter(|p| !p.is_empty() && *p != "login")
                    .collect();
                if !rest.is_empty() {
                    q.append_pair(k, &rest.join(" "));
                }
            }
            _ => {
                q.append_pair(k, v);
            }
        }
    }
    if let Some(t) = auth_after {
        q.append_pair("auth_after", &t.to_string());
    }
    format!("/oauth2/authorize?{}", q.finish())
}

fn to_login(
    carry: &OAuthForm,
    form: &OAuthForm,
    client: &Client,
    auth_after: Option<i64>,
    after_post: bool,
) -> HttpResponse {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("return_to", &return_to(carry, auth_after));
    q.append_pair("applicationId", &client.client_id);
    if let Some(h) = form.get("login_hint") {
        q.append_pair("login_hint", h);
    }
    // A redirect after a POST is 303 (RFC 9700 §4.11), as for the client's.
    let status = if after_post {
        StatusCode::SEE_OTHER
    } else {
        StatusCode::FOUND
    };
    HttpResponse::build(status)
        .insert_header((header::LOCATION, format!("/auth/login?{}", q.finish())))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .finish()
}

/// To TOTP enrolment, and back to this request afterwards.
fn to_enrol(carry: &OAuthForm, after_post: bool) -> HttpResponse {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("return_to", &return_to(carry, None));
    let status = if after_post {
        StatusCode::SEE_OTHER
    } else {
        StatusCode::FOUND
    };
    HttpResponse::build(status)
        .insert_header((
            header::LOCATION,
            format!("/account/totp/required?{}", q.finish()),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .finish()
}

/// `form` is the request's parameters; `carry` what the way through the
/// login page and the consent form carries (the same, or only
/// `client_id` and `request_uri` for a held request).
#[allow(clippy::too_many_arguments)]
pub(super) async fn continue_authorize(
    req: &HttpRequest,
    state: &AppState,
    client: &Client,
    form: &OAuthForm,
    carry: &OAuthForm,
    pushed: Option<SecretHash>,
    reply: &Reply<'_>,
    mut v: Validated,
    is_post: bool,
) -> HttpResponse {
    let engine = &state.engine;
    let now = engine.clock.now();
    let session = current_session(req, state);
    // A login this request already sent the user to must be newer than it.
    let auth_after = form.get("auth_after").and_then(|t| t.parse::<i64>().ok());
    // (A login done for this request satisfies max_age however long it took.)
    let fresh_enough = |s: &Session| match auth_after {
        Some(t) => s.auth_time >= t,
        None => v.max_age.is_none_or(|m| now - s.auth_time <= m),
    };
    let (session, user) = match session {
        Some((s, u)) if fresh_enough(&s) && !(v.prompt_login && auth_after.is_none()) => (s, u),
        Some(_) | None => {
            if v.prompt_none {
                return reply.error("login_required", "the user is not logged in");
            }
            let force = v.prompt_login || v.max_age.is_some() || auth_after.is_some();
            return to_login(carry, form, client, force.then_some(now), is_post);
        }
    };
    // The "not now" link of the TOTP set-up page: on the browser's own
    // URL, also for a held request (whose parameters are the pushed ones).
    let declined = form.get("mfa_declined").is_some()
        || req.query_string().split('&').any(|p| p == "mfa_declined=1");
    if let Some(r) = super::authn::check(&v, &session, &user, auth_after.is_some(), declined, reply)
    {
        return match r {
            super::authn::Outcome::Login => to_login(carry, form, client, Some(now), is_post),
            super::authn::Outcome::Enrol => to_enrol(carry, is_post),
            super::authn::Outcome::Answer(resp) => resp,
        };
    }
    // Claims asked for one by one need the consent their scope would.
    let consent_scope = super::authn::consent_scope(&mut v);
    // A client that registered itself asks every time: its name and
    // logo are its own claims, never vouched for by an administrator.
    let consented = client.registration.is_none()
        && (client.first_party
            || engine
                .consents
                .covers(&user.id, &client.client_id, &consent_scope));
    let decision = form.get("consent");
    if is_post && decision.is_some() {
        if form.get("csrf") != Some(session_csrf(&session).as_str()) {
            return views::error(&views::ErrorPage {
                status: 403,
                error: "invalid_request",
                description: "the consent form expired; start again from the application",
            });
        }
        if decision != Some("allow") {
            return reply.error("access_denied", "the user denied the request");
        }
        let grant = GrantConsent {
            user_id: user.id,
            client_id: client.client_id.clone(),
            scope: consent_scope.clone(),
        };
        match engine.directory.send(grant).await {
            Ok(Ok(())) => {}
            _ => {
                return reply.error(
                    "temporarily_unavailable",
                    "the consent could not be saved; try again",
                )
            }
        }
    } else if !consented || v.prompt_consent {
        if v.prompt_none {
            return reply.error(
                "consent_required",
                "the user has not consented to this client and scope",
            );
        }
        let mut page = consent_page(
            client,
            carry,
            &session,
            &user,
            &consent_scope,
            reply.redirect_uri,
        );
        // Allow and Deny both end in a redirect to the client.
        views::allow_form_targets(
            &mut page,
            &views::csp_source(reply.redirect_uri)
                .into_iter()
                .collect::<Vec<_>>(),
        );
        return page;
    }
    if let Err(why) = super::use_up(state, pushed).await {
        return reply.error("invalid_request", why);
    }
    issue_code(state, client, form, reply, v, &session, &user).await
}

fn consent_page(
    client: &Client,
    form: &OAuthForm,
    session: &Session,
    user: &User,
    scope: &Scope,
    redirect_uri: &str,
) -> HttpResponse {
    let scopes: Vec<(&str, &str)> = scope
        .tokens()
        .iter()
        .map(|s| (s.as_str(), views::scope_description(s)))
        .collect();
    let hidden: Vec<(&str, &str)> = form
        .pairs()
        .iter()
        .filter(|(k, _)| k != "consent" && k != "csrf")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let csrf = session_csrf(session);
    views::consent(&views::ConsentPage {
        client_name: &client.name,
        client_id: &client.client_id,
        scopes: &scopes,
        user: &user.username,
        csrf: &csrf,
        form_action: "/oauth2/authorize",
        hidden: &hidden,
        // Where the answer goes, said plainly when no administrator
        // vouched for the client's name.
        self_registered: client.registration.is_some().then_some(redirect_uri),
    })
}

async fn issue_code(
    state: &AppState,
    client: &Client,
    form: &OAuthForm,
    reply: &Reply<'_>,
    v: Validated,
    session: &Session,
    user: &User,
) -> HttpResponse {
    let engine = &state.engine;
    let now = engine.clock.now();
    let code = secret::new_secret(prefix::AUTH_CODE);
    let record = AuthCode {
        client_id: client.client_id.clone(),
        redirect_uri: reply.redirect_uri.to_string(),
        user_id: user.id,
        scope: v.scope.to_string(),
        nonce: form.get("nonce").map(str::to_string),
        pkce: v.pkce,
        auth_time: session.auth_time,
        sid: Some(session.id),
        amr: session.amr.clone(),
        iat: now,
        exp: now + engine.config.code_ttl,
        family: tessera_actors::idmap::new_id(),
        consumed: false,
        dpop_jkt: v.dpop_jkt,
        resources: v.resources,
        claims: v.claims.claims,
    };
    match engine
        .issuer
        .send(IssueCode {
            key: secret::token_key(&code),
            code: record,
        })
        .await
    {
        Ok(Ok(())) => {
            metrics::counter!("tessera_authorization_codes_issued_total").increment(1);
            crate::backchannel::record_client(engine, session, client).await;
            reply.redirect(&[("code", &code)])
        }
        _ => reply.error(
            "temporarily_unavailable",
            "the authorization could not be recorded; try again",
        ),
    }
}
