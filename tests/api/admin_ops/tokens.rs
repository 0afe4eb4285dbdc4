//! Tokens: looked up by value or `jti`, revoked one by one or by grant;
//! introspection agrees at once.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{assert_api_record, one_record};
use crate::flow::{create_user, first_party_rp, introspector, run_flow};
use crate::helpers::{spawn_app, TestApp};

async fn call(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let r = app.admin(Method::POST, path, Some(body)).await;
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[actix_web::test]
async fn a_token_is_looked_up_by_value_and_by_jti_then_revoked() {
    let app = spawn_app().await;
    let rs = introspector(&app).await;
    let client = app.cc_client().await;
    let token = app.get_token(&client).await;

    let (s, found) = call(&app, "/admin/tokens/lookup", json!({"token": token})).await;
    assert_eq!(s, StatusCode::OK, "{found}");
    assert_eq!(found["found"], true);
    assert_eq!(found["revoked"], false);
    assert_eq!(found["expired"], false);
    assert_eq!(found["client_id"], client.id);
    assert_eq!(found["token_use"], "access_token");
    assert_eq!(found["introspection"]["active"], true);
    assert_eq!(found["introspection"]["client_id"], client.id);
    // It says what introspection says.
    let seen = app.introspect(&rs, &token).await;
    assert_eq!(found["introspection"]["jti"], seen["jti"]);
    let jti = found["jti"].as_str().unwrap().to_string();
    let (s, by_jti) = call(&app, "/admin/tokens/lookup", json!({"jti": jti})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(by_jti["found"], true);
    assert_eq!(by_jti["client_id"], client.id);
    assert_eq!(by_jti["introspection"]["active"], true);

    // Revoke by value: introspection says inactive at once.
    let ((s, done), rec) = one_record(&app, || {
        call(&app, "/admin/tokens/revoke", json!({"token": token}))
    })
    .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["id"], jti.as_str());
    assert_api_record(&rec, "token.revoke", Some(&jti), "ok");
    assert!(
        !rec.to_string().contains(&token),
        "the log never holds the token"
    );
    app.assert_inactive(&rs, &token).await;
    let (_, after) = call(&app, "/admin/tokens/lookup", json!({"token": token})).await;
    assert_eq!(after["found"], true);
    assert_eq!(after["revoked"], true);
    assert_eq!(after["introspection"], json!({"active": false}));

    // Another token, revoked by its jti.
    let other = app.get_token(&client).await;
    let (_, o) = call(&app, "/admin/tokens/lookup", json!({"token": other})).await;
    let ojti = o["jti"].as_str().unwrap().to_string();
    let ((s, _), rec) = one_record(&app, || {
        call(&app, "/admin/tokens/revoke", json!({"jti": ojti}))
    })
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_api_record(&rec, "token.revoke", Some(&ojti), "ok");
    app.assert_inactive(&rs, &other).await;
}

#[actix_web::test]
async fn unknown_and_malformed_tokens() {
    let app = spawn_app().await;
    let (s, found) = call(&app, "/admin/tokens/lookup", json!({"token": "garbage"})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        found,
        json!({"found": false, "introspection": {"active": false}, "expired": false, "revoked": false})
    );
    let (s, _) = call(&app, "/admin/tokens/lookup", json!({"jti": "not-a-uuid"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call(&app, "/admin/tokens/lookup", json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call(
        &app,
        "/admin/tokens/lookup",
        json!({"grant_id": uuid::Uuid::new_v4()}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let ((s, _), rec) = one_record(&app, || {
        call(&app, "/admin/tokens/revoke", json!({"token": "garbage"}))
    })
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_api_record(&rec, "token.revoke", None, "refused");
    let ((s, _), rec) = one_record(&app, || {
        call(&app, "/admin/tokens/revoke", json!({"grant_id": "nope"}))
    })
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_api_record(&rec, "grant.revoke", Some("nope"), "refused");
}

#[actix_web::test]
async fn revoking_a_grant_ends_its_refresh_and_access_tokens() {
    let app = spawn_app().await;
    let rs = introspector(&app).await;
    let rp = first_party_rp(&app).await;
    let user = create_user(&app, "granted").await;
    let flow = run_flow(&app, &rp, &user, "openid read").await;
    let access = flow.tokens.access_token.clone();
    let refresh = flow.tokens.refresh().to_string();
    let (_, found) = call(&app, "/admin/tokens/lookup", json!({"token": refresh})).await;
    assert_eq!(found["token_use"], "refresh_token");
    assert_eq!(found["sub"], user.id.to_string());
    let grant = found["grant_id"].as_str().expect("a grant id").to_string();
    let (_, a) = call(&app, "/admin/tokens/lookup", json!({"token": access})).await;
    assert_eq!(a["grant_id"], grant.as_str(), "one grant");
    app.assert_active(&rs, &access).await;

    let ((s, done), rec) = one_record(&app, || {
        call(&app, "/admin/tokens/revoke", json!({"grant_id": grant}))
    })
    .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_api_record(&rec, "grant.revoke", Some(&grant), "ok");
    app.assert_inactive(&rs, &access).await;
    app.assert_inactive(&rs, &refresh).await;
    let r = crate::flow::refresh(&app, &rp, &refresh, None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
