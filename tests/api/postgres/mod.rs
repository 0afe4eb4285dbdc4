//! The PostgreSQL backend's own promises, whatever backend the rest of the
//! suite runs on: start-up errors, schema versions, losing the database
//! while running, single use decided by the database across processes,
//! the bounded expiry sweep, and `tessera store copy` between backends.

mod copy;
mod faults;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tessera::configuration::{Backend, Settings};
use tessera::startup::Application;
use tessera_actors::pg::{Pg, PgOptions, SCHEMA_VERSION};

use crate::helpers::{spawn_app_on, TestBackend, TestDb};

fn pg_settings(db: &TestDb) -> Settings {
    let dir = std::env::temp_dir();
    let mut s = Settings {
        bind: "127.0.0.1:0".into(),
        data_dir: dir,
        admin_token: Some("pg-test-admin-token-0123456789abcdef".into()),
        ..Settings::default()
    };
    s.store.backend = Backend::Postgres;
    s.store.database_url = Some(db.url.clone());
    s
}

async fn build_error(settings: Settings) -> String {
    match Application::build(settings).await {
        Ok(_) => panic!("the server started"),
        Err(e) => format!("{e:#}"),
    }
}

#[actix_web::test]
async fn an_unreachable_database_is_a_clear_error_naming_where() {
    let mut s = pg_settings(&TestDb::create());
    s.store.database_url = Some("postgres://postgres@127.0.0.1:1/tessera".into());
    s.store.statement_timeout_ms = 2000;
    let e = build_error(s).await;
    assert!(e.contains("127.0.0.1:1"), "{e}");
    assert!(e.contains("cannot connect to PostgreSQL"), "{e}");
}

#[actix_web::test]
async fn a_refused_login_is_a_clear_error_with_the_servers_reason() {
    // The test server trusts loopback, so a wrong password cannot be told
    // apart here; a role that does not exist is refused by the same
    // authentication step (SQLSTATE 28000 rather than 28P01).
    let db = TestDb::create();
    let mut s = pg_settings(&db);
    let mut url = reqwest::Url::parse(&db.url).unwrap();
    url.set_username("no_such_role").unwrap();
    url.set_password(Some("wrong")).unwrap();
    s.store.database_url = Some(url.to_string());
    let e = build_error(s).await;
    assert!(
        e.contains("cannot connect to PostgreSQL at 127.0.0.1:"),
        "{e}"
    );
    assert!(e.contains("no_such_role"), "{e}");
    assert!(!e.contains("wrong"), "the password is never printed: {e}");
}

#[actix_web::test]
async fn a_url_with_no_database_url_names_the_setting() {
    let db = TestDb::create();
    let mut s = pg_settings(&db);
    s.store.database_url = None;
    let e = build_error(s).await;
    assert!(e.contains("store.database_url"), "{e}");
}

#[actix_web::test]
async fn a_schema_newer_than_the_binary_refuses_to_start_naming_both_versions() {
    let db = TestDb::create();
    // A first start creates the schema.
    {
        let pg = Pg::connect(&PgOptions::new(db.url.as_str())).unwrap();
        drop(pg);
    }
    db.exec(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (999, 'from the future', true, '\\x00', 0)",
    );
    let e = build_error(pg_settings(&db)).await;
    assert!(e.contains("version 999"), "{e}");
    assert!(e.contains(&format!("version {SCHEMA_VERSION}")), "{e}");
}

#[actix_web::test]
async fn without_migrate_an_empty_database_refuses_until_tessera_migrate_runs() {
    let db = TestDb::create();
    let mut s = pg_settings(&db);
    s.store.migrate = false;
    let e = build_error(s.clone()).await;
    assert!(e.contains("tessera migrate"), "{e}");
    assert!(e.contains("version 0"), "{e}");

    let migrate = |expect: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("migrate")
            .env("TESSERA_STORE__BACKEND", "postgres")
            .env("TESSERA_STORE__DATABASE_URL", &db.url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run tessera migrate");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(expect), "{stdout}");
    };
    migrate(&format!(
        "schema migrated from version 0 to {SCHEMA_VERSION}"
    ));
    migrate("nothing to do");
    let app = Application::build(s).await.expect("starts once migrated");
    drop(app);
}

#[actix_web::test]
async fn sslmode_in_the_url_encrypts_the_connections() {
    // The test server (Debian's default configuration) has ssl = on.
    let db = TestDb::create();
    let plain = Pg::connect(&PgOptions::new(format!("{}?sslmode=disable", db.url))).unwrap();
    assert!(!plain.tls_in_use().unwrap());
    let tls = Pg::connect(&PgOptions::new(format!("{}?sslmode=require", db.url))).unwrap();
    assert!(
        tls.tls_in_use().unwrap(),
        "sslmode=require connects over TLS"
    );
}

/// Two processes' stores over one database race for one code and one
/// refresh rotation: the database decides, and exactly one wins each.
#[actix_web::test]
async fn single_use_is_decided_by_the_database_across_processes() {
    use tessera_actors::store;
    use tessera_actors::tokens::{AuthCode, RefreshMeta, Table};
    let db = TestDb::create();
    let a = Pg::connect(&PgOptions::new(db.url.as_str())).unwrap();
    let b = Pg::connect(&PgOptions::new(db.url.as_str())).unwrap();
    let code: AuthCode = serde_json::from_value(serde_json::json!({
        "client_id": "c", "redirect_uri": "https://app.example.com/cb",
        "user_id": uuid::Uuid::new_v4(), "scope": "openid", "nonce": null, "pkce": null,
        "auth_time": 1, "sid": null, "amr": ["pwd"], "iat": 1, "exp": 4_000_000_000i64,
        "family": 5, "consumed": false
    }))
    .unwrap();
    let stores_a = a.stores();
    stores_a
        .tokens
        .put(Table::Code, vec![(42, store::encode(&code).unwrap())])
        .unwrap();
    tessera_actors_durable(stores_a.tokens.durable()).await;
    let used = AuthCode {
        consumed: true,
        ..code
    };
    let wins: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let pg = if i % 2 == 0 { a.clone() } else { b.clone() };
                let used = used.clone();
                s.spawn(move || {
                    let stores = pg.stores();
                    usize::from(stores.tokens.consume_code(42, &used).unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(wins, 1, "exactly one exchange of the code wins");

    let meta = RefreshMeta {
        jti: 1,
        family: 9,
        client_id: "c".into(),
        user_id: uuid::Uuid::new_v4(),
        username: None,
        scope: "read".into(),
        aud: Vec::new(),
        auth_time: 1,
        sid: None,
        amr: Vec::new(),
        iat: 1,
        exp: 4_000_000_000,
        family_deadline: 4_000_000_000,
        used: false,
        rotating: true,
        origin: "authorization_code".into(),
        ..Default::default()
    };
    stores_a
        .tokens
        .put(Table::Refresh, vec![(7, store::encode(&meta).unwrap())])
        .unwrap();
    tessera_actors_durable(stores_a.tokens.durable()).await;
    let used = RefreshMeta { used: true, ..meta };
    let wins: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let pg = if i % 2 == 0 { a.clone() } else { b.clone() };
                let used = used.clone();
                s.spawn(move || usize::from(pg.stores().tokens.use_refresh(7, &used).unwrap()))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(wins, 1, "exactly one rotation of the refresh token wins");
}

/// Two processes' mailers share one queue: a mail is claimed by one of
/// them at a time (`FOR UPDATE SKIP LOCKED` and a lease), so it is sent once.
#[actix_web::test]
async fn a_queued_mail_is_claimed_by_one_process_at_a_time() {
    use tessera_actors::mailer::storage::Claim;
    use tessera_actors::mailer::{Mail, MailState, QueuedMail};
    let db = TestDb::create();
    // Two cluster nodes (each writes the feed under an origin of its own).
    let node = |origin| {
        let mut o = PgOptions::new(db.url.as_str());
        o.origin = Some(origin);
        Pg::connect(&o).unwrap()
    };
    let (a, b) = (node(1), node(2));
    let (sa, sb) = (a.stores(), b.stores());
    let mail = QueuedMail {
        id: uuid::Uuid::now_v7(),
        mail: Mail {
            to: "someone@example.com".into(),
            subject: "hello".into(),
            text: "hi".into(),
            html: None,
        },
        created_at: 1,
        attempts: 0,
        next_attempt_at: 0,
        state: MailState::Queued,
        last_error: None,
    };
    sa.mail.put(&mail).unwrap();
    tessera_actors_durable(sa.mail.durable()).await;
    let wins: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let pg = if i % 2 == 0 { a.clone() } else { b.clone() };
                let id = mail.id;
                s.spawn(move || {
                    usize::from(pg.stores().mail.claim(&id, 100, 200).unwrap() == Claim::Won)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(wins, 1, "exactly one process attempts the mail");
    assert_eq!(
        sb.mail.claim(&mail.id, 150, 250).unwrap(),
        Claim::Leased(200)
    );
    // The lease runs out (the claimer died mid-attempt): another takes it.
    assert_eq!(sb.mail.claim(&mail.id, 200, 300).unwrap(), Claim::Won);
    // Delivered and dropped by the claimer: no one sends it again.
    sb.mail.delete(&mail.id).unwrap();
    tessera_actors_durable(sb.mail.durable()).await;
    assert_eq!(sa.mail.claim(&mail.id, 400, 500).unwrap(), Claim::Gone);
    // A server alone always attempts its own queue.
    let alone = Pg::connect(&PgOptions::new(db.url.as_str())).unwrap();
    assert_eq!(
        alone.stores().mail.claim(&mail.id, 400, 500).unwrap(),
        Claim::Won
    );
}

async fn tessera_actors_durable(d: tessera_actors::stores::Durable) {
    d.await.expect("durable");
}

/// Expired rows go in batches of a thousand, live ones stay.
#[actix_web::test]
async fn the_expiry_sweep_deletes_expired_rows_in_bounded_batches() {
    let db = TestDb::create();
    let pg = Pg::connect(&PgOptions::new(db.url.as_str())).unwrap();
    db.exec(
        "INSERT INTO access_tokens (id, expires_at, payload) \
         SELECT int8send(g), 100, '\\x01' FROM generate_series(1, 2500) g",
    );
    db.exec(
        "INSERT INTO revoked (id, expires_at, payload) \
         SELECT int8send(g), 4000000000, '\\x01' FROM generate_series(1, 10) g",
    );
    assert_eq!(pg.sweep_expired(1000).unwrap(), 2500);
    assert_eq!(
        pg.load(tessera_actors::pg::tables::Table::AccessTokens)
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        pg.load(tessera_actors::pg::tables::Table::Revoked)
            .unwrap()
            .len(),
        10
    );
    assert_eq!(
        pg.sweep_expired(1000).unwrap(),
        0,
        "a second sweep finds nothing"
    );
}

/// The whole life of a token on PostgreSQL survives a restart: what was
/// acknowledged is loaded into memory again.
#[actix_web::test]
async fn acknowledged_writes_survive_a_restart_on_postgres() {
    let app = spawn_app_on(TestBackend::Postgres, |_| {}).await;
    let c = app
        .create_client(serde_json::json!({"client_id": "pg-restart", "access_token_format": "opaque", "scope": "read"}))
        .await;
    let keep = app.get_token(&c).await;
    let gone = app.get_token(&c).await;
    assert_eq!(app.revoke(&c, &gone).await, StatusCode::OK);
    let url = app.db.as_ref().unwrap().url.clone();
    let data_dir = app.data_dir.clone();
    // A second server over the same database (the first keeps running; it
    // holds the server lock shared).
    let again = spawn_app_on(TestBackend::Postgres, |s| {
        s.store.database_url = Some(url.clone());
        s.data_dir = data_dir.clone();
    })
    .await;
    let v: Value = again.introspect(&c, &keep).await;
    assert_eq!(v["active"], true, "{v}");
    again.assert_inactive(&c, &gone).await;
    let _ = Duration::from_secs(0);
}

/// While a server uses the database, the CLI's admin commands go through
/// its admin API (as with sled's lock): written directly, the running
/// server's views would not know of them.
#[actix_web::test]
async fn the_cli_goes_through_the_server_that_uses_the_database() {
    use crate::process::{stderr, stdout, tessera, Server, ADMIN_TOKEN};
    let db = TestDb::create();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TESSERA_STORE__BACKEND", "postgres"),
        ("TESSERA_STORE__DATABASE_URL", db.url.as_str()),
    ];
    let s = Server::start_with_env(&dir.path().join("a"), &dir.path().join("serve.log"), &env);
    // Another data directory: only the database is shared.
    let o = tessera(&dir.path().join("b"))
        .envs(env)
        .env("TESSERA_URL", &s.address)
        .args([
            "client",
            "create",
            "--client-id",
            "via-api",
            "--scope",
            "read",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("via-api"), "{}", stdout(&o));
    let r = crate::helpers::http_client()
        .get(s.url("/admin/clients/via-api"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the running server knows the client"
    );
    s.kill();
    // With no server, the CLI opens the database itself.
    let o = tessera(&dir.path().join("b"))
        .envs(env)
        .args(["client", "list"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("via-api"), "{}", stdout(&o));
}
