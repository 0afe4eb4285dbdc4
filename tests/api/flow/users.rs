//! Users made through the engine (argon2 by the server's own pool, TOTP
//! enabled directly) and relying parties registered through the admin API.

use serde_json::{json, Value};
use tessera_actors::directory::{CreateUser, NewUser, Totp, UpdateUser, UserPatch};

use super::{PASSWORD, POST_LOGOUT, REDIRECT, SCOPE};
use crate::helpers::{TestApp, TestClient};

#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: uuid::Uuid,
    pub username: String,
    pub email: String,
    pub password: String,
}

/// An argon2 hash of `password`, made by the server's own pool.
pub async fn password_hash(app: &TestApp, password: &str) -> String {
    app.engine
        .passwords
        .hash(password.into())
        .await
        .expect("argon2 hash")
}

/// An active, verified user with password [`PASSWORD`].
pub async fn create_user(app: &TestApp, username: &str) -> TestUser {
    let hash = password_hash(app, PASSWORD).await;
    create_user_with_hash(app, username, &hash).await
}

/// An active, verified user whose password hash is `hash` (of [`PASSWORD`]).
pub async fn create_user_with_hash(app: &TestApp, username: &str, hash: &str) -> TestUser {
    let email = format!("{username}@example.com");
    let user = app
        .engine
        .directory
        .send(CreateUser(NewUser {
            username: username.into(),
            email: email.clone(),
            password_hash: hash.into(),
            email_verified: true,
            name: Some(format!("{username} Example")),
            ..Default::default()
        }))
        .await
        .expect("directory mailbox")
        .expect("user created");
    TestUser {
        id: user.id,
        username: username.into(),
        email,
        password: PASSWORD.into(),
    }
}

/// Enable TOTP for `user`; the base32 secret.
pub async fn enable_totp(app: &TestApp, user: &TestUser) -> String {
    let secret = tessera_actors::totp::enrol("tessera", &user.email)
        .expect("enrolment")
        .secret;
    app.engine
        .directory
        .send(UpdateUser {
            id: user.id,
            patch: UserPatch {
                totp: Some(Some(Totp {
                    secret: secret.clone(),
                    enabled: true,
                    last_step: 0,
                })),
                ..Default::default()
            },
        })
        .await
        .expect("directory mailbox")
        .expect("TOTP set");
    secret
}

/// The TOTP code for `secret` at `offset` seconds from the app's clock.
pub fn totp_code(app: &TestApp, secret: &str, offset: i64) -> String {
    tessera_actors::totp::code_at(secret, app.now() + offset).expect("TOTP code")
}

/// A registered relying party.
#[derive(Debug, Clone)]
pub struct Rp {
    pub client: TestClient,
    pub redirect_uri: String,
}

impl Rp {
    pub fn id(&self) -> &str {
        &self.client.id
    }
    pub fn is_public(&self) -> bool {
        self.client.secret.is_empty()
    }
}

/// Register a code-flow client: the defaults (public, third party,
/// [`REDIRECT`], [`POST_LOGOUT`], `openid profile email read`) with the
/// members of `spec` on top.
pub async fn rp_with(app: &TestApp, spec: Value) -> Rp {
    let mut full = json!({
        "public": true,
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [REDIRECT],
        "post_logout_redirect_uris": [POST_LOGOUT],
        "scope": SCOPE,
    });
    for (k, v) in spec.as_object().expect("spec object") {
        full[k] = v.clone();
    }
    let redirect_uri = full["redirect_uris"][0]
        .as_str()
        .expect("a redirect URI")
        .to_string();
    Rp {
        client: app.create_client(full).await,
        redirect_uri,
    }
}

/// A public, third-party client (consent page shown).
pub async fn public_rp(app: &TestApp) -> Rp {
    rp_with(app, json!({})).await
}

/// A public, first-party client (no consent page).
pub async fn first_party_rp(app: &TestApp) -> Rp {
    rp_with(app, json!({"first_party": true})).await
}

/// A confidential, first-party client.
pub async fn confidential_rp(app: &TestApp) -> Rp {
    rp_with(app, json!({"public": false, "first_party": true})).await
}

/// A resource server allowed to introspect every token.
pub async fn introspector(app: &TestApp) -> TestClient {
    app.create_client(json!({"introspect_any": true, "scope": "read"}))
        .await
}
