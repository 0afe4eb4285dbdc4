//! `tessera store copy`: sled → PostgreSQL → sled, every record compared
//! byte for byte; a second run is a no-op; a target that differs, or a
//! store a server is using, is refused; and a server started on the copy
//! answers as the original did.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{http_client, TestDb};
use crate::process::{run, stderr, stdout, Server, ADMIN_TOKEN};

struct Remote {
    http: reqwest::Client,
    base: String,
}

impl Remote {
    fn new(s: &Server) -> Remote {
        Remote {
            http: http_client(),
            base: s.address.clone(),
        }
    }
    async fn admin_post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{path}");
        r.json().await.unwrap()
    }
    async fn form(
        &self,
        path: &str,
        id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .basic_auth(id, Some(secret))
            .form(form)
            .send()
            .await
            .unwrap()
    }
    async fn token(&self, id: &str, secret: &str) -> String {
        let r = self
            .form(
                "/oauth2/token",
                id,
                secret,
                &[("grant_type", "client_credentials")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }
    async fn active(&self, id: &str, secret: &str, token: &str) -> bool {
        let r = self
            .form("/oauth2/token/introspect", id, secret, &[("token", token)])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        v["active"] == true
    }
}

fn pg_env(db: &TestDb) -> [(&'static str, String); 2] {
    [
        ("TESSERA_STORE__BACKEND", "postgres".to_string()),
        ("TESSERA_STORE__DATABASE_URL", db.url.clone()),
    ]
}

#[actix_web::test]
async fn a_store_copied_sled_to_postgres_to_sled_is_the_same_record_for_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &dir.path().join("sled.log"));
    let remote = Remote::new(&server);
    let c = remote
        .admin_post(
            "/admin/clients",
            json!({"client_id": "copied", "access_token_format": "opaque", "scope": "read", "introspect_any": true}),
        )
        .await;
    let (id, secret) = (
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap(),
    );
    remote
        .admin_post(
            "/admin/users",
            json!({"username": "copied-user", "email": "copied@example.com",
                   "password": "correct horse battery staple", "email_verified": true}),
        )
        .await;
    let kept = remote.token(id, secret).await;
    let revoked = remote.token(id, secret).await;
    let r = remote
        .form(
            "/oauth2/token/revoke",
            id,
            secret,
            &[("token", revoked.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    server.kill();

    let db = TestDb::create();
    let data_s = data.to_str().unwrap();
    let o = run(&data, &["store", "copy", "--from", data_s, "--to", &db.url]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("every record compared equal"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("access_tokens"), "{}", stdout(&o));

    let o = run(&data, &["store", "copy", "--from", data_s, "--to", &db.url]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("nothing copied"),
        "a second run is a no-op: {}",
        stdout(&o)
    );

    let back = dir.path().join("back");
    let o = run(
        &data,
        &[
            "store",
            "copy",
            "--from",
            &db.url,
            "--to",
            back.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // Byte for byte: the original, the database and the copy back.
    let original = {
        let s = tessera_actors::store::Store::open(&data).unwrap();
        tessera::cli::store_copy::sled_records(&s).unwrap()
    };
    let returned = {
        let s = tessera_actors::store::Store::open(&back).unwrap();
        tessera::cli::store_copy::sled_records(&s).unwrap()
    };
    let in_pg = {
        let pg =
            tessera_actors::pg::Pg::connect(&tessera_actors::pg::PgOptions::new(db.url.as_str()))
                .unwrap();
        tessera::cli::store_copy::pg_records(&pg).unwrap()
    };
    assert!(original["access_tokens"].len() >= 2);
    assert!(!original["revoked"].is_empty());
    assert!(!original["keys"].is_empty());
    assert_eq!(original, in_pg, "sled → PostgreSQL keeps every record");
    assert_eq!(original, returned, "PostgreSQL → sled keeps every record");

    // A different, non-empty target is refused and left as it was.
    let other = dir.path().join("other");
    let o = run(&other, &["client", "create", "--client-id", "someone-else"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(
        &data,
        &[
            "store",
            "copy",
            "--from",
            data_s,
            "--to",
            other.to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("differ"), "{}", stderr(&o));

    // A server over the copy answers as the original did.
    let pg_server = Server::start_with_env(
        &dir.path().join("pgdata"),
        &dir.path().join("pg.log"),
        &pg_env(&db)
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    let remote = Remote::new(&pg_server);
    assert!(
        remote.active(id, secret, &kept).await,
        "the kept token is active"
    );
    assert!(
        !remote.active(id, secret, &revoked).await,
        "the revoked one stays revoked"
    );
    // While it runs, the database is not copied from.
    let o = run(
        &data,
        &[
            "store",
            "copy",
            "--from",
            &db.url,
            "--to",
            dir.path().join("x").to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("in use"), "{}", stderr(&o));
    pg_server.kill();
}
