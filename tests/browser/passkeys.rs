//! Passkeys in Chromium, with the WebDriver virtual authenticator (CTAP2,
//! internal transport, resident keys, user verification): a user adds a
//! passkey on the account page, signs out, signs in with the passkey alone
//! inside an authorization request (the ID token says `hwk` and `user`),
//! signs in with password and the passkey as the second factor, and
//! removes the passkey, after which it no longer signs in.
//!
//! The pages are opened on `localhost`: WebAuthn needs a domain for the
//! relying party, and a server on 127.0.0.1 uses `localhost`. Screenshots
//! go to `target/e2e-screenshots-passkeys/`.

use super::*;

use fantoccini::wd::WebDriverCompatibleCommand;
use tessera_actors::directory::{CreateUser, NewUser};
use webauthn_rs::prelude::Url;

/// A command of the WebDriver virtual authenticator API (W3C WebAuthn
/// §11), which fantoccini has no helper for.
#[derive(Debug)]
struct WebAuthnCmd {
    method: reqwest::Method,
    /// Under `/session/{id}/webauthn/`.
    path: String,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for WebAuthnCmd {
    fn endpoint(&self, base: &Url, session_id: Option<&str>) -> Result<Url, url_parse::ParseError> {
        base.join(&format!(
            "session/{}/webauthn/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &Url) -> (reqwest::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(|b| b.to_string()),
        )
    }
}

mod url_parse {
    pub use webauthn_rs::prelude::Url;
    pub type ParseError = <Url as std::str::FromStr>::Err;
}

async fn webauthn(c: &Client, method: reqwest::Method, path: String, body: Option<Value>) -> Value {
    tokio::time::timeout(STEP, c.issue_cmd(WebAuthnCmd { method, path, body }))
        .await
        .expect("a WebDriver answer within the step limit")
        .expect("the virtual authenticator command")
}

/// A platform authenticator that keeps passkeys and verifies the user.
async fn add_authenticator(c: &Client) -> String {
    let id = webauthn(
        c,
        reqwest::Method::POST,
        "authenticator".into(),
        Some(json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
            "automaticPresenceSimulation": true,
        })),
    )
    .await;
    id.as_str().expect("an authenticator id").to_string()
}

async fn credentials(c: &Client, authenticator: &str) -> Vec<Value> {
    webauthn(
        c,
        reqwest::Method::GET,
        format!("authenticator/{authenticator}/credentials"),
        None,
    )
    .await
    .as_array()
    .cloned()
    .unwrap_or_default()
}

/// Whether the authenticator passes user verification. Off, it answers
/// no request here (they all require it): the login page's autofill
/// request then ends without signing in.
async fn set_uv(c: &Client, authenticator: &str, on: bool) {
    webauthn(
        c,
        reqwest::Method::POST,
        format!("authenticator/{authenticator}/uv"),
        Some(json!({"isUserVerified": on})),
    )
    .await;
}

/// The newest session of the user.
fn newest_session(
    app: &TestApp,
    user: &uuid::Uuid,
) -> std::sync::Arc<tessera_actors::sessions::Session> {
    app.engine
        .sessions
        .of_user(user)
        .into_iter()
        .max_by_key(|s| (s.created_at, s.auth_time))
        .expect("a session")
}

/// Wait (bounded) until `#passkey-error` shows a message.
async fn passkey_error(c: &Client) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        let shown = c
            .execute(
                "var e = document.getElementById('passkey-error'); \
                 return e && !e.hidden ? e.textContent : null;",
                vec![],
            )
            .await
            .expect("script");
        if let Some(t) = shown.as_str() {
            return t.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no passkey error shown: {}",
            c.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sign_out(c: &Client, base: &str) {
    goto(c, &format!("{base}/account")).await;
    click(c, "form[action='/auth/logout'] button").await;
    wait_path(c, "/auth/logout").await;
}

#[actix_web::test]
async fn a_passkey_is_added_used_alone_and_as_second_factor_then_removed_in_chromium() {
    if std::env::var("TESSERA_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("TESSERA_SKIP_BROWSER=1: the browser test is skipped");
        return;
    }
    let chromedriver = find_program(&["chromedriver"]);
    let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"]);
    let (Some(chromedriver), Some(chromium)) = (chromedriver, chromium) else {
        panic!(
            "the browser test needs Chromium and chromedriver: \
             `apt-get install -y chromium chromium-driver` \
             (or set TESSERA_SKIP_BROWSER=1 to skip it)"
        );
    };
    tokio::time::timeout(Duration::from_secs(240), run(&chromedriver, &chromium))
        .await
        .expect("the whole passkey flow within 240 s");
}

async fn run(chromedriver: &Path, chromium: &Path) {
    let app = helpers::spawn_app().await;
    let hash = app
        .engine
        .passwords
        .hash(PASSWORD.into())
        .await
        .expect("argon2 hash");
    let user = app
        .engine
        .directory
        .send(CreateUser(NewUser {
            username: "lin".into(),
            email: "lin@example.com".into(),
            password_hash: hash,
            email_verified: true,
            name: Some("Lin Example".into()),
            ..Default::default()
        }))
        .await
        .expect("directory mailbox")
        .expect("user created");
    let (rp_port, seen) = start_listener().await;
    let redirect_uri = format!("http://127.0.0.1:{rp_port}/cb");
    let rp = app
        .create_client(json!({
            "name": "Acme Notes",
            "grant_types": ["authorization_code"],
            "redirect_uris": [redirect_uri],
            "scope": "openid profile",
        }))
        .await;

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/e2e-screenshots-passkeys");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    let mut shots = Shots { dir, n: 0 };

    let driver = start_driver(chromedriver).await;
    let c = connect(&driver, chromium).await;
    let base = format!("http://localhost:{}", app.port);
    let authenticator = add_authenticator(&c).await;

    // Signed in with the password: the account page, then the passkeys.
    goto(&c, &format!("{base}/auth/login?return_to=%2Faccount")).await;
    fill(&c, "login", "lin").await;
    fill(&c, "password", PASSWORD).await;
    click(&c, "form[action='/auth/login'] button[type=submit]").await;
    wait_path(&c, "/account").await;
    click(&c, "a[href='/account/passkeys']").await;
    wait_path(&c, "/account/passkeys").await;
    assert!(text_of(&c, "main").await.contains("no passkeys yet"));
    fill(&c, "passkey-name", "This laptop").await;
    shots.take(&c, "passkeys-empty").await;
    click(&c, "#passkey-add button[type=submit]").await;
    let deadline = Instant::now() + STEP;
    while !c
        .current_url()
        .await
        .expect("url")
        .as_str()
        .ends_with("done=added")
    {
        assert!(
            Instant::now() < deadline,
            "the passkey was not added: {}",
            c.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let main = text_of(&c, "main").await;
    assert!(main.contains("The passkey was added."), "{main}");
    assert!(main.contains("This laptop"), "{main}");
    shots.take(&c, "passkeys-added").await;
    let stored = app.engine.users.get(&user.id).expect("user");
    assert_eq!(stored.passkeys.len(), 1);
    let creds = credentials(&c, &authenticator).await;
    assert_eq!(creds.len(), 1, "{creds:?}");
    assert_eq!(creds[0]["isResidentCredential"], true, "{creds:?}");

    // Signed out, an application asks: the passkey alone signs in.
    sign_out(&c, &base).await;
    let verifier = "e2e-passkey-verifier-0123456789-0123456789-0123";
    let challenge = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()))
    };
    let authorize: String = form_urlencoded::Serializer::new(format!("{base}/oauth2/authorize?"))
        .append_pair("response_type", "code")
        .append_pair("client_id", &rp.id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", "openid profile")
        .append_pair("state", "pk-1")
        .append_pair("nonce", "n-pk")
        .append_pair("acr_values", "mfa")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    // The login page's autofill request (conditional mediation) finds the
    // passkey, and the authenticator answers it: signed in, on to consent.
    goto(&c, &authorize).await;
    wait_path(&c, "/oauth2/authorize").await;
    assert!(text_of(&c, "main").await.contains("Acme Notes"));
    shots.take(&c, "consent-after-passkey").await;
    click(&c, "button[name=consent][value=allow]").await;
    wait_path(&c, "/cb").await;
    let target = seen
        .lock()
        .expect("log")
        .last()
        .cloned()
        .expect("a callback");
    assert_eq!(query_param(&target, "state").as_deref(), Some("pk-1"));
    let code = query_param(&target, "code").expect("a code");
    let tokens: Value = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token JSON");
    let id = verify_id_token(
        &app,
        tokens["id_token"].as_str().expect("an ID token"),
        &rp.id,
    )
    .await;
    assert_eq!(id["sub"], user.id.to_string());
    assert_eq!(id["acr"], "mfa", "{id}");
    assert_eq!(id["amr"], json!(["hwk", "user"]), "{id}");

    // The button: the autofill request has ended unanswered (no user
    // verification), then the user presses "Sign in with a passkey".
    sign_out(&c, &base).await;
    set_uv(&c, &authenticator, false).await;
    goto(&c, &format!("{base}/auth/login?return_to=%2Faccount")).await;
    let _ = text_of(&c, "#passkey-login").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(c.current_url().await.expect("url").path() == "/auth/login");
    shots.take(&c, "login-with-passkey").await;
    set_uv(&c, &authenticator, true).await;
    click(&c, "#passkey-login").await;
    wait_path(&c, "/account").await;
    assert_eq!(newest_session(&app, &user.id).amr, vec!["hwk", "user"]);

    // Password, then the passkey as the second factor.
    sign_out(&c, &base).await;
    set_uv(&c, &authenticator, false).await;
    goto(&c, &format!("{base}/auth/login?return_to=%2Faccount")).await;
    fill(&c, "login", "lin").await;
    fill(&c, "password", PASSWORD).await;
    click(&c, "form[action='/auth/login'] button[type=submit]").await;
    let _ = text_of(&c, "#passkey-mfa").await;
    let main = text_of(&c, "main").await;
    assert!(main.contains("Two-step verification"), "{main}");
    assert!(main.contains("Use a passkey"), "{main}");
    shots.take(&c, "second-factor").await;
    set_uv(&c, &authenticator, true).await;
    click(&c, "#passkey-mfa").await;
    wait_path(&c, "/account").await;
    assert_eq!(
        newest_session(&app, &user.id).amr,
        vec!["pwd", "hwk", "user"]
    );

    // Removal: the passkey is gone, and no longer signs in.
    goto(&c, &format!("{base}/account/passkeys")).await;
    click(&c, "form[action='/account/passkeys/remove'] button").await;
    wait_path(&c, "/account/passkeys").await;
    let main = text_of(&c, "main").await;
    assert!(main.contains("The passkey was removed."), "{main}");
    assert!(main.contains("no passkeys yet"), "{main}");
    shots.take(&c, "passkeys-removed").await;
    assert!(app.engine.users.get(&user.id).unwrap().passkeys.is_empty());
    // The authenticator still offers it; the server no longer accepts it
    // (the autofill request first, then the button).
    sign_out(&c, &base).await;
    goto(&c, &format!("{base}/auth/login")).await;
    let msg = passkey_error(&c).await;
    assert!(msg.contains("not accepted"), "{msg}");
    c.execute(
        "document.getElementById('passkey-error').hidden = true;",
        vec![],
    )
    .await
    .expect("script");
    click(&c, "#passkey-login").await;
    let msg = passkey_error(&c).await;
    assert!(msg.contains("not accepted"), "{msg}");
    assert_eq!(c.current_url().await.expect("url").path(), "/auth/login");
    shots.take(&c, "passkey-refused").await;

    let _ = tokio::time::timeout(STEP, c.close()).await;
    drop(driver);
}
