//! `/sessions/*` (SPEC §3) changing sessions: extension, idle expiry,
//! rotation, ending the current or another session, the bucket.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera_actors::clock::rfc3339;

use crate::helpers::{assert_api_error, header, spawn_app, spawn_app_with};
use crate::sessions::{
    call, create_user, get_ok, ids, open_session, set_cookies, status, user_token, Auth, COOKIE,
    FIREFOX, IPHONE,
};

#[actix_web::test]
async fn extend_pushes_the_expiry_out_but_not_past_the_absolute_lifetime() {
    let app = spawn_app_with(|s| {
        s.sessions.idle_timeout = 1800;
        s.sessions.absolute_lifetime = 3000;
    })
    .await;
    let alice = create_user(&app, "alice").await;
    let (s, secret) = open_session(&app, alice, FIREFOX).await;
    let t0 = s.created_at;
    let me = Auth::Cookie(&secret);
    assert_eq!(
        get_ok(&app, "/sessions/session", me).await["expires_at"],
        rfc3339(t0 + 1800)
    );

    app.clock.advance(1000);
    let e = get_ok(&app, "/sessions/session/extend", me).await;
    assert_eq!(e["id"], s.id.to_string(), "extending keeps the id");
    assert_eq!(e["expires_at"], rfc3339(t0 + 2800));
    assert_eq!(e["last_seen_at"], rfc3339(t0 + 1000));
    assert_eq!(e["current"], true);

    // Past the original idle expiry, still alive thanks to the extension.
    app.clock.advance(1000);
    let e = get_ok(&app, "/sessions/session/extend", me).await;
    assert_eq!(
        e["expires_at"],
        rfc3339(t0 + 3000),
        "bounded by the absolute lifetime"
    );

    app.clock.advance(1000);
    let r = call(&app, Method::GET, "/sessions/session", me, None).await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn an_idle_session_expires() {
    let app = spawn_app().await;
    let alice = create_user(&app, "alice").await;
    let (s, secret) = open_session(&app, alice, FIREFOX).await;
    app.clock.advance(1799);
    get_ok(&app, "/sessions", Auth::Cookie(&secret)).await;
    // That request was activity: the idle expiry moves with it (recorded
    // by the registry just after the answer).
    let now = app.now();
    for _ in 0..200 {
        if app.engine.sessions.get(&s.id).unwrap().last_seen_at == now {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(
        app.engine.sessions.get(&s.id).unwrap().expires_at,
        now + 1800
    );
    app.clock.advance(1799);
    get_ok(&app, "/sessions", Auth::Cookie(&secret)).await;
    app.clock.advance(1801);
    let r = call(&app, Method::GET, "/sessions", Auth::Cookie(&secret), None).await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = call(
        &app,
        Method::GET,
        "/sessions/session",
        Auth::Cookie(&secret),
        None,
    )
    .await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn refresh_rotates_the_id_and_cookie_and_kills_the_old_cookie() {
    let app = spawn_app().await;
    let alice = create_user(&app, "alice").await;
    let (s, old_secret) = open_session(&app, alice, FIREFOX).await;
    let r = call(
        &app,
        Method::PUT,
        "/sessions/bucket",
        Auth::Cookie(&old_secret),
        Some(r#"{"theme":"dark"}"#),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    let r = call(
        &app,
        Method::GET,
        "/sessions/session/refresh",
        Auth::Cookie(&old_secret),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let cookies = set_cookies(&r);
    let body: Value = r.json().await.unwrap();
    assert_ne!(body["id"], s.id.to_string(), "a new id");
    assert_eq!(body["current"], true);
    assert_eq!(
        body["created_at"],
        rfc3339(s.created_at),
        "the same session"
    );
    assert_eq!(body["bucket"], json!({"theme": "dark"}), "its bucket kept");
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let c = &cookies[0];
    let new_secret = c
        .strip_prefix(&format!("{COOKIE}="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string();
    assert!(!new_secret.is_empty() && new_secret != old_secret);
    assert!(c.contains("HttpOnly"), "{c}");
    assert!(c.contains("SameSite=Lax"), "{c}");
    assert!(c.contains("Path=/"), "{c}");

    // The old cookie and the old id are dead; the new cookie works.
    let r = call(
        &app,
        Method::GET,
        "/sessions/session",
        Auth::Cookie(&old_secret),
        None,
    )
    .await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let cur = get_ok(&app, "/sessions/session", Auth::Cookie(&new_secret)).await;
    assert_eq!(cur["id"], body["id"]);
    let r = call(
        &app,
        Method::GET,
        &format!("/sessions/session/{}", s.id),
        Auth::Cookie(&new_secret),
        None,
    )
    .await;
    assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        ids(&get_ok(&app, "/sessions", Auth::Cookie(&new_secret)).await).len(),
        1
    );

    // A bearer token cannot trade itself for a session cookie.
    let new_id: uuid::Uuid = body["id"].as_str().unwrap().parse().unwrap();
    let token = user_token(&app, alice, Some(new_id)).await;
    let r = call(
        &app,
        Method::GET,
        "/sessions/session/refresh",
        Auth::Bearer(&token),
        None,
    )
    .await;
    assert!(set_cookies(&r).is_empty());
    assert_api_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    get_ok(&app, "/sessions/session", Auth::Cookie(&new_secret)).await;
}

#[actix_web::test]
async fn ending_the_current_session_removes_the_cookie_and_kills_it() {
    let app = spawn_app().await;
    let alice = create_user(&app, "alice").await;
    let (s, secret) = open_session(&app, alice, FIREFOX).await;
    let (other, other_secret) = open_session(&app, alice, IPHONE).await;

    let r = call(
        &app,
        Method::DELETE,
        "/sessions/session",
        Auth::Cookie(&secret),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(
        cookies[0].starts_with(&format!("{COOKIE}=;")),
        "{cookies:?}"
    );
    assert!(cookies[0].contains("Max-Age=0"), "{cookies:?}");
    let body: Value = r.json().await.unwrap();
    assert!(body["message"].is_string());

    assert!(app.engine.sessions.get(&s.id).is_none());
    for path in ["/sessions", "/sessions/session"] {
        let r = call(&app, Method::GET, path, Auth::Cookie(&secret), None).await;
        assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // The user's other session lives on.
    let list = get_ok(&app, "/sessions", Auth::Cookie(&other_secret)).await;
    assert_eq!(ids(&list), [other.id.to_string()]);
}

#[actix_web::test]
async fn ending_another_session_by_id() {
    let app = spawn_app().await;
    let alice = create_user(&app, "alice").await;
    let (s1, secret1) = open_session(&app, alice, FIREFOX).await;
    let (s2, secret2) = open_session(&app, alice, IPHONE).await;
    let me = Auth::Cookie(&secret1);

    let r = call(
        &app,
        Method::DELETE,
        &format!("/sessions/session/{}", s2.id),
        me,
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(set_cookies(&r).is_empty(), "the caller's own cookie stays");
    assert_eq!(
        ids(&get_ok(&app, "/sessions", me).await),
        [s1.id.to_string()]
    );
    assert_eq!(
        status(&app, Method::GET, "/sessions", Auth::Cookie(&secret2)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(
            &app,
            Method::DELETE,
            &format!("/sessions/session/{}", s2.id),
            me
        )
        .await,
        StatusCode::NOT_FOUND,
        "already ended"
    );

    // Ending one's own session by id is a logout: the cookie goes too.
    let r = call(
        &app,
        Method::DELETE,
        &format!("/sessions/session/{}", s1.id),
        me,
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(set_cookies(&r)[0].starts_with(&format!("{COOKIE}=;")));
    assert_eq!(
        status(&app, Method::GET, "/sessions", me).await,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn the_bucket_merges_objects_within_16_kib() {
    let app = spawn_app().await;
    let alice = create_user(&app, "alice").await;
    let (s, secret) = open_session(&app, alice, FIREFOX).await;
    let me = Auth::Cookie(&secret);
    let put = |body: String| {
        let app = &app;
        async move { call(app, Method::PUT, "/sessions/bucket", me, Some(&body)).await }
    };

    let r = put(json!({"a": 1, "b": {"c": [1, 2]}}).to_string()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], s.id.to_string());
    assert_eq!(v["bucket"], json!({"a": 1, "b": {"c": [1, 2]}}));

    // Top-level keys replace; null removes.
    let v: Value = put(json!({"a": null, "b": "x", "d": true}).to_string())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["bucket"], json!({"b": "x", "d": true}));
    assert_eq!(
        get_ok(&app, "/sessions/session", me).await["bucket"],
        json!({"b": "x", "d": true})
    );

    // Too big: the patch itself, or the merged bucket.
    let big = "x".repeat(17 * 1024);
    let r = put(json!({ "big": big }).to_string()).await;
    assert_api_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let nine = "y".repeat(9 * 1024);
    assert_eq!(
        put(json!({ "one": nine }).to_string()).await.status(),
        StatusCode::OK
    );
    let r = put(json!({ "two": nine }).to_string()).await;
    assert_api_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Over the 64 KiB body limit of every endpoint.
    let r = put(json!({ "huge": "z".repeat(70 * 1024) }).to_string()).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Not an object, or not JSON.
    for body in ["[1,2]", "\"text\"", "42", "null", "{not json"] {
        let r = put(body.to_string()).await;
        assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    }
    // Nothing of that reached the bucket.
    assert_eq!(
        get_ok(&app, "/sessions/session", me).await["bucket"],
        json!({"b": "x", "d": true, "one": nine})
    );
}
