//! The refresh_token grant after a code flow: rotation, reuse detection
//! revoking the family, races, scope narrowing, and binding to the client.

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::flow::*;
use crate::helpers::{assert_oauth_error, spawn_app, INACTIVE};

#[actix_web::test]
async fn a_public_clients_refresh_token_rotates_and_reuse_kills_the_family() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = first_party_rp(&app).await;
    let rs = introspector(&app).await;
    let t0 = run_flow(&app, &rp, &user, SCOPE).await.tokens;
    let t1 = tokens(refresh(&app, &rp, t0.refresh(), None).await).await;
    let t2 = tokens(refresh(&app, &rp, t1.refresh(), None).await).await;
    assert_ne!(t1.refresh(), t0.refresh());
    assert_ne!(t2.refresh(), t1.refresh());
    assert_eq!(t2.body["scope"], SCOPE);
    // Rotated tokens are inactive; the latest is active.
    assert_eq!(app.introspect_raw(&rs, t0.refresh()).await, INACTIVE);
    assert_eq!(app.introspect_raw(&rs, t1.refresh()).await, INACTIVE);
    app.assert_active(&rs, t2.refresh()).await;
    app.assert_active(&rs, &t2.access_token).await;

    // t1 again (not the newest): invalid_grant and the whole family dies.
    let r = refresh(&app, &rp, t1.refresh(), None).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    for tok in [
        &t0.access_token,
        &t1.access_token,
        &t2.access_token,
        t2.refresh(),
    ] {
        assert_eq!(app.introspect_raw(&rs, tok).await, INACTIVE);
    }
    let r = refresh(&app, &rp, t2.refresh(), None).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // Another grant of the same user is untouched.
    let other = run_flow(&app, &rp, &user, SCOPE).await.tokens;
    tokens(refresh(&app, &rp, other.refresh(), None).await).await;
}

#[actix_web::test]
async fn sixteen_parallel_refreshes_of_one_token_yield_exactly_one_success() {
    let app = spawn_app().await;
    let user = create_user(&app, "bob").await;
    let rp = first_party_rp(&app).await;
    for _ in 0..3 {
        let t = run_flow(&app, &rp, &user, SCOPE).await.tokens;
        let rt = t.refresh().to_string();
        let answers = join_all((0..16).map(|_| refresh(&app, &rp, &rt, None))).await;
        let mut ok = 0;
        for r in answers {
            if r.status() == StatusCode::OK {
                ok += 1;
            } else {
                assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
            }
        }
        assert_eq!(ok, 1, "exactly one refresh wins");
    }
}

#[actix_web::test]
async fn scope_may_narrow_but_not_widen() {
    let app = spawn_app().await;
    let user = create_user(&app, "carol").await;
    let rp = confidential_rp(&app).await;
    let rs = introspector(&app).await;
    let t = run_flow(&app, &rp, &user, "openid email").await.tokens;
    for wider in ["openid email profile", "read", "openid email admin"] {
        let r = refresh(&app, &rp, t.refresh(), Some(wider)).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
    }
    // The failed attempts did not use the token up.
    let n = tokens(refresh(&app, &rp, t.refresh(), Some("email")).await).await;
    assert_eq!(n.body["scope"], "email");
    assert!(n.id_token.is_none(), "no openid, no ID token");
    let v = app.assert_active(&rs, &n.access_token).await;
    assert_eq!(v["scope"], "email");
    assert_eq!(v["sub"], user.id.to_string());
    assert_eq!(v["username"], user.username.as_str());
    // Narrowing once does not shrink the grant: the full scope is still there.
    let full = tokens(refresh(&app, &rp, n.refresh(), None).await).await;
    assert_eq!(full.body["scope"], "openid email");
    assert!(full.id_token.is_some());
}

#[actix_web::test]
async fn a_refresh_token_belongs_to_its_client() {
    let app = spawn_app().await;
    let user = create_user(&app, "dave").await;
    let rp = first_party_rp(&app).await;
    let thief = first_party_rp(&app).await;
    let confidential = confidential_rp(&app).await;
    let rs = introspector(&app).await;
    let t = run_flow(&app, &rp, &user, SCOPE).await.tokens;
    for other in [&thief, &confidential] {
        let r = refresh(&app, other, t.refresh(), None).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }
    // Its owner still can, and nothing was revoked.
    app.assert_active(&rs, &t.access_token).await;
    tokens(refresh(&app, &rp, t.refresh(), None).await).await;
}

#[actix_web::test]
async fn a_confidential_clients_token_rotates_by_default_and_reuse_is_caught() {
    let app = spawn_app().await;
    let user = create_user(&app, "erin").await;
    let rp = confidential_rp(&app).await;
    let rs = introspector(&app).await;
    let t0 = run_flow(&app, &rp, &user, SCOPE).await.tokens;
    let t1 = tokens(refresh(&app, &rp, t0.refresh(), None).await).await;
    assert_ne!(t1.refresh(), t0.refresh());
    let r = refresh(&app, &rp, t0.refresh(), None).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(app.introspect_raw(&rs, t1.refresh()).await, INACTIVE);
    assert_eq!(app.introspect_raw(&rs, &t1.access_token).await, INACTIVE);
}
