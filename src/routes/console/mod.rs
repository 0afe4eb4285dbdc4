//! `/admin/console`: the admin console, server-rendered pages over the
//! same operations as the admin JSON API (`crate::routes::admin`).
//!
//! Every action the console offers calls the operation the JSON handler
//! calls, with a `Who` that says `via=console`, so the engine change and
//! its audit record are one code path. Pages only read the published
//! views (or the operations' listings) and draw.
//!
//! Security: a console session of its own (`session.rs`), every form
//! carrying that session's token (`form.rs`: no session, or a wrong
//! token, is a `403` and nothing is done), every page served with
//! `no-store`, `X-Frame-Options: DENY`, `frame-ancestors 'none'` and a
//! script nonce of its own (`render.rs`).
//!
//! The pages are HTML for people, not an API: they are registered here
//! and left out of `/openapi.json`, as `/docs` is.
//!
//! - `session.rs` — the console session and its cookies.
//! - `signin.rs` — signing in (token or admin user) and out.
//! - `form.rs` — form bodies and the guard of every POST.
//! - `render.rs` — the page frame, headers and small answers.
//! - `audit.rs` — who acts, for the audit log.
//! - `ops.rs` — the admin operations every action calls.
//! - `overview.rs`, `clients.rs` + `client_form.rs`, `users.rs`,
//!   `tokens.rs`, `keys.rs`, `listings.rs` (sessions, entities and API
//!   keys, and the tables they share) and `status.rs` (mail, cluster,
//!   audit log) — the sections.

mod audit;
mod client_form;
mod clients;
mod form;
mod keys;
mod listings;
mod ops;
mod overview;
mod render;
pub mod session;
mod signin;
mod status;
mod tokens;
mod users;

use actix_web::web;

/// Register every console route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(session::BASE)
            .route("", web::get().to(overview::overview))
            .route("/", web::get().to(overview::overview))
            .route("/signin", web::get().to(signin::signin_get))
            .route("/signin", web::post().to(signin::signin_token))
            .route("/signin/user", web::post().to(signin::signin_user))
            .route("/signout", web::post().to(signin::signout))
            .route("/clients", web::get().to(clients::list))
            .route("/clients", web::post().to(clients::create))
            .route("/clients/new", web::get().to(clients::new_form))
            .route("/clients/{id}", web::get().to(clients::show))
            .route("/clients/{id}", web::post().to(clients::update))
            .route(
                "/clients/{id}/secret",
                web::post().to(clients::rotate_secret),
            )
            .route("/clients/{id}/delete", web::post().to(clients::delete))
            .route("/users", web::get().to(users::list))
            .route("/users/{id}", web::get().to(users::show))
            .route("/users/{id}/{action}", web::post().to(users::act))
            .route("/sessions", web::get().to(listings::sessions))
            .route("/sessions/end", web::post().to(listings::end_session))
            .route("/tokens", web::get().to(tokens::page))
            .route("/tokens/revoke", web::post().to(tokens::revoke))
            .route("/entities", web::get().to(listings::entities))
            .route(
                "/entities/{id}/apikeys/{key}/revoke",
                web::post().to(listings::revoke_api_key),
            )
            .route("/mail", web::get().to(status::mail))
            .route("/mail/{id}/{action}", web::post().to(status::dead_letter))
            .route("/cluster", web::get().to(status::cluster))
            .route("/audit", web::get().to(status::audit_log))
            .route("/keys", web::get().to(keys::page))
            .route("/keys/rotate", web::post().to(keys::rotate)),
    );
}
