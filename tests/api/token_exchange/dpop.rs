//! Token exchange with a DPoP proof (RFC 9449): the exchanged token is
//! bound to the proof's key and still names its actor.

use reqwest::{Response, StatusCode};
use serde_json::json;

use super::support::*;
use crate::dpop::proof::ProofKey;
use crate::helpers::*;

/// A delegation exchange of `subject` by `client`, with a `DPoP` header.
async fn exchange_with_proof(
    app: &TestApp,
    client: &TestClient,
    subject: &str,
    proof: &str,
) -> Response {
    let actor = app.get_token(client).await;
    app.http
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("DPoP", proof)
        .form(&[
            ("grant_type", GRANT),
            ("subject_token", subject),
            ("subject_token_type", ACCESS),
            ("actor_token", actor.as_str()),
            ("actor_token_type", ACCESS),
        ])
        .send()
        .await
        .expect("token request")
}

#[actix_web::test]
async fn an_exchange_with_a_proof_gives_a_dpop_bound_token() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let a = service(&app, &[API_A], json!({})).await;
    let key = ProofKey::es256();
    let htu = format!("{}/oauth2/token", app.issuer);
    let proof = key.proof("POST", &htu, app.now());

    let body = issued(exchange_with_proof(&app, &a, &s.tokens.access_token, &proof).await).await;
    assert_eq!(body["token_type"], "DPoP", "{body}");
    assert_eq!(body["issued_token_type"], ACCESS, "{body}");
    let token = at(&body);
    let jkt = json!({"jkt": key.thumbprint()});
    let v = app.assert_active(&s.rs, &token).await;
    assert_eq!(v["token_type"], "DPoP", "{v}");
    assert_eq!(v["cnf"], jkt, "{v}");
    assert_eq!(v["sub"], s.user.id.to_string(), "{v}");
    assert_eq!(v["act"], act_of(&a), "{v}");
    let c = claims(&token);
    assert_eq!(c["cnf"], jkt, "{c}");
    assert_eq!(c["act"], act_of(&a), "{c}");

    // The same proof again is a replay.
    let r = exchange_with_proof(&app, &a, &s.tokens.access_token, &proof).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;

    // Without a proof the exchange is a plain bearer token.
    let plain = issued(delegate(&app, &a, &s.tokens.access_token, &[]).await).await;
    assert_eq!(plain["token_type"], "Bearer", "{plain}");
    let v = app.assert_active(&s.rs, &at(&plain)).await;
    assert!(v.get("cnf").is_none(), "{v}");
}
