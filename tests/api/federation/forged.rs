//! A small fake provider that hands out ID tokens the test forges, and the
//! JWT attacks run through it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_actors::keys::material::{generate, KeyAlg};
use tessera_actors::secret::b64url;

use super::support::{provider, start, PROVIDER};
use crate::flow::{assert_error_page, encode, session_cookie_set, Browser};
use crate::helpers::{spawn_app_with, TestClient};

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

// Moved from federation.rs (was federation::forged_id_tokens_are_refused).
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
