//! A password change or account deletion ends the user's access
//! everywhere: sessions closed, every token introspects inactive — also a
//! token issued in the same second, and never a token issued after.

use reqwest::Method;
use serde_json::json;

use crate::helpers::spawn_app;
use crate::sessions::{create_user, open_session, status, user_token, Auth};

#[actix_web::test]
async fn password_change_revokes_every_token_and_session_of_the_user() {
    let app = spawn_app().await;
    let caller = app.create_client(json!({"introspect_any": true})).await;
    let user = create_user(&app, "alice").await;
    let other = create_user(&app, "bob").await;
    let (_, cookie) = open_session(&app, user, "test").await;
    let before = user_token(&app, user, None).await;
    let bobs = user_token(&app, other, None).await;
    app.clock.advance(5);
    let same_second = user_token(&app, user, None).await;
    app.assert_active(&caller, &before).await;

    let r = app
        .admin(
            Method::PUT,
            &format!("/admin/users/{user}/password"),
            Some(json!({"password": "a brand new password"})),
        )
        .await;
    assert_eq!(r.status(), 204);

    app.assert_inactive(&caller, &before).await;
    app.assert_inactive(&caller, &same_second).await;
    assert_eq!(
        status(&app, Method::GET, "/sessions", Auth::Cookie(&cookie)).await,
        401
    );
    // Other users are untouched, and new tokens after the change work.
    app.assert_active(&caller, &bobs).await;
    let after = user_token(&app, user, None).await;
    app.assert_active(&caller, &after).await;
}

#[actix_web::test]
async fn deleting_a_user_revokes_their_tokens() {
    let app = spawn_app().await;
    let caller = app.create_client(json!({"introspect_any": true})).await;
    let user = create_user(&app, "carol").await;
    let token = user_token(&app, user, None).await;
    app.assert_active(&caller, &token).await;
    let r = app
        .admin(Method::DELETE, &format!("/admin/users/{user}"), None)
        .await;
    assert_eq!(r.status(), 204);
    app.assert_inactive(&caller, &token).await;
}
