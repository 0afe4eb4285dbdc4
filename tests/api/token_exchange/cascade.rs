//! Revocation reaches through exchanges: revoking a subject token, or the
//! refresh-token family it belongs to, ends every token exchanged from it,
//! chained ones included.

use reqwest::StatusCode;
use serde_json::json;

use super::support::*;
use crate::flow::*;
use crate::helpers::*;

#[actix_web::test]
async fn revoking_the_subject_ends_the_whole_chain_at_once() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let a = service(&app, &[API_A], json!({"audiences": [API_B]})).await;
    let b = service(&app, &[API_B], json!({})).await;
    let subject = s.tokens.access_token.as_str();
    let first = at(&issued(delegate(&app, &a, subject, &[("audience", API_B)]).await).await);
    let second = at(&issued(delegate(&app, &b, &first, &[]).await).await);
    // Another of the user's grants, and an exchange from it.
    let other = run_flow(&app, &s.rp, &s.user, SCOPE).await.tokens;
    let unrelated = at(&issued(delegate(&app, &a, &other.access_token, &[]).await).await);
    for t in [&first, &second, &unrelated] {
        app.assert_active(&s.rs, t).await;
    }

    assert_eq!(app.revoke(&s.rp.client, subject).await, StatusCode::OK);
    app.assert_inactive(&s.rs, subject).await;
    app.assert_inactive(&s.rs, &first).await;
    app.assert_inactive(&s.rs, &second).await;
    app.assert_inactive(&b, &second).await;
    // Nothing exchanged from them can be made now.
    let r = delegate(&app, &b, &first, &[]).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // The other grant is untouched.
    app.assert_active(&s.rs, &other.access_token).await;
    let v = app.assert_active(&s.rs, &unrelated).await;
    assert_eq!(v["act"], act_of(&a));
}

#[actix_web::test]
async fn revoking_an_exchanged_token_ends_what_was_exchanged_from_it() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let a = service(&app, &[API_A], json!({"audiences": [API_B]})).await;
    let b = service(&app, &[API_B], json!({})).await;
    let subject = s.tokens.access_token.as_str();
    let first = at(&issued(delegate(&app, &a, subject, &[("audience", API_B)]).await).await);
    let second = at(&issued(delegate(&app, &b, &first, &[]).await).await);

    // A revokes the token it was issued.
    assert_eq!(app.revoke(&a, &first).await, StatusCode::OK);
    app.assert_inactive(&s.rs, &first).await;
    app.assert_inactive(&s.rs, &second).await;
    // What it was exchanged from is the user's, and stays.
    app.assert_active(&s.rs, subject).await;
}

#[actix_web::test]
async fn revoking_the_refresh_family_ends_exchanges_of_its_access_tokens() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let a = service(&app, &[API_A], json!({"audiences": [API_B]})).await;
    let b = service(&app, &[API_B], json!({})).await;
    let t1 = tokens(refresh(&app, &s.rp, s.tokens.refresh(), None).await).await;
    let from_t0 = at(&issued(delegate(&app, &a, &s.tokens.access_token, &[]).await).await);
    let from_t1 =
        at(&issued(delegate(&app, &a, &t1.access_token, &[("audience", API_B)]).await).await);
    let chained = at(&issued(delegate(&app, &b, &from_t1, &[]).await).await);
    for t in [&from_t0, &from_t1, &chained] {
        app.assert_active(&s.rs, t).await;
    }

    assert_eq!(app.revoke(&s.rp.client, t1.refresh()).await, StatusCode::OK);
    for t in [
        &s.tokens.access_token,
        &t1.access_token,
        t1.refresh(),
        &from_t0,
        &from_t1,
        &chained,
    ] {
        app.assert_inactive(&s.rs, t).await;
    }
    let r = refresh(&app, &s.rp, t1.refresh(), None).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[actix_web::test]
async fn an_exchanged_refresh_token_refreshes_and_keeps_the_actor() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let a = service(&app, &[API_A], json!({"refresh_tokens": true})).await;
    let body = issued(
        delegate(
            &app,
            &a,
            &s.tokens.access_token,
            &[("requested_token_type", REFRESH), ("scope", "openid read")],
        )
        .await,
    )
    .await;
    assert_eq!(body["issued_token_type"], REFRESH, "{body}");
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(body["scope"], "openid read", "{body}");
    let rt = body["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("a refresh token: {body}"))
        .to_string();
    let first = at(&body);
    let v = app.assert_active(&s.rs, &first).await;
    assert_eq!(v["act"], act_of(&a), "{v}");
    app.assert_active(&s.rs, &rt).await;

    let r = app
        .token_request(
            &a,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
    let status = r.status();
    let again: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["scope"], "openid read", "{again}");
    let next = at(&again);
    let v = app.assert_active(&s.rs, &next).await;
    assert_eq!(v["sub"], s.user.id.to_string(), "{v}");
    assert_eq!(v["client_id"], a.id, "{v}");
    assert_eq!(v["act"], act_of(&a), "{v}");
    assert_eq!(claims(&next)["act"], act_of(&a));

    // It belongs to A alone, and dies with the user's token.
    let r = refresh(&app, &s.rp, &rt, None).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        app.revoke(&s.rp.client, &s.tokens.access_token).await,
        StatusCode::OK
    );
    app.assert_inactive(&s.rs, &first).await;
}
