//! Upstream OpenID login (`GET /auth/openid`, `GET /auth/oidc/login`).
//!
//! Two tessera servers on loopback: `up` is a plain tessera with a
//! confidential client for `down`, and `down` has `up` configured as
//! provider `up`. Each side gets its own cookie jar (as two host names
//! would). The JWT attacks run against a small fake provider that hands out
//! ID tokens the test forges.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tessera::federation::{ClaimMapping, ProviderSettings};
use tessera_actors::directory::{UpdateUser, UserPatch, UserStatus};
use tessera_actors::keys::material::{generate, KeyAlg};
use tessera_actors::secret::b64url;

use crate::flow::{
    assert_error_page, create_user, enable_totp, encode, exchange, first_party_rp, public_rp,
    redirect, session_cookie_set, tokens, totp_code, userinfo, AuthRequest, Browser, Redirect,
    TestUser,
};
use crate::helpers::{header, spawn_app, spawn_app_with, TestApp, TestClient};

const PROVIDER: &str = "up";

fn provider(issuer: &str, client: &TestClient) -> ProviderSettings {
    ProviderSettings {
        issuer: issuer.to_string(),
        client_id: client.id.clone(),
        client_secret: client.secret.clone(),
        scopes: "openid email profile".into(),
        claims: ClaimMapping::default(),
        leeway_seconds: 30,
        allow_insecure_http: true,
        cache_seconds: 3600,
    }
}

struct Pair {
    up: TestApp,
    down: TestApp,
}

/// An upstream tessera with a confidential client whose redirect URI is
/// the downstream's callback (loopback: any port), and a downstream that
/// knows it as provider `up`.
async fn pair() -> Pair {
    let up = spawn_app().await;
    let client = up
        .create_client(json!({
            "public": false,
            "grant_types": ["authorization_code"],
            "redirect_uris": ["http://127.0.0.1/auth/oidc/login"],
            "scope": "openid email profile",
        }))
        .await;
    let settings = provider(&up.issuer, &client);
    let down = spawn_app_with(|s| {
        s.federation
            .providers
            .insert(PROVIDER.into(), settings.clone());
    })
    .await;
    Pair { up, down }
}

/// `GET /auth/openid` on `down`; the parsed redirect to the provider.
async fn start(down: &mut Browser, return_to: Option<&str>) -> Redirect {
    let mut q = vec![("client_id", PROVIDER)];
    if let Some(r) = return_to {
        q.push(("redirect_uri", r));
    }
    let r = down.get(&format!("/auth/openid?{}", encode(&q))).await;
    assert_eq!(
        header(&r, "cache-control").as_deref(),
        Some("no-store"),
        "no caching of a redirect carrying state"
    );
    redirect(&r, StatusCode::FOUND)
}

/// Run the provider side: log in there if needed, consent, and answer the
/// redirect back to `down` (not yet followed).
async fn at_provider(p: &Pair, up: &mut Browser, user: &TestUser, to: &Redirect) -> Redirect {
    if up.session().is_none() {
        up.login(user).await;
    }
    let r = up.get(&to.raw).await;
    let r = if r.status() == StatusCode::OK {
        let html = r.text().await.expect("consent page");
        up.consent(&html, "allow").await
    } else {
        r
    };
    let back = redirect(&r, r.status());
    assert_eq!(back.base, p.down.url("/auth/oidc/login"), "{}", back.raw);
    back
}

/// The whole round trip; the downstream callback's answer.
async fn federated_login(
    p: &Pair,
    down: &mut Browser,
    up: &mut Browser,
    user: &TestUser,
    return_to: Option<&str>,
) -> Response {
    let to = start(down, return_to).await;
    let back = at_provider(p, up, user, &to).await;
    down.get(&back.raw).await
}

async fn current_user(app: &TestApp, session: &str) -> Value {
    let r = Browser::with_session(app, session)
        .get("/sessions/session")
        .await;
    let status = r.status();
    let body: Value = r.json().await.expect("session JSON");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn session_user_id(body: &Value) -> String {
    body["user"]["id"]
        .as_str()
        .or_else(|| body["data"]["user"]["id"].as_str())
        .unwrap_or_else(|| panic!("a user id in {body}"))
        .to_string()
}

#[actix_web::test]
async fn the_redirect_to_the_provider_is_a_pkce_code_request() {
    let p = pair().await;
    let mut down = Browser::new(&p.down);
    let to = start(&mut down, None).await;
    assert_eq!(to.base, p.up.url("/oauth2/authorize"));
    assert_eq!(to.get("response_type"), Some("code"));
    assert_eq!(to.get("code_challenge_method"), Some("S256"));
    assert_eq!(to.param("code_challenge").len(), 43);
    assert_eq!(to.get("scope"), Some("openid email profile"));
    assert_eq!(
        to.get("redirect_uri"),
        Some(p.down.url("/auth/oidc/login").as_str()),
        "the callback comes from the configured URL"
    );
    assert!(to.param("state").len() >= 43 && to.param("nonce").len() >= 43);
    assert!(
        down.cookies.contains_key("tessera_federation"),
        "the login is bound to this browser"
    );
    // Each login has its own state and nonce.
    let again = start(&mut down, None).await;
    assert_ne!(again.param("state"), to.param("state"));
    assert_ne!(again.param("nonce"), to.param("nonce"));
}

#[actix_web::test]
async fn a_first_login_creates_the_user_and_later_ones_find_it() {
    let p = pair().await;
    let alice = create_user(&p.up, "alice").await;
    let mut up = Browser::new(&p.up);
    let mut down = Browser::new(&p.down);
    let r = federated_login(&p, &mut down, &mut up, &alice, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let session = session_cookie_set(&r).expect("a downstream session cookie");
    let me = current_user(&p.down, &session).await;
    let local = p
        .down
        .engine
        .users
        .by_login(&alice.email)
        .expect("a local user was made");
    assert_eq!(session_user_id(&me), local.id.to_string(), "{me}");
    assert_eq!(local.username, "alice");
    assert!(local.email_verified);
    assert_eq!(local.name.as_deref(), Some("alice Example"));
    // No password works for it.
    let r = Browser::new(&p.down)
        .login_json("alice", &alice.password)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The upstream e-mail changes: the link by subject still finds her.
    p.up.engine
        .directory
        .send(UpdateUser {
            id: alice.id,
            patch: UserPatch {
                email: Some("alice.new@example.com".into()),
                ..Default::default()
            },
        })
        .await
        .unwrap()
        .unwrap();
    let mut down2 = Browser::new(&p.down);
    let r = federated_login(&p, &mut down2, &mut up, &alice, Some("/sessions/session")).await;
    let loc = redirect(&r, StatusCode::SEE_OTHER);
    assert_eq!(loc.raw, "/sessions/session");
    let session2 = session_cookie_set(&r).expect("a session cookie");
    assert_ne!(session2, session, "every login gets a new session");
    let me2 = current_user(&p.down, &session2).await;
    assert_eq!(session_user_id(&me2), local.id.to_string());
    assert_eq!(p.down.engine.users.len(), 1, "no second account");

    let metrics = p
        .down
        .http
        .get(p.down.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for result in ["created", "success"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("tessera_federation_logins_total")
                    && l.contains("provider=\"up\"")
                    && l.contains(&format!("result=\"{result}\""))),
            "{result} counted"
        );
    }
}

#[actix_web::test]
async fn a_verified_email_links_to_the_existing_account() {
    let p = pair().await;
    let upstream = create_user(&p.up, "bob").await;
    // A local account with the same address (bob@example.com), verified.
    let local = create_user(&p.down, "bob-local").await;
    p.down
        .engine
        .directory
        .send(UpdateUser {
            id: local.id,
            patch: UserPatch {
                email: Some(upstream.email.clone()),
                ..Default::default()
            },
        })
        .await
        .unwrap()
        .unwrap();
    let mut up = Browser::new(&p.up);
    let mut down = Browser::new(&p.down);
    let r = federated_login(&p, &mut down, &mut up, &upstream, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let session = session_cookie_set(&r).expect("a session cookie");
    let me = current_user(&p.down, &session).await;
    assert_eq!(session_user_id(&me), local.id.to_string());
    assert_eq!(
        p.down
            .engine
            .federation_links
            .get(PROVIDER, &upstream.id.to_string()),
        Some(local.id),
        "the upstream subject is now linked"
    );
}

#[actix_web::test]
async fn an_unverified_email_never_links() {
    let p = pair().await;
    let carol = create_user(&p.up, "carol").await;
    p.up.engine
        .directory
        .send(UpdateUser {
            id: carol.id,
            patch: UserPatch {
                email_verified: Some(false),
                ..Default::default()
            },
        })
        .await
        .unwrap()
        .unwrap();
    let local = create_user(&p.down, "carol").await;
    let mut up = Browser::new(&p.up);
    let mut down = Browser::new(&p.down);
    let r = federated_login(&p, &mut down, &mut up, &carol, None).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(session_cookie_set(&r).is_none(), "no session");
    assert!(r.text().await.unwrap().contains("email_unverified"));
    assert_eq!(
        p.down
            .engine
            .federation_links
            .get(PROVIDER, &carol.id.to_string()),
        None
    );
    assert_eq!(p.down.engine.users.len(), 1);
    assert_eq!(
        p.down.engine.users.by_login(&carol.email).unwrap().id,
        local.id
    );

    // With no local account of that address, the account is made, and it
    // keeps the address unverified.
    let dave = create_user(&p.up, "dave").await;
    p.up.engine
        .directory
        .send(UpdateUser {
            id: dave.id,
            patch: UserPatch {
                email_verified: Some(false),
                ..Default::default()
            },
        })
        .await
        .unwrap()
        .unwrap();
    let mut up = Browser::new(&p.up);
    let r = federated_login(&p, &mut Browser::new(&p.down), &mut up, &dave, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        !p.down
            .engine
            .users
            .by_login(&dave.email)
            .unwrap()
            .email_verified
    );
}

#[actix_web::test]
async fn a_pending_authorization_request_continues_to_the_client() {
    let p = pair().await;
    let erin = create_user(&p.up, "erin").await;
    let rp = public_rp(&p.down).await;
    let req = AuthRequest::new(&rp, "openid profile email");
    let mut down = Browser::new(&p.down);
    // No downstream session: authorize sends the browser to the login page.
    let r = down.get(&req.path()).await;
    let login = redirect(&r, StatusCode::FOUND);
    let return_to = login.param("return_to").to_string();
    assert!(return_to.starts_with("/oauth2/authorize?"), "{return_to}");
    // The login page's "sign in with up" path.
    let mut up = Browser::new(&p.up);
    let r = federated_login(&p, &mut down, &mut up, &erin, Some(&return_to)).await;
    let loc = redirect(&r, StatusCode::SEE_OTHER);
    assert_eq!(loc.raw, return_to);
    // The authorization request goes on, now with a session.
    let code = down.code(&p.down, &req).await;
    let t = tokens(exchange(&p.down, &rp, &code, Some(&req.verifier)).await).await;
    let info: Value = userinfo(&p.down, &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    let local = p.down.engine.users.by_login(&erin.email).unwrap();
    assert_eq!(info["sub"], local.id.to_string(), "{info}");
    assert_eq!(info["email"], erin.email, "{info}");
}

#[actix_web::test]
async fn the_state_is_single_use_bound_and_expiring() {
    let p = pair().await;
    let frank = create_user(&p.up, "frank").await;
    let mut up = Browser::new(&p.up);
    let mut down = Browser::new(&p.down);

    // Another browser (no binding cookie) presenting a good state: refused,
    // and the rightful browser can still finish.
    let to = start(&mut down, None).await;
    let back = at_provider(&p, &mut up, &frank, &to).await;
    let r = Browser::new(&p.down).get(&back.raw).await;
    assert_error_page(r, "invalid_state").await;
    let r = down.get(&back.raw).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(session_cookie_set(&r).is_some());

    // Replayed.
    let mut down = Browser::new(&p.down);
    let r = down.get(&back.raw).await;
    assert!(session_cookie_set(&r).is_none());
    assert_error_page(r, "invalid_state").await;

    // Unknown, and absent.
    let r = down
        .get("/auth/oidc/login?code=abc&state=never-issued")
        .await;
    assert_error_page(r, "invalid_state").await;
    let r = down.get("/auth/oidc/login?code=abc").await;
    assert_error_page(r, "invalid_state").await;

    // Expired: ten minutes at the provider is too long.
    let to = start(&mut down, None).await;
    let back = at_provider(&p, &mut up, &frank, &to).await;
    p.down.clock.advance(601);
    let r = down.get(&back.raw).await;
    assert!(session_cookie_set(&r).is_none());
    assert_error_page(r, "invalid_state").await;
}

#[actix_web::test]
async fn an_upstream_error_is_shown_and_ends_the_login() {
    let p = pair().await;
    let gina = create_user(&p.up, "gina").await;
    let mut up = Browser::new(&p.up);
    up.login(&gina).await;
    let mut down = Browser::new(&p.down);
    let to = start(&mut down, None).await;
    let r = up.get(&to.raw).await;
    assert_eq!(r.status(), StatusCode::OK, "the consent page");
    let html = r.text().await.unwrap();
    let r = up.consent(&html, "deny").await;
    let back = redirect(&r, r.status());
    assert_eq!(back.get("error"), Some("access_denied"));
    let r = down.get(&back.raw).await;
    assert!(session_cookie_set(&r).is_none());
    let page = assert_error_page(r, "upstream_error").await;
    assert!(page.contains("cancelled or refused"), "{page}");
    // The state is used up.
    let r = down
        .get(&format!(
            "/auth/oidc/login?{}",
            encode(&[("code", "x"), ("state", to.param("state"))])
        ))
        .await;
    assert_error_page(r, "invalid_state").await;
}

#[actix_web::test]
async fn unknown_providers_and_foreign_return_urls_are_refused() {
    let p = pair().await;
    let mut down = Browser::new(&p.down);
    for q in [
        "client_id=nope".to_string(),
        String::new(),
        format!("client_id={PROVIDER}&redirect_uri=https%3A%2F%2Fevil.example.com%2F"),
        format!("client_id={PROVIDER}&redirect_uri=%2F%2Fevil.example.com"),
        format!("client_id={PROVIDER}&redirect_uri=%2F%5Cevil.example.com"),
        format!("client_id={PROVIDER}&redirect_uri=javascript%3Aalert(1)"),
    ] {
        let r = down.get(&format!("/auth/openid?{q}")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
        assert!(header(&r, "location").is_none(), "{q}");
    }
    // A URL on this server, and a registered redirect URI, are fine.
    let rp = first_party_rp(&p.down).await;
    for ok in [p.down.url("/sessions/session"), rp.redirect_uri.clone()] {
        let r = down
            .get(&format!(
                "/auth/openid?{}",
                encode(&[("client_id", PROVIDER), ("redirect_uri", ok.as_str())])
            ))
            .await;
        assert_eq!(r.status(), StatusCode::FOUND, "{ok}");
    }
}

#[actix_web::test]
async fn an_unusable_provider_is_a_502_page() {
    // The discovery document must name exactly the configured issuer.
    let up = spawn_app().await;
    let client = TestClient {
        id: "c".into(),
        secret: "s".into(),
    };
    let settings = provider(&format!("{}/", up.issuer), &client);
    let down = spawn_app_with(|s| {
        s.federation.providers.insert(PROVIDER.into(), settings);
    })
    .await;
    let r = Browser::new(&down)
        .get(&format!("/auth/openid?client_id={PROVIDER}"))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(header(&r, "location").is_none());

    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = TestClient {
        id: "c".into(),
        secret: "s".into(),
    };
    let settings = provider(&format!("http://127.0.0.1:{port}"), &client);
    let down = spawn_app_with(|s| {
        s.federation.providers.insert(PROVIDER.into(), settings);
    })
    .await;
    let r = Browser::new(&down)
        .get(&format!("/auth/openid?client_id={PROVIDER}"))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(header(&r, "location").is_none());
}

// ---- a fake provider for the JWT attacks -----------------------------------

/// What the fake token endpoint answers next.
#[derive(Clone, Default)]
struct Forge(Arc<Mutex<Option<String>>>, Arc<AtomicUsize>);

struct Fake {
    issuer: String,
    forge: Forge,
    jwks: Value,
    key: jsonwebtoken::EncodingKey,
    /// The public JWK's `x`, as an HMAC secret would be made from it.
    public_x: String,
    _server: actix_web::dev::ServerHandle,
}

const FAKE_CLIENT: &str = "fake-client";
const KID: &str = "fake-key-1";

async fn fake_provider() -> Fake {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let g = generate(KeyAlg::ES256).unwrap();
    let mut jwk = serde_json::to_value(&g.public).unwrap();
    jwk["kid"] = json!(KID);
    jwk["use"] = json!("sig");
    jwk["alg"] = json!("ES256");
    let public_x = jwk["x"].as_str().unwrap().to_string();
    let jwks = json!({"keys": [jwk]});
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let forge = Forge::default();
    let (iss, jw, fg) = (issuer.clone(), jwks.clone(), forge.clone());
    let server = HttpServer::new(move || {
        let (iss, jw, fg) = (iss.clone(), jw.clone(), fg.clone());
        let fg_jwks = fg.clone();
        App::new()
            .route(
                "/.well-known/openid-configuration",
                web::get().to(move || {
                    let iss = iss.clone();
                    async move {
                        HttpResponse::Ok().json(json!({
                            "issuer": iss,
                            "authorization_endpoint": format!("{iss}/authorize"),
                            "token_endpoint": format!("{iss}/token"),
                            "jwks_uri": format!("{iss}/jwks"),
                        }))
                    }
                }),
            )
            .route(
                "/jwks",
                web::get().to(move || {
                    let jw = jw.clone();
                    let fetches = fg_jwks.1.clone();
                    async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        HttpResponse::Ok().json(jw)
                    }
                }),
            )
            .route(
                "/token",
                web::post().to(move || {
                    let fg = fg.clone();
                    async move {
                        let t = fg.0.lock().unwrap().clone().unwrap_or_default();
                        HttpResponse::Ok().json(json!({
                            "access_token": "x", "token_type": "Bearer", "id_token": t
                        }))
                    }
                }),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Fake {
        issuer,
        forge,
        jwks,
        key: jsonwebtoken::EncodingKey::from_ec_der(&g.private_der),
        public_x,
        _server: handle,
    }
}

fn es256(fake: &Fake, header: jsonwebtoken::Header, claims: &Value) -> String {
    jsonwebtoken::encode(&header, claims, &fake.key).unwrap()
}

fn es_header() -> jsonwebtoken::Header {
    jsonwebtoken::Header {
        kid: Some(KID.into()),
        ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256)
    }
}

#[actix_web::test]
async fn forged_id_tokens_are_refused() {
    let fake = fake_provider().await;
    let settings = provider(
        &fake.issuer,
        &TestClient {
            id: FAKE_CLIENT.into(),
            secret: "fake-secret".into(),
        },
    );
    let down = spawn_app_with(|s| {
        s.federation.providers.insert(PROVIDER.into(), settings);
    })
    .await;
    let now = down.now();
    let good_claims = |nonce: &str| {
        json!({"iss": fake.issuer, "sub": "fake-sub", "aud": FAKE_CLIENT, "iat": now,
               "exp": now + 300, "nonce": nonce, "email": "mallory@example.com",
               "email_verified": true, "preferred_username": "mallory"})
    };
    let attacks = [
        "nonce mismatch",
        "wrong iss",
        "wrong aud",
        "two audiences, no azp",
        "expired",
        "issued in the future",
        "not yet valid",
        "alg none",
        "HS256 keyed with the public key",
        "unknown kid",
        "jku header",
        "x5u header",
        "jwk header",
        "tampered payload",
    ];
    let forge = |name: &str, nonce: &str| -> String {
        let mut c = good_claims(nonce);
        let mut h = es_header();
        match name {
            "nonce mismatch" => c["nonce"] = json!("not-the-nonce"),
            "wrong iss" => c["iss"] = json!("http://127.0.0.1:1"),
            "wrong aud" => c["aud"] = json!("another-client"),
            "two audiences, no azp" => c["aud"] = json!([FAKE_CLIENT, "another-client"]),
            "expired" => c["exp"] = json!(now - 31),
            "issued in the future" => c["iat"] = json!(now + 120),
            "not yet valid" => c["nbf"] = json!(now + 120),
            "alg none" => {
                return format!(
                    "{}.{}.",
                    b64url(br#"{"alg":"none","typ":"JWT"}"#),
                    b64url(c.to_string().as_bytes())
                )
            }
            "HS256 keyed with the public key" => {
                let h = jsonwebtoken::Header {
                    kid: Some(KID.into()),
                    ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
                };
                let secret = jsonwebtoken::EncodingKey::from_secret(fake.public_x.as_bytes());
                return jsonwebtoken::encode(&h, &c, &secret).unwrap();
            }
            "unknown kid" => h.kid = Some("no-such-key".into()),
            "jku header" => h.jku = Some("http://127.0.0.1:1/jwks".into()),
            "x5u header" => h.x5u = Some("http://127.0.0.1:1/cert".into()),
            "jwk header" => {
                h.jwk = Some(serde_json::from_value(fake.jwks["keys"][0].clone()).unwrap())
            }
            "tampered payload" => {
                let t = es256(&fake, h, &c);
                let parts: Vec<&str> = t.split('.').collect();
                c["sub"] = json!("someone-else");
                return format!(
                    "{}.{}.{}",
                    parts[0],
                    b64url(c.to_string().as_bytes()),
                    parts[2]
                );
            }
            other => panic!("no attack {other}"),
        }
        es256(&fake, h, &c)
    };
    for name in attacks {
        let mut down_b = Browser::new(&down);
        let to = start(&mut down_b, None).await;
        assert!(to.base.starts_with(&fake.issuer), "{}", to.raw);
        *fake.forge.0.lock().unwrap() = Some(forge(name, to.param("nonce")));
        let r = down_b
            .get(&format!(
                "/auth/oidc/login?{}",
                encode(&[("code", "any"), ("state", to.param("state"))])
            ))
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert!(session_cookie_set(&r).is_none(), "{name}: no session");
        let page = r.text().await.unwrap();
        assert!(page.contains("invalid_id_token"), "{name}: {page}");
    }
    assert!(down.engine.users.by_login("mallory@example.com").is_none());
    // The JWKS was fetched once, and once more for the unknown kid; another
    // unknown kid within the minute does not refetch.
    assert_eq!(fake.forge.1.load(Ordering::SeqCst), 2);
    let mut down_b = Browser::new(&down);
    let to = start(&mut down_b, None).await;
    *fake.forge.0.lock().unwrap() = Some(forge("unknown kid", to.param("nonce")));
    let r = down_b
        .get(&format!(
            "/auth/oidc/login?{}",
            encode(&[("code", "any"), ("state", to.param("state"))])
        ))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        fake.forge.1.load(Ordering::SeqCst),
        2,
        "rate-limited refetch"
    );

    // RFC 9207: an answer naming another issuer is refused before any
    // code exchange.
    let mut down_b = Browser::new(&down);
    let to = start(&mut down_b, None).await;
    *fake.forge.0.lock().unwrap() =
        Some(es256(&fake, es_header(), &good_claims(to.param("nonce"))));
    let r = down_b
        .get(&format!(
            "/auth/oidc/login?{}",
            encode(&[
                ("code", "any"),
                ("state", to.param("state")),
                ("iss", "http://127.0.0.1:1")
            ])
        ))
        .await;
    assert!(session_cookie_set(&r).is_none());
    assert_error_page(r, "invalid_request").await;

    // The same provider with an honest token logs in: the refusals above
    // are the checks, not a broken fake.
    let mut down_b = Browser::new(&down);
    let to = start(&mut down_b, None).await;
    let mut c = good_claims(to.param("nonce"));
    // Within the leeway.
    c["iat"] = json!(now + 20);
    c["exp"] = json!(now - 20);
    *fake.forge.0.lock().unwrap() = Some(es256(&fake, es_header(), &c));
    let r = down_b
        .get(&format!(
            "/auth/oidc/login?{}",
            encode(&[("code", "any"), ("state", to.param("state"))])
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(session_cookie_set(&r).is_some());
    assert!(down.engine.users.by_login("mallory@example.com").is_some());
}

#[actix_web::test]
async fn local_second_factor_and_account_status_still_apply() {
    let p = pair().await;
    let upstream = create_user(&p.up, "hank").await;
    let local = create_user(&p.down, "hank").await;
    let secret = enable_totp(&p.down, &local).await;
    let mut up = Browser::new(&p.up);
    let mut down = Browser::new(&p.down);
    let r = federated_login(&p, &mut down, &mut up, &upstream, Some("/sessions/session")).await;
    assert_eq!(r.status(), StatusCode::OK, "the code page");
    let pending = session_cookie_set(&r).expect("a pending session");
    let html = r.text().await.unwrap();
    assert!(html.contains("/auth/login/callback"), "{html}");
    let r = Browser::with_session(&p.down, &pending)
        .get("/sessions/session")
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "not logged in yet");
    let r = down
        .post_json(
            "/auth/login/callback",
            &json!({"code": totp_code(&p.down, &secret, 0)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let session = down.session().expect("a full session");
    let me = current_user(&p.down, &session).await;
    assert_eq!(session_user_id(&me), local.id.to_string());

    // A disabled local account cannot come in through the provider either.
    p.down
        .engine
        .directory
        .send(UpdateUser {
            id: local.id,
            patch: UserPatch {
                status: Some(UserStatus::Disabled),
                ..Default::default()
            },
        })
        .await
        .unwrap()
        .unwrap();
    let r = federated_login(&p, &mut Browser::new(&p.down), &mut up, &upstream, None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie_set(&r).is_none());
}
