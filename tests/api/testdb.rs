//! The backend a test runs on, and a fresh PostgreSQL database per test.
//!
//! `TESSERA_TEST_BACKEND=postgres` runs the suite on PostgreSQL (default:
//! sled). The server is found at `TESSERA_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test creates its
//! own database there and drops it when done, so tests stay parallel.

use std::future::Future;

use sqlx::Connection;

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which backend a test's server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sled,
    Postgres,
}

/// The backend the suite runs on (`TESSERA_TEST_BACKEND`).
pub fn suite_backend() -> TestBackend {
    match std::env::var("TESSERA_TEST_BACKEND").as_deref() {
        Ok("postgres") => TestBackend::Postgres,
        Ok("sled") | Err(_) => TestBackend::Sled,
        Ok(other) => panic!("TESSERA_TEST_BACKEND={other}: expected sled or postgres"),
    }
}

/// The server the test databases are made on.
pub fn server_url() -> String {
    std::env::var("TESSERA_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.into())
}

/// Run `f` to completion on a runtime of its own, on another thread: the
/// tests' own runtime may be the caller, and `Drop` cannot await.
pub fn block<T: Send>(f: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(f)
        })
        .join()
        .expect("the database helper thread")
    })
}

/// A database of its own, dropped with this value.
pub struct TestDb {
    pub url: String,
    name: String,
}

impl TestDb {
    pub fn create() -> TestDb {
        let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
        let admin = server_url();
        let mut url = reqwest::Url::parse(&admin).expect("TESSERA_TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        let sql = format!("CREATE DATABASE {name}");
        block(async move {
            let mut c = sqlx::PgConnection::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {admin}: {e}"));
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut c)
                .await
                .expect("create the test database");
        });
        TestDb {
            url: url.to_string(),
            name,
        }
    }

    /// Run SQL on the server as the admin (e.g. `pg_terminate_backend`).
    pub fn admin_exec(sql: String) {
        let admin = server_url();
        block(async move {
            let mut c = sqlx::PgConnection::connect(&admin)
                .await
                .expect("admin connection");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut c)
                .await
                .expect("admin statement");
        });
    }

    /// Run SQL in this database.
    pub fn exec(&self, sql: &str) {
        let url = self.url.clone();
        let sql = sql.to_string();
        block(async move {
            let mut c = sqlx::PgConnection::connect(&url).await.expect("connection");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut c)
                .await
                .expect("statement");
        });
    }

    /// Cut every connection the servers hold to this database.
    pub fn terminate_connections(&self) {
        TestDb::admin_exec(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            self.name
        ));
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = server_url();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        block(async move {
            if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut c).await;
            }
        });
    }
}
