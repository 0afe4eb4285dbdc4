//! End-to-end test of the browser pages in real headless Chromium, driven
//! over WebDriver (chromedriver) with fantoccini.
//!
//! A user registers on the registration page, reads the code from the mail
//! (a loopback SMTP sink), confirms it and is signed in, enrols TOTP on the
//! account page (the code computed here from the key the page shows), signs
//! out, then an OAuth client sends the browser to `/oauth2/authorize`: login
//! with password and TOTP, consent, and the client's loopback listener
//! receives the code, which is exchanged for tokens whose ID token is
//! checked. Finally the client asks for RP-initiated logout and the user
//! confirms it. Every page is saved as `target/e2e-screenshots/NN-name.png`.
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (`.ci/run`
//! installs them); without them the test fails saying so, unless
//! `TESSERA_SKIP_BROWSER=1`.

#[allow(dead_code, unused_imports)]
#[path = "../api/helpers.rs"]
mod helpers;
#[allow(dead_code, unused_imports)]
#[path = "../api/smtp_sink.rs"]
mod smtp_sink;
#[allow(dead_code)]
#[path = "../api/testdb.rs"]
mod testdb;

mod console;
mod passkeys;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use helpers::TestApp;

const PASSWORD: &str = "correct horse battery staple";
/// Every WebDriver step and wait is bounded by this.
const STEP: Duration = Duration::from_secs(20);

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

async fn start_driver(chromedriver: &Path) -> Driver {
    let port = free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + STEP;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen within {STEP:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    driver
}

async fn connect(driver: &Driver, chromium: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--window-size=900,1000",
            ],
        }),
    );
    let builder = ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(caps)
        .to_owned();
    tokio::time::timeout(STEP, builder.connect(&driver.url))
        .await
        .expect("a WebDriver session within the step limit")
        .expect("a WebDriver session")
}

/// The relying party's redirect target: answers every request with a small
/// page and keeps the request targets it saw.
async fn start_listener() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listener");
    let port = listener.local_addr().expect("address").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    actix_web::rt::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 16 * 1024];
            let n = match tokio::time::timeout(STEP, sock.read(&mut buf)).await {
                Ok(Ok(n)) => n,
                _ => continue,
            };
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let target = head
                .lines()
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .unwrap_or_default()
                .to_string();
            if !target.starts_with("/favicon") {
                log.lock().expect("log").push(target.clone());
            }
            let body = format!(
                "<!DOCTYPE html><html lang=\"en\"><head><title>Client</title></head>\
                 <body><h1>The client received</h1><p>{}</p></body></html>",
                target.replace('&', "&amp;").replace('<', "&lt;")
            );
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (port, seen)
}

struct Shots {
    dir: PathBuf,
    n: u32,
}

impl Shots {
    async fn take(&mut self, c: &Client, name: &str) {
        self.n += 1;
        let png = tokio::time::timeout(STEP, c.screenshot())
            .await
            .expect("screenshot within the step limit")
            .expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = self.dir.join(format!("{:02}-{name}.png", self.n));
        std::fs::write(&path, png).expect("screenshot written");
    }
}

async fn goto(c: &Client, url: &str) {
    tokio::time::timeout(STEP, c.goto(url))
        .await
        .expect("navigation within the step limit")
        .expect("navigation");
}

/// Wait (bounded) until the current URL's path is `path`.
async fn wait_path(c: &Client, path: &str) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        let url = c.current_url().await.expect("current url");
        if url.path() == path {
            return url.as_str().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "expected {path}, still at {url}: {}",
            c.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fill(c: &Client, id: &str, value: &str) {
    let e = tokio::time::timeout(STEP, c.wait().at_most(STEP).for_element(Locator::Id(id)))
        .await
        .expect("element within the step limit")
        .unwrap_or_else(|e| panic!("#{id}: {e}"));
    e.send_keys(value).await.expect("typing");
}

async fn click(c: &Client, css: &str) {
    let e = c
        .wait()
        .at_most(STEP)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.click().await.expect("click");
}

async fn text_of(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(STEP)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

/// The TOTP code for a base32 `secret` at unix time `now` (SHA-1, 6 digits,
/// 30 s: what an authenticator app computes).
fn totp(secret: &str, now: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret.trim()).expect("a base32 key");
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(secret)
        .build()
        .expect("a TOTP")
        .generate(u64::try_from(now).expect("after 1970"))
        .to_string()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1.split('#').next()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[actix_web::test]
async fn a_user_registers_enrols_totp_consents_and_logs_out_in_chromium() {
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
    let overall = Duration::from_secs(240);
    tokio::time::timeout(overall, run(&chromedriver, &chromium))
        .await
        .expect("the whole browser flow within 240 s");
}

async fn run(chromedriver: &Path, chromium: &Path) {
    let (app, sink) = smtp_sink::spawn_app_with_mail(|_| {}).await;
    let (rp_port, seen) = start_listener().await;
    let redirect_uri = format!("http://127.0.0.1:{rp_port}/cb");
    let logged_out_uri = format!("http://127.0.0.1:{rp_port}/logged-out");
    let rp = app
        .create_client(json!({
            "name": "Acme Notes",
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [redirect_uri],
            "post_logout_redirect_uris": [logged_out_uri],
            "scope": "openid profile email",
        }))
        .await;

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/e2e-screenshots");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    let mut shots = Shots { dir, n: 0 };

    let driver = start_driver(chromedriver).await;
    let c = connect(&driver, chromium).await;
    let result = flow(
        &app,
        &sink,
        &c,
        &mut shots,
        &rp,
        &redirect_uri,
        &logged_out_uri,
        &seen,
    )
    .await;
    let _ = tokio::time::timeout(STEP, c.close()).await;
    drop(driver);
    result
}

#[allow(clippy::too_many_arguments)]
async fn flow(
    app: &TestApp,
    sink: &smtp_sink::SmtpSink,
    c: &Client,
    shots: &mut Shots,
    rp: &helpers::TestClient,
    redirect_uri: &str,
    logged_out_uri: &str,
    seen: &Arc<Mutex<Vec<String>>>,
) {
    let base = &app.address;

    // Registration.
    goto(c, &format!("{base}/auth/register")).await;
    fill(c, "username", "ada").await;
    fill(c, "email", "ada@example.com").await;
    fill(c, "password", PASSWORD).await;
    fill(c, "password_confirm", PASSWORD).await;
    shots.take(c, "register").await;
    click(c, "button[type=submit]").await;
    wait_path(c, "/auth/register/code").await;
    let code = sink.mail_to("ada@example.com").await.code();
    fill(c, "code", &code).await;
    shots.take(c, "register-code").await;
    click(c, "button[type=submit]").await;

    // Signed in: the account page, and TOTP enrolment.
    wait_path(c, "/account").await;
    assert!(text_of(c, "main").await.contains("ada@example.com"));
    shots.take(c, "account").await;
    click(c, "form[action='/account/totp'] button").await;
    let secret = text_of(c, "#totp-secret").await;
    let qr_width = c
        .execute("return document.querySelector('img').naturalWidth", vec![])
        .await
        .expect("script");
    assert!(
        qr_width.as_u64().unwrap_or(0) > 0,
        "the QR code renders: {qr_width}"
    );
    shots.take(c, "totp-enrol").await;
    fill(c, "code", &totp(&secret, app.now())).await;
    click(c, "button[type=submit]").await;
    wait_path(c, "/account").await;
    assert!(text_of(c, "main")
        .await
        .contains("Two-step verification is on."));
    shots.take(c, "account-totp-on").await;

    // Sign out from the account page.
    click(c, "form[action='/auth/logout'] button").await;
    wait_path(c, "/auth/logout").await;
    assert!(text_of(c, "h1").await.contains("Signed out"));
    shots.take(c, "signed-out").await;

    // The client starts an authorization request.
    app.clock.advance(30); // a fresh TOTP step (each code works once)
    let verifier = "e2e-verifier-0123456789-0123456789-0123456789";
    let challenge = {
        use base64::Engine as _;
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(verifier.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    };
    let authorize: String = form_urlencoded::Serializer::new(format!("{base}/oauth2/authorize?"))
        .append_pair("response_type", "code")
        .append_pair("client_id", &rp.id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "openid profile email")
        .append_pair("state", "st-1")
        .append_pair("nonce", "n-1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    goto(c, &authorize).await;
    wait_path(c, "/auth/login").await;
    let _ = text_of(c, "#login").await;
    let focused = c
        .execute(
            "return document.activeElement && document.activeElement.id",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(
        focused,
        json!("login"),
        "the page starts with the first field focused"
    );
    fill(c, "login", "ada").await;
    fill(c, "password", PASSWORD).await;
    shots.take(c, "login").await;
    click(c, "button[type=submit]").await;
    wait_path(c, "/auth/login").await;
    let _ = text_of(c, "#code").await;
    fill(c, "code", &totp(&secret, app.now())).await;
    shots.take(c, "login-totp").await;
    click(c, "button[type=submit]").await;

    // Consent, then the client's redirect (allowed by form-action).
    wait_path(c, "/oauth2/authorize").await;
    assert!(text_of(c, "h1").await.contains("Acme Notes"));
    shots.take(c, "consent").await;
    click(c, "button[value=allow]").await;
    let back = wait_path(c, "/cb").await;
    shots.take(c, "client-callback").await;
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-1"));
    assert_eq!(
        query_param(&back, "iss").as_deref(),
        Some(app.issuer.as_str())
    );
    let code = query_param(&back, "code").expect("a code");
    assert!(
        seen.lock()
            .expect("log")
            .iter()
            .any(|t| t.starts_with("/cb?code=")),
        "the client's listener received the code"
    );

    // The client exchanges the code.
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let tokens: Value = r.json().await.expect("token JSON");
    let id_token = tokens["id_token"]
        .as_str()
        .expect("an ID token")
        .to_string();
    let claims = verify_id_token(app, &id_token, &rp.id).await;
    let user = app.engine.users.by_login("ada").expect("the user");
    assert_eq!(claims["sub"], user.id.to_string());
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["email"], "ada@example.com");
    let amr: Vec<&str> = claims["amr"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(amr.contains(&"pwd") && amr.contains(&"otp"), "{claims}");

    // RP-initiated logout, confirmed by the user. (With the ID token of this
    // session as id_token_hint the logout would not ask.)
    let logout: String = form_urlencoded::Serializer::new(format!("{base}/auth/logout?"))
        .append_pair("client_id", &rp.id)
        .append_pair("post_logout_redirect_uri", logged_out_uri)
        .append_pair("state", "bye")
        .finish();
    goto(c, &logout).await;
    assert!(text_of(c, "h1").await.contains("Sign out?"));
    shots.take(c, "logout-confirm").await;
    click(c, "button[value=yes]").await;
    let gone = wait_path(c, "/logged-out").await;
    assert_eq!(query_param(&gone, "state").as_deref(), Some("bye"));
    shots.take(c, "client-logged-out").await;
    // The session has ended: the account page sends the browser to log in.
    goto(c, &format!("{base}/account")).await;
    wait_path(c, "/auth/login").await;
    shots.take(c, "login-again").await;
}

/// Check the ID token's signature against the JWKS and its claims.
async fn verify_id_token(app: &TestApp, token: &str, client_id: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("JWT header");
    let jwks = app.jwks().await;
    let jwk = jwks["keys"]
        .as_array()
        .and_then(|ks| {
            ks.iter()
                .find(|k| k["kid"].as_str() == header.kid.as_deref())
        })
        .expect("the signing key is published");
    let key: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).expect("a JWK");
    let key = jsonwebtoken::DecodingKey::from_jwk(&key).expect("a decoding key");
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[client_id]);
    v.set_issuer(&[app.issuer.as_str()]);
    // The server runs on a hand-driven clock: expiry is checked against it.
    v.validate_exp = false;
    let data = jsonwebtoken::decode::<Value>(token, &key, &v).expect("a valid ID token");
    let claims = data.claims;
    let exp = claims["exp"].as_i64().expect("exp");
    assert!(exp > app.now(), "{claims}");
    claims
}

/// The device authorization grant (RFC 8628) with Chromium as the user's
/// browser: the device starts an authorization and polls over HTTP while
/// the user opens the verification page, signs in with password and TOTP,
/// types the code and allows the device. Screenshots go to
/// `target/e2e-screenshots-device/`.
mod device_flow {
    use super::*;
    use tessera_actors::directory::{CreateUser, NewUser, Totp, UpdateUser, UserPatch};

    const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

    #[actix_web::test]
    async fn a_device_is_approved_in_chromium_after_password_and_totp() {
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
            .expect("the whole device flow within 240 s");
    }

    /// A user with password [`PASSWORD`] and TOTP on; the TOTP key.
    async fn user_with_totp(app: &TestApp) -> String {
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
                username: "grace".into(),
                email: "grace@example.com".into(),
                password_hash: hash,
                email_verified: true,
                ..Default::default()
            }))
            .await
            .expect("directory mailbox")
            .expect("user created");
        let secret = tessera_actors::totp::enrol("tessera", "grace@example.com")
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

    async fn run(chromedriver: &Path, chromium: &Path) {
        let app = helpers::spawn_app().await;
        let secret = user_with_totp(&app).await;
        let tv = app
            .create_client(json!({
                "name": "Living Room TV",
                "public": true,
                "grant_types": [DEVICE_GRANT, "refresh_token"],
                "scope": "openid profile",
            }))
            .await;

        // The device asks, and shows the code.
        let r = app
            .http
            .post(app.url("/oauth2/device_authorization"))
            .form(&[("client_id", tv.id.as_str()), ("scope", "openid profile")])
            .send()
            .await
            .expect("device authorization");
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        let started: Value = r.json().await.expect("JSON");
        let user_code = started["user_code"]
            .as_str()
            .expect("user_code")
            .to_string();
        let device_code = started["device_code"]
            .as_str()
            .expect("device_code")
            .to_string();
        let interval = started["interval"].as_i64().expect("interval");
        assert_eq!(
            started["verification_uri"],
            format!("{}/device", app.issuer)
        );

        // The device polls while the user acts; the hand-driven clock moves
        // one interval before each poll.
        let (http, url, clock, client_id) = (
            app.http.clone(),
            app.url("/oauth2/token"),
            app.clock.clone(),
            tv.id.clone(),
        );
        let device = actix_web::rt::spawn(async move {
            let mut pending = 0;
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                clock.advance(interval);
                let r = http
                    .post(&url)
                    .form(&[
                        ("grant_type", DEVICE_GRANT),
                        ("device_code", device_code.as_str()),
                        ("client_id", client_id.as_str()),
                    ])
                    .send()
                    .await
                    .expect("poll");
                let status = r.status();
                let body: Value = r.json().await.expect("token JSON");
                if status == reqwest::StatusCode::OK {
                    return (pending, body);
                }
                assert_eq!(body["error"], "authorization_pending", "{body}");
                pending += 1;
            }
        });

        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/e2e-screenshots-device");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let mut shots = Shots { dir, n: 0 };
        let driver = start_driver(chromedriver).await;
        let c = connect(&driver, chromium).await;

        let verification = started["verification_uri"].as_str().expect("a URI");
        goto(&c, verification).await;
        wait_path(&c, "/auth/login").await;
        fill(&c, "login", "grace").await;
        fill(&c, "password", PASSWORD).await;
        shots.take(&c, "login").await;
        click(&c, "button[type=submit]").await;
        wait_path(&c, "/auth/login").await;
        let _ = text_of(&c, "#code").await;
        fill(&c, "code", &totp(&secret, app.now())).await;
        shots.take(&c, "login-totp").await;
        click(&c, "button[type=submit]").await;

        // Back at the verification page: the code as the user types it.
        wait_path(&c, "/device").await;
        assert!(text_of(&c, "h1").await.contains("Connect a device"));
        let typed = user_code.replace('-', " ").to_lowercase();
        fill(&c, "user_code", &typed).await;
        shots.take(&c, "device-code").await;
        click(&c, "button[type=submit]").await;
        wait_path(&c, "/device").await;
        assert!(text_of(&c, "h1").await.contains("Living Room TV"));
        assert!(text_of(&c, "main").await.contains(&user_code));
        shots.take(&c, "device-consent").await;
        click(&c, "button[value=allow]").await;
        let deadline = Instant::now() + STEP;
        while !text_of(&c, "h1").await.contains("Device connected") {
            assert!(
                Instant::now() < deadline,
                "{}",
                c.source().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        shots.take(&c, "device-connected").await;
        let _ = tokio::time::timeout(STEP, c.close()).await;
        drop(driver);

        let (pending, tokens) = tokio::time::timeout(STEP, device)
            .await
            .expect("the device gets its tokens within the step limit")
            .expect("the polling task");
        assert!(pending >= 1, "the device polled while the user acted");
        let id_token = tokens["id_token"].as_str().expect("an ID token");
        let claims = verify_id_token(&app, id_token, &tv.id).await;
        let user = app.engine.users.by_login("grace").expect("the user");
        assert_eq!(claims["sub"], user.id.to_string());
        let amr: Vec<&str> = claims["amr"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert!(amr.contains(&"otp"), "the TOTP step counts: {claims}");
        assert!(tokens["refresh_token"].is_string(), "{tokens}");
    }
}
