//! Adding, listing, renaming and removing passkeys on the account; a
//! recent login for adding and removing.

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_actors::secret::b64url;

use super::*;
use crate::flow::{create_user, logged_in, Browser};
use crate::helpers::{assert_api_error, header, spawn_app};

async fn listed(b: &mut Browser) -> Vec<Value> {
    let r = b.get("/account/passkeys").await;
    json_of(r, StatusCode::OK)
        .await
        .as_array()
        .expect("a list")
        .clone()
}

#[actix_web::test]
async fn a_user_adds_several_named_passkeys_lists_renames_and_removes_them() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let mut b = logged_in(&app, &user).await;
    assert!(listed(&mut b).await.is_empty());

    // The options ask for a discoverable credential with user
    // verification, for this relying party and user.
    let start = json_of(
        start_registration(&app, &mut b, "Laptop").await,
        StatusCode::OK,
    )
    .await;
    let pk = &start["options"]["publicKey"];
    assert_eq!(pk["rp"]["id"], RP_ID, "{pk}");
    assert_eq!(pk["user"]["id"], b64url(user.id.as_bytes()), "{pk}");
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");

    let mut laptop = soft_key(&app);
    let mut phone = soft_key(&app).synced();
    let v = register(&app, &mut b, &mut laptop, "  Laptop ").await;
    assert_eq!(v["name"], "Laptop");
    assert_eq!(v["id"], laptop.id());
    assert_eq!(v["amr"], "hwk");
    let v = register(&app, &mut b, &mut phone, "Phone").await;
    assert_eq!(v["amr"], "swk");
    assert_eq!(v["backup_eligible"], true);

    let list = listed(&mut b).await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["name"], "Laptop");
    assert_eq!(list[1]["name"], "Phone");
    assert!(list.iter().all(|p| p.get("credential").is_none()));
    // Kept on the user record, where the directory publishes it.
    let stored = app.engine.users.get(&user.id).expect("user");
    assert_eq!(stored.passkeys.len(), 2);
    // The admin view names the method.
    let u: Value = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/users/{}", user.id),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(u["mfa_methods"]
        .as_array()
        .is_some_and(|m| m.iter().any(|x| x == "passkey")));

    // The excluded credentials of the next registration are the two.
    let start = json_of(
        start_registration(&app, &mut b, "Third").await,
        StatusCode::OK,
    )
    .await;
    let excluded: Vec<&str> = start["options"]["publicKey"]["excludeCredentials"]
        .as_array()
        .expect("excludeCredentials")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(excluded.len(), 2, "{excluded:?}");
    // The same authenticator twice is refused (an excluded credential).
    let again = laptop.register(&start["options"]);
    let csrf = session_csrf(&app, &b);
    let r = b
        .post_json(
            "/account/passkeys/register/finish",
            &json!({"csrf": csrf, "ceremony": start["ceremony"], "credential": again}),
        )
        .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_passkey").await;
    assert_eq!(app.engine.users.get(&user.id).unwrap().passkeys.len(), 2);

    // Rename (JSON), then remove (a form, as the page posts it).
    let csrf = session_csrf(&app, &b);
    let r = b
        .post_json(
            "/account/passkeys/rename",
            &json!({"csrf": csrf, "id": phone.id(), "name": "Work phone"}),
        )
        .await;
    let body = json_of(r, StatusCode::OK).await;
    assert_eq!(body["passkeys"][1]["name"], "Work phone");
    let r = b
        .post_json(
            "/account/passkeys/rename",
            &json!({"csrf": csrf, "id": phone.id(), "name": ""}),
        )
        .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;
    let r = b
        .post_form(
            "/account/passkeys/remove",
            &[("csrf", csrf.as_str()), ("id", laptop.id().as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(&r, "location").as_deref(),
        Some("/account/passkeys?done=removed")
    );
    let list = listed(&mut b).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "Work phone");
    // Removing it again: nothing to remove.
    let r = b
        .post_json(
            "/account/passkeys/remove",
            &json!({"csrf": csrf, "id": laptop.id()}),
        )
        .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;
}

#[actix_web::test]
async fn adding_or_removing_needs_a_recent_login() {
    let app = spawn_app().await;
    let user = create_user(&app, "bob").await;
    let mut b = logged_in(&app, &user).await;
    let mut key = soft_key(&app);
    register(&app, &mut b, &mut key, "Key").await;
    // A start made while the login was recent, finished too late.
    let start = json_of(
        start_registration(&app, &mut b, "Late").await,
        StatusCode::OK,
    )
    .await;

    app.clock.advance(601);
    let r = start_registration(&app, &mut b, "Other").await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "reauthentication_required").await;
    let late = soft_key(&app).register(&start["options"]);
    let csrf = session_csrf(&app, &b);
    let r = b
        .post_json(
            "/account/passkeys/register/finish",
            &json!({"csrf": csrf, "ceremony": start["ceremony"], "credential": late}),
        )
        .await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "reauthentication_required").await;
    let r = b
        .post_json(
            "/account/passkeys/remove",
            &json!({"csrf": csrf, "id": key.id()}),
        )
        .await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "reauthentication_required").await;
    // The page's form: to the login page, back to the passkeys.
    let r = b
        .post_form(
            "/account/passkeys/remove",
            &[("csrf", csrf.as_str()), ("id", key.id().as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = header(&r, "location").expect("location");
    assert!(
        to.starts_with("/auth/login?return_to=%2Faccount%2Fpasskeys"),
        "{to}"
    );
    assert_eq!(
        app.engine.users.get(&user.id).unwrap().passkeys.len(),
        1,
        "nothing removed"
    );
    // The page says so instead of offering the changes.
    let html = b.get_html("/account/passkeys").await.text().await.unwrap();
    assert!(html.contains("Sign in again"), "{html}");
    assert!(!html.contains("data-passkey-add"));
    // Renaming is not guarded.
    let r = b
        .post_json(
            "/account/passkeys/rename",
            &json!({"csrf": csrf, "id": key.id(), "name": "Old key"}),
        )
        .await;
    json_of(r, StatusCode::OK).await;

    // Signing in again (password, then the passkey) makes it recent.
    let mut b = Browser::new(&app);
    let r = password_then_passkey(&mut b, &user, &mut key, Some("/account/passkeys")).await;
    let body = json_of(r, StatusCode::OK).await;
    assert_eq!(body["redirect"], "/account/passkeys");
    register(&app, &mut b, &mut soft_key(&app), "New").await;
    let csrf = session_csrf(&app, &b);
    let r = b
        .post_json(
            "/account/passkeys/remove",
            &json!({"csrf": csrf, "id": key.id()}),
        )
        .await;
    let body = json_of(r, StatusCode::OK).await;
    assert_eq!(body["passkeys"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn every_change_needs_the_session_csrf_token_and_a_session() {
    let app = spawn_app().await;
    let user = create_user(&app, "carol").await;
    let mut b = logged_in(&app, &user).await;
    let mut key = soft_key(&app);
    register(&app, &mut b, &mut key, "Key").await;
    for (path, body) in [
        ("/account/passkeys/register/start", json!({"name": "x"})),
        (
            "/account/passkeys/register/start",
            json!({"name": "x", "csrf": "forged"}),
        ),
        (
            "/account/passkeys/rename",
            json!({"id": key.id(), "name": "x"}),
        ),
        ("/account/passkeys/remove", json!({"id": key.id()})),
    ] {
        let r = b.post_json(path, &body).await;
        assert_api_error(r, StatusCode::FORBIDDEN, "csrf_token_invalid").await;
    }
    let r = b
        .post_form("/account/passkeys/remove", &[("id", key.id().as_str())])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.engine.users.get(&user.id).unwrap().passkeys.len(), 1);
    assert_eq!(
        app.engine.users.get(&user.id).unwrap().passkeys[0].name,
        "Key"
    );

    // Signed out: JSON gets 401, the page sends to the login.
    let mut anon = Browser::new(&app);
    let r = anon.get("/account/passkeys").await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = anon.get_html("/account/passkeys").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = anon
        .post_json("/account/passkeys/register/start", &json!({"name": "x"}))
        .await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn the_pages_run_one_script_by_nonce_and_offer_passkeys() {
    let app = spawn_app().await;
    let user = create_user(&app, "dave").await;
    let mut b = logged_in(&app, &user).await;
    register(&app, &mut b, &mut soft_key(&app), "Laptop").await;
    let r = b.get_html("/account/passkeys").await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = header(&r, "content-security-policy").expect("a policy");
    let nonce = csp
        .split("script-src 'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("a script nonce")
        .to_string();
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains(&format!(
        r#"<script nonce="{nonce}" src="/assets/passkeys.js"></script>"#
    )));
    assert!(html.contains("Laptop") && html.contains("Device-bound passkey"));
    assert!(html.contains(r#"action="/account/passkeys/remove""#));
    assert!(html.contains(&session_csrf(&app, &b)));
    // A fresh nonce per page.
    let again = b.get_html("/account/passkeys").await;
    let csp2 = header(&again, "content-security-policy").unwrap();
    assert!(!csp2.contains(&nonce));

    // The login page: autofill and a button, same policy shape.
    let r = Browser::new(&app).get("/auth/login").await;
    let csp = header(&r, "content-security-policy").unwrap();
    assert!(csp.contains("script-src 'nonce-"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"autocomplete="username webauthn""#));
    assert!(html.contains("Sign in with a passkey"));

    // The script itself: served by this server, as JavaScript.
    let r = app
        .http
        .get(app.url("/assets/passkeys.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "content-type")
        .unwrap()
        .starts_with("text/javascript"));
    let js = r.text().await.unwrap();
    assert!(js.contains("/auth/passkey/finish") && js.contains("mediation"));
}
