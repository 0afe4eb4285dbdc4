//! The admin console (`/admin/console`): signing in with the admin token
//! or as an admin user, its session and cookie, CSRF on every form, the
//! headers of every page, and actions that go through the admin
//! operations (seen through the JSON API and introspection).
//!
//! - `signin` — sign-in, refusals, the rate limit, sign-out, timeouts.
//! - `forms` — every form refused without its token; frame refusal.
//! - `actions` — console actions change state through the operations.
//! - `cluster` — one console session across the nodes of a cluster.

mod actions;
mod cluster;
mod forms;
mod signin;

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{header, TestApp};

pub const PASSWORD: &str = "correct horse battery staple";
pub const CONSOLE_COOKIE: &str = "tessera_console";

/// A browser's view of the console: the console cookie and the page's
/// form token.
#[derive(Clone)]
pub struct Console {
    pub cookie: String,
    pub csrf: String,
}

/// Every `Set-Cookie` of a response.
pub fn set_cookies(r: &Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ASCII").to_string())
        .collect()
}

/// The `name=value` pair of cookie `name` set by `r`, if any.
pub fn cookie_pair(r: &Response, name: &str) -> Option<String> {
    set_cookies(r)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
        .filter(|p| p.len() > name.len() + 1)
}

/// The `value` of the first `<input name="csrf">` in a page.
pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")?;
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    Some(rest.split('"').next()?.to_string())
}

/// `GET` with a cookie header.
pub async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> Response {
    let mut r = app.http.get(app.url(path)).header("accept", "text/html");
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    r.send().await.expect("GET")
}

/// A form `POST` with a cookie header.
pub async fn post(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> Response {
    let mut r = app
        .http
        .post(app.url(path))
        .header("accept", "text/html")
        .form(form);
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    r.send().await.expect("POST")
}

/// The sign-in page's form token and its double-submit cookie.
pub async fn signin_form(app: &TestApp, cookie: Option<&str>) -> (String, String, String) {
    let r = get(app, "/admin/console/signin", cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    let pair = cookie_pair(&r, "tessera_console_csrf").expect("the sign-in form's cookie");
    let html = r.text().await.expect("page");
    (csrf_in(&html).expect("a csrf field"), pair, html)
}

/// Sign in with `token`; the raw answer.
pub async fn try_token(app: &TestApp, token: &str) -> Response {
    let (csrf, pair, _) = signin_form(app, None).await;
    post(
        app,
        "/admin/console/signin",
        Some(&pair),
        &[("token", token), ("csrf", &csrf)],
    )
    .await
}

/// Sign in with the admin token; the console as the browser holds it.
pub async fn sign_in(app: &TestApp) -> Console {
    let r = try_token(app, &app.admin_token).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(&r, "location").as_deref(),
        Some("/admin/console?done=signed_in")
    );
    let cookie = cookie_pair(&r, CONSOLE_COOKIE).expect("a console cookie");
    opened(app, cookie).await
}

/// The console behind `cookie`, with the form token of its pages.
pub async fn opened(app: &TestApp, cookie: String) -> Console {
    let r = get(app, "/admin/console", Some(&cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let csrf = csrf_in(&r.text().await.expect("page")).expect("a form token");
    Console { cookie, csrf }
}

/// A user (created over the admin API) signed in through `/auth/login`;
/// the id and the session cookie pair.
pub async fn logged_in_user(app: &TestApp, username: &str) -> (uuid::Uuid, String) {
    let id = crate::sessions::create_user(app, username).await;
    let r = app
        .http
        .post(app.url("/auth/login"))
        .json(&json!({"login": username, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::OK);
    let pair = cookie_pair(&r, "tessera_session").expect("a session cookie");
    (id, pair)
}

/// Give a user the admin role.
pub async fn make_admin(app: &TestApp, id: uuid::Uuid) {
    app.engine
        .directory
        .send(tessera_actors::directory::SetRoles {
            id,
            roles: vec![tessera_actors::directory::ADMIN_ROLE.to_string()],
        })
        .await
        .expect("directory mailbox")
        .expect("role set");
}
