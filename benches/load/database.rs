//! `--backend postgres`: a fresh database for the in-process server on
//! `--database-url`'s server, dropped when the run ends.

use std::future::Future;

use sqlx::Connection;

/// A database of the run's own.
pub(crate) struct BenchDb {
    admin: String,
    name: String,
    pub(crate) url: String,
}

/// Run `f` on a runtime of its own on another thread (the caller may be
/// inside a runtime, and `Drop` cannot await).
fn block<T: Send>(f: impl Future<Output = T> + Send) -> anyhow::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(rt.block_on(f))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the database helper thread panicked"))?
    })
}

impl BenchDb {
    pub(crate) fn create(admin: &str) -> anyhow::Result<BenchDb> {
        let name = format!("tessera_bench_{}", uuid::Uuid::new_v4().simple());
        let mut url = reqwest::Url::parse(admin)?;
        url.set_path(&format!("/{name}"));
        let sql = format!("CREATE DATABASE {name}");
        let admin_url = admin.to_string();
        block(async move {
            let mut c = sqlx::PgConnection::connect(&admin_url).await?;
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut c)
                .await?;
            anyhow::Ok(())
        })??;
        crate::measure::DATABASE.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(BenchDb {
            admin: admin.to_string(),
            name,
            url: url.to_string(),
        })
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = block(async move {
            if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut c).await;
            }
        });
    }
}
