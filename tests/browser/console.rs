//! The admin console in Chromium: sign in with the admin token, create a
//! client, revoke the token it got from a client_credentials grant,
//! rotate the signing keys, end a user's sessions; a screenshot of every
//! console page goes to `target/e2e-screenshots-console/`.

use super::*;

#[actix_web::test]
async fn an_admin_runs_the_server_from_the_console_in_chromium() {
    if std::env::var("TESSERA_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("TESSERA_SKIP_BROWSER=1: the browser test is skipped");
        return;
    }
    let chromedriver = find_program(&["chromedriver"]);
    let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"]);
    let (Some(chromedriver), Some(chromium)) = (chromedriver, chromium) else {
        panic!("the browser test needs Chromium and chromedriver (or TESSERA_SKIP_BROWSER=1)");
    };
    tokio::time::timeout(Duration::from_secs(240), run(&chromedriver, &chromium))
        .await
        .expect("the console flow within 240 s");
}

/// Accept the page's confirmation questions (destructive actions ask).
async fn accept_confirms(c: &Client) {
    c.execute("window.confirm = function () { return true; };", vec![])
        .await
        .expect("script");
}

/// Wait (bounded) until the page's `main` says `needle`: a form posted
/// to the page it was on lands on a new page of the same path.
async fn wait_text(c: &Client, needle: &str) {
    let deadline = Instant::now() + STEP;
    loop {
        if let Ok(e) = c.find(Locator::Css("main")).await {
            if e.text().await.is_ok_and(|t| t.contains(needle)) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} never shown: {}",
            c.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run(chromedriver: &Path, chromium: &Path) {
    let app = helpers::spawn_app().await;
    // A user signed in elsewhere, whose sessions the admin ends.
    let user = app
        .admin(
            reqwest::Method::POST,
            "/admin/users",
            Some(json!({"username": "grace", "email": "grace@example.com", "password": PASSWORD, "email_verified": true})),
        )
        .await;
    assert_eq!(user.status(), reqwest::StatusCode::CREATED);
    let user: Value = user.json().await.expect("user");
    let login = app
        .http
        .post(app.url("/auth/login"))
        .json(&json!({"login": "grace", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    let grace_cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tessera_session="))
        .and_then(|v| v.split(';').next())
        .expect("grace's session cookie")
        .to_string();
    let account = |cookie: String| {
        let (http, url) = (app.http.clone(), app.url("/account"));
        async move {
            http.get(url)
                .header("cookie", cookie)
                .send()
                .await
                .expect("account")
        }
    };
    assert_eq!(
        account(grace_cookie.clone()).await.status(),
        reqwest::StatusCode::OK
    );

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/e2e-screenshots-console");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    let mut shots = Shots { dir, n: 0 };
    let driver = start_driver(chromedriver).await;
    let c = connect(&driver, chromium).await;
    c.set_window_size(1280, 800).await.expect("window size");
    let base = app.address.clone();

    // Sign in with the admin token.
    goto(&c, &format!("{base}/admin/console")).await;
    wait_path(&c, "/admin/console/signin").await;
    shots.take(&c, "signin").await;
    fill(&c, "token", &app.admin_token).await;
    click(&c, "form[action='/admin/console/signin'] button").await;
    wait_path(&c, "/admin/console").await;
    assert!(text_of(&c, "#console-actor").await.contains("admin token"));
    shots.take(&c, "overview").await;

    // Create a client.
    goto(&c, &format!("{base}/admin/console/clients/new")).await;
    fill(&c, "client_id", "reports").await;
    fill(&c, "name", "Quarterly Reports").await;
    fill(&c, "scope", "read write").await;
    fill(&c, "audiences", "https://api.example.com").await;
    shots.take(&c, "client-new").await;
    click(&c, "#save-client").await;
    wait_text(&c, "The client was created.").await;
    let secret = text_of(&c, "#client-secret").await;
    assert!(secret.len() > 20, "the secret is shown once");
    shots.take(&c, "client-created").await;
    goto(&c, &format!("{base}/admin/console/clients")).await;
    assert!(text_of(&c, "main").await.contains("Quarterly Reports"));
    shots.take(&c, "clients").await;

    // The client gets a token; the admin revokes it from the console.
    let client = helpers::TestClient {
        id: "reports".into(),
        secret,
    };
    let token = app.get_token(&client).await;
    app.assert_active(&client, &token).await;
    goto(&c, &format!("{base}/admin/console/tokens")).await;
    fill(&c, "q", &token).await;
    click(&c, "form[role=search] button").await;
    assert_eq!(text_of(&c, "#token-state").await, "active");
    shots.take(&c, "token").await;
    accept_confirms(&c).await;
    click(&c, "#revoke-token").await;
    wait_text(&c, "The token was revoked.").await;
    app.assert_inactive(&client, &token).await;

    // Rotate the keys: the new kid is in the JWKS.
    let before = app.jwks_kids().await;
    goto(&c, &format!("{base}/admin/console/keys")).await;
    accept_confirms(&c).await;
    click(&c, "#rotate-keys").await;
    wait_text(&c, "The signing keys were rotated.").await;
    shots.take(&c, "keys").await;
    let after = app.jwks_kids().await;
    let fresh: Vec<&String> = after.iter().filter(|k| !before.contains(k)).collect();
    assert!(!fresh.is_empty(), "{before:?} → {after:?}");
    assert!(text_of(&c, "main").await.contains(fresh[0].as_str()));

    // End grace's sessions: her browser is signed out.
    let id = user["id"].as_str().expect("id");
    goto(&c, &format!("{base}/admin/console/users")).await;
    shots.take(&c, "users").await;
    goto(&c, &format!("{base}/admin/console/users/{id}")).await;
    shots.take(&c, "user").await;
    accept_confirms(&c).await;
    click(&c, "#end-all-sessions").await;
    wait_path(&c, &format!("/admin/console/users/{id}")).await;
    assert!(text_of(&c, "main")
        .await
        .contains("The sessions were ended."));
    let r = account(grace_cookie).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    assert!(r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .starts_with("/auth/login"));

    // The other pages.
    for (path, name) in [
        ("/admin/console/sessions", "sessions"),
        ("/admin/console/entities", "entities"),
        ("/admin/console/mail", "mail"),
        ("/admin/console/cluster", "cluster"),
        ("/admin/console/audit", "audit"),
    ] {
        goto(&c, &format!("{base}{path}")).await;
        wait_path(&c, path).await;
        shots.take(&c, name).await;
    }
    assert!(text_of(&c, "main").await.contains("client.create"));

    // The overview now lists what was done.
    goto(&c, &format!("{base}/admin/console")).await;
    assert!(text_of(&c, "main").await.contains("key.rotate"));
    shots.take(&c, "overview-after").await;

    // Sign out.
    click(&c, "form[action='/admin/console/signout'] button").await;
    wait_path(&c, "/admin/console/signin").await;
    let _ = tokio::time::timeout(STEP, c.close()).await;
    drop(driver);
}
