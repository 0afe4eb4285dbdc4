//! Forged JWTs at every place other than introspection that accepts one of
//! our JWTs: the userinfo and session bearers, and `id_token_hint` at
//! `/auth/logout`. Each forgery comes with its control (see the parent
//! module).

use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_actors::keys::material::generate;
use tessera_actors::keys::{KeyAlg, KeyState};
use tessera_actors::secret::{b64url, b64url_decode};

use super::patched;
use crate::flow::*;
use crate::helpers::{header, jwk, sign_raw, spawn_app, TestApp};
use crate::jwt::{pem, rsa_public_der};

/// The forgeries of SECURITY.md's JWT bullet, built from a header and
/// claims that the server accepts when signed by its own key: `alg: none`,
/// HS256/384/512 keyed with our RSA public key in every encoding, unknown
/// or missing `kid`, `jku`/`x5u`/`jwk`/`x5c` headers, an attacker's key
/// (under our `kid`, or embedded), doctored times (zero leeway: one second
/// is beyond it), wrong `iss`, and `aud` set to `wrong_aud`. With
/// `expired_counts` false the expired cases are left out (an expired
/// `id_token_hint` is still a hint, OIDC RP-Initiated Logout §2).
pub(super) async fn forgeries(
    app: &TestApp,
    h: &Value,
    claims: &Value,
    wrong_aud: &Value,
    expired_counts: bool,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let now = app.now();
    let body = b64url(claims.to_string().as_bytes());

    // alg none, in any spelling, with no signature or a real one.
    let real = app.sign_with_server_key(h, claims);
    let real_sig = real.rsplit('.').next().unwrap_or_default().to_string();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let mut h2 = h.clone();
        h2["alg"] = json!(alg);
        let head = b64url(h2.to_string().as_bytes());
        out.push((format!("alg {alg}"), format!("{head}.{body}.")));
        out.push((
            format!("alg {alg} with a real signature"),
            format!("{head}.{body}.{real_sig}"),
        ));
    }

    // HMAC keyed with our RSA public key, in every encoding a library might use.
    let jwks = app.jwks().await;
    let kid = h["kid"].as_str().expect("kid").to_string();
    let k = jwk(&jwks, &kid).clone();
    let n = b64url_decode(k["n"].as_str().expect("n")).expect("n");
    let e = b64url_decode(k["e"].as_str().expect("e")).expect("e");
    let (pkcs1, spki) = rsa_public_der(&n, &e);
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("modulus", n.clone()),
        ("PKCS#1 DER", pkcs1.clone()),
        ("SPKI DER", spki.clone()),
        ("SPKI PEM", pem("PUBLIC KEY", &spki).into_bytes()),
        ("PKCS#1 PEM", pem("RSA PUBLIC KEY", &pkcs1).into_bytes()),
        ("JWK JSON", k.to_string().into_bytes()),
        ("JWKS JSON", jwks.to_string().into_bytes()),
    ];
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        for (what, secret) in &secrets {
            let mut h2 = h.clone();
            h2["alg"] = json!(format!("{alg:?}"));
            let t = sign_raw(&h2, claims, &EncodingKey::from_secret(secret), alg);
            out.push((format!("{alg:?} keyed with our public key as {what}"), t));
        }
    }

    // Our signature, but a kid we do not have, none, or the next key's.
    let next = app.stored_key(KeyState::Next).kid;
    for bad_kid in [json!("unknown"), json!(""), json!(42), json!(next)] {
        let mut h2 = h.clone();
        h2["kid"] = bad_kid.clone();
        out.push((
            format!("kid {bad_kid}"),
            app.sign_with_server_key(&h2, claims),
        ));
    }
    let mut no_kid = h.clone();
    if let Some(m) = no_kid.as_object_mut() {
        m.remove("kid");
    }
    out.push(("no kid".into(), app.sign_with_server_key(&no_kid, claims)));

    // Key-carrying headers, even over a good signature.
    for (name, value) in [
        ("jku", json!("https://attacker.example/jwks.json")),
        ("jku", json!(format!("{}/oauth2/jwks", app.issuer))),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("jwk", k.clone()),
        (
            "x5c",
            json!(["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]),
        ),
    ] {
        let mut h2 = h.clone();
        h2[name] = value;
        out.push((
            format!("{name} header, our signature"),
            app.sign_with_server_key(&h2, claims),
        ));
    }

    // An attacker's key: under our kid, and embedded in the header.
    let g = generate(KeyAlg::RS256).expect("RSA key");
    let attacker = EncodingKey::from_rsa_der(&g.private_der);
    out.push((
        "an attacker's key under our kid".into(),
        sign_raw(h, claims, &attacker, Algorithm::RS256),
    ));
    let mut h2 = h.clone();
    h2["jwk"] = serde_json::to_value(&g.public).expect("JWK");
    h2["kid"] = json!(g.public.thumbprint());
    out.push((
        "an embedded attacker jwk".into(),
        sign_raw(&h2, claims, &attacker, Algorithm::RS256),
    ));

    // Doctored claims under our own signature.
    let mut cases = vec![
        ("nbf one second ahead", json!({"nbf": now + 1})),
        ("iat one second ahead", json!({"iat": now + 1})),
        ("iat an hour ahead", json!({"iat": now + 3600})),
        ("wrong iss", json!({"iss": "https://attacker.example"})),
        (
            "iss with a trailing slash",
            json!({"iss": format!("{}/", app.issuer)}),
        ),
        ("no iss", json!({"iss": null})),
        ("wrong aud", json!({"aud": wrong_aud})),
        ("no aud", json!({"aud": null})),
        ("no sub", json!({"sub": null})),
    ];
    if expired_counts {
        cases.push(("expired", json!({"exp": now - 1})));
        cases.push(("expiring now (zero leeway)", json!({"exp": now})));
        cases.push(("no exp", json!({"exp": null})));
    }
    for (what, patch) in cases {
        out.push((
            what.to_string(),
            app.sign_with_server_key(h, &patched(claims, patch)),
        ));
    }
    out
}

/// The server's current key: its header for `typ`.
pub(super) fn server_header(app: &TestApp, typ: &str) -> Value {
    let key = app.stored_key(KeyState::Current);
    json!({"alg": key.alg.as_str(), "typ": typ, "kid": key.kid})
}

/// Claims of an access token for `user` through `rp`, as the server mints
/// them, with a fresh `jti` the index never saw.
pub(super) fn user_access_claims(app: &TestApp, rp: &Rp, user: &TestUser) -> Value {
    let now = app.now();
    json!({
        "iss": app.issuer,
        "sub": user.id.to_string(),
        "aud": rp.id(),
        "client_id": rp.id(),
        "scope": "openid profile read",
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    })
}

pub(super) async fn bearer_get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("bearer request")
}

/// The two bearer surfaces besides introspection: `/oauth2/userinfo` and
/// the user API (`/sessions`, and with it every route taking the same
/// caller: `/api/users/...`, personal tokens).
pub(super) const BEARER_PATHS: [&str; 2] = ["/oauth2/userinfo", "/sessions"];

// Moved from security.rs (was security::forged_jwts_are_refused_by_every_bearer_endpoint).
#[actix_web::test]
async fn forged_jwts_are_refused_by_every_bearer_endpoint() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = first_party_rp(&app).await;
    let h = server_header(&app, "at+jwt");
    let claims = user_access_claims(&app, &rp, &user);

    // Control: our signature over these claims is accepted everywhere.
    let control = app.sign_with_server_key(&h, &claims);
    for path in BEARER_PATHS {
        let r = bearer_get(&app, path, &control).await;
        assert_eq!(r.status(), StatusCode::OK, "control at {path}");
    }

    let mut forged = forgeries(
        &app,
        &h,
        &claims,
        &json!("https://attacker.example/api"),
        true,
    )
    .await;
    // An ID token (typ JWT, or no typ) is not an access token, even with
    // access-token claims under our signature.
    for typ in ["JWT", "id_token"] {
        forged.push((
            format!("typ {typ}"),
            app.sign_with_server_key(&server_header(&app, typ), &claims),
        ));
    }
    let mut untyped = h.clone();
    if let Some(m) = untyped.as_object_mut() {
        m.remove("typ");
    }
    forged.push(("no typ".into(), app.sign_with_server_key(&untyped, &claims)));
    // A real ID token from a real flow.
    let flow = run_flow(&app, &rp, &user, SCOPE).await;
    forged.push(("a genuine ID token".into(), flow.tokens.id().to_string()));
    assert!(forged.len() > 50, "{}", forged.len());

    for (what, token) in &forged {
        for path in BEARER_PATHS {
            let r = bearer_get(&app, path, token).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what} at {path}");
            if path == "/oauth2/userinfo" {
                let challenge = header(&r, "www-authenticate").unwrap_or_default();
                assert!(
                    challenge.starts_with("Bearer ") && challenge.contains("invalid_token"),
                    "{what}: {challenge}"
                );
            }
        }
    }
    // The control still works after all that: nothing was revoked.
    for path in BEARER_PATHS {
        let r = bearer_get(&app, path, &control).await;
        assert_eq!(r.status(), StatusCode::OK, "control at {path} afterwards");
    }
}

pub(super) fn logout_path(pairs: &[(&str, &str)]) -> String {
    format!("/auth/logout?{}", encode(pairs))
}

/// `GET /auth/logout` with `hint` and the registered post-logout URI.
pub(super) async fn logout_with_hint(
    app: &TestApp,
    hint: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut pairs = vec![
        ("id_token_hint", hint),
        ("post_logout_redirect_uri", POST_LOGOUT),
        ("state", "s1"),
    ];
    pairs.extend_from_slice(extra);
    Browser::new(app).get(&logout_path(&pairs)).await
}

pub(super) async fn assert_hint_refused(r: reqwest::Response, what: &str) {
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{what}");
    assert!(header(&r, "location").is_none(), "{what}: never a redirect");
    let body: Value = r.json().await.expect("JSON error");
    assert_eq!(body["error"], "invalid_request", "{what}: {body}");
}

// Moved from security.rs (was security::forged_id_token_hints_are_refused_at_logout).
#[actix_web::test]
async fn forged_id_token_hints_are_refused_at_logout() {
    let app = spawn_app().await;
    let user = create_user(&app, "bob").await;
    let rp = first_party_rp(&app).await;
    let other = rp_with(
        &app,
        json!({"first_party": true, "post_logout_redirect_uris": ["https://other.example/bye"]}),
    )
    .await;
    let h = server_header(&app, "JWT");
    let now = app.now();
    let claims = json!({
        "iss": app.issuer,
        "sub": user.id.to_string(),
        "aud": rp.id(),
        "azp": rp.id(),
        "iat": now,
        "auth_time": now,
        "exp": now + 600,
    });
    let accepted = |r: &reqwest::Response| {
        r.status() == StatusCode::FOUND
            && header(r, "location").as_deref() == Some(&format!("{POST_LOGOUT}?state=s1"))
    };

    // Control: our signature over these claims names the client.
    let control = app.sign_with_server_key(&h, &claims);
    let r = logout_with_hint(&app, &control, &[]).await;
    assert!(
        accepted(&r),
        "control: {} {:?}",
        r.status(),
        header(&r, "location")
    );

    let mut forged = forgeries(&app, &h, &claims, &json!("tes_cl_unknown"), false).await;
    // The audience of another client: alone it names that client, whose
    // URIs do not include ours; with our client_id it contradicts it.
    forged.push((
        "aud of another client".into(),
        app.sign_with_server_key(&h, &patched(&claims, json!({"aud": other.id()}))),
    ));
    // An access token, ours by signature, is not an ID token.
    let access = user_access_claims(&app, &rp, &user);
    forged.push((
        "an access token".into(),
        app.sign_with_server_key(&server_header(&app, "at+jwt"), &access),
    ));
    forged.push((
        "access-token claims under typ JWT".into(),
        app.sign_with_server_key(&h, &access),
    ));
    assert!(forged.len() > 50, "{}", forged.len());
    for (what, hint) in &forged {
        assert_hint_refused(logout_with_hint(&app, hint, &[]).await, what).await;
    }
    // A genuine hint with another client's id.
    let r = logout_with_hint(&app, &control, &[("client_id", other.id())]).await;
    assert_hint_refused(r, "client_id of another client").await;

    // Expired (zero leeway: exp = now counts as expired) or without exp.
    for (what, patch) in [
        ("an expired hint", json!({"exp": now - 1})),
        ("exp = now", json!({"exp": now})),
    ] {
        let hint = app.sign_with_server_key(&h, &patched(&claims, patch));
        assert_hint_refused(logout_with_hint(&app, &hint, &[]).await, what).await;
    }
    let mut no_exp = claims.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    let hint = app.sign_with_server_key(&h, &no_exp);
    assert_hint_refused(logout_with_hint(&app, &hint, &[]).await, "no exp").await;
    let r = logout_with_hint(&app, &control, &[]).await;
    assert!(accepted(&r), "control afterwards");
}
