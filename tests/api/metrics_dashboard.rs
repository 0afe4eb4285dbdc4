//! `/metrics` against what ships in `grafana/`: every metric a dashboard
//! query names is exported by a running server that has seen a little of
//! every kind of traffic; `promtool check metrics` accepts the exposition;
//! the example scrape config is valid; and a real Prometheus scraping the
//! server evaluates every dashboard query to data.
//!
//! The Cluster row's families (`tessera_cluster_*`) are exported only by a
//! cluster node, which the in-process server is not: these checks leave
//! the queries over them out (`cluster_query`), and the same checks run
//! for those queries against a real `tessera serve` cluster node over
//! PostgreSQL (a database of its own, as the cluster tests make).
//!
//! promtool and prometheus come from the Debian `prometheus` package, which
//! `.ci/run` installs. Missing, these tests fail; `TESSERA_SKIP_PROMTOOL=1`
//! skips the parts that need them, for a local run without the package.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera_actors::mailer::{Enqueue, Mail};

use crate::cluster::Node;
use crate::flow::{create_user, Browser};
use crate::helpers::{http_client, spawn_app, TestApp, TestClient};
use crate::testdb::TestDb;

fn grafana_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana")
}

/// Every dashboard JSON in `grafana/dashboards/`.
fn dashboards() -> Vec<(String, Value)> {
    let dir = grafana_dir().join("dashboards");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("grafana/dashboards") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("json") {
            let text = std::fs::read_to_string(&path).expect("dashboard file");
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            out.push((path.display().to_string(), v));
        }
    }
    assert!(!out.is_empty(), "no dashboard in {}", dir.display());
    out
}

/// Every PromQL expression of a dashboard: panel targets (rows nest
/// panels when collapsed) and template variable queries.
fn queries(dash: &Value) -> Vec<String> {
    fn panels(list: &Value, out: &mut Vec<String>) {
        for p in list.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push(e.to_string());
                }
            }
            panels(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    panels(&dash["panels"], &mut out);
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        if let Some(q) = v["query"]["query"].as_str().or(v["definition"].as_str()) {
            out.push(q.to_string());
        }
    }
    out
}

/// The `tessera_*` metric names an expression mentions.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("tessera_") {
        let boundary = rest[..i]
            .chars()
            .last()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if boundary {
            out.insert(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    out
}

/// Whether a query names a cluster family, which only a cluster node
/// exports (a single server has no feed, peers or strict waits to report).
fn cluster_query(q: &str) -> bool {
    metric_names(q)
        .iter()
        .any(|n| n.starts_with("tessera_cluster_"))
}

/// Every `tessera_*` name the dashboards' queries that `keep` accepts
/// mention, and a line for each `exported` lacks. A quantile needs a real
/// histogram, never a summary: a `_bucket` must come from a histogram.
fn named_and_missing(
    exported: &BTreeMap<String, String>,
    keep: impl Fn(&str) -> bool,
) -> (BTreeSet<String>, Vec<String>) {
    let mut missing = Vec::new();
    let mut named = BTreeSet::new();
    for (file, dash) in dashboards() {
        let qs = queries(&dash);
        assert!(qs.len() >= 20, "{file}: only {} queries", qs.len());
        for q in qs.into_iter().filter(|q| keep(q.as_str())) {
            for name in metric_names(&q) {
                if !exported.contains_key(&name) {
                    missing.push(format!("{file}: {name} (in `{q}`)"));
                }
                if name.ends_with("_bucket") {
                    assert_eq!(
                        exported.get(&name).map(String::as_str),
                        Some("histogram"),
                        "{name}"
                    );
                }
                named.insert(name);
            }
        }
    }
    (named, missing)
}

/// Sample names in an exposition (histograms as `_bucket`/`_sum`/`_count`)
/// with their family's `# TYPE`.
fn exported(text: &str) -> BTreeMap<String, String> {
    let mut types = BTreeMap::new();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            let mut parts = t.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                types.insert(name.to_string(), kind.to_string());
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let name = line
                .split(|c: char| c == '{' || c.is_whitespace())
                .next()
                .unwrap_or("");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| types.contains_key(*f)))
                .unwrap_or(name);
            let kind = types.get(family).cloned().unwrap_or_default();
            out.insert(name.to_string(), kind);
        }
    }
    out
}

/// The value of the one sample `line_prefix` starts (labels included).
fn sample(text: &str, line_prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let r = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

/// A little of everything a dashboard panel shows: issuance,
/// introspection (hit and miss), revocation, logins (success and
/// failure), a key rotation, a mail.
async fn drive_traffic(app: &TestApp) {
    let c = app.cc_client().await;
    let t = app.get_token(&c).await;
    app.assert_active(&c, &t).await;
    app.assert_inactive(&c, "not-a-token").await;
    assert_eq!(app.revoke(&c, &t).await, StatusCode::OK);
    app.assert_inactive(&c, &t).await;

    let user = create_user(app, "metrics-user").await;
    Browser::new(app).login(&user).await;
    let r = Browser::new(app)
        .login_json(&user.username, "not the password")
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = app.admin(Method::POST, "/admin/keys/rotate", None).await;
    assert!(r.status().is_success(), "{}", r.status());

    app.engine
        .mailer
        .send(Enqueue(Mail {
            to: "ops@example.com".into(),
            subject: "metrics".into(),
            text: "hello\n".into(),
            html: None,
        }))
        .await
        .expect("mailer mailbox")
        .expect("queued");
}

/// Wait for a metric sample to reach `at_least` (mail goes out on its own
/// thread).
async fn eventually(app: &TestApp, line_prefix: &str, at_least: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(app).await;
        if sample(&text, line_prefix).is_some_and(|v| v >= at_least) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{line_prefix} never reached {at_least}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server that has seen every kind of traffic, and its exposition.
async fn warmed_app() -> (TestApp, String) {
    let app = spawn_app().await;
    drive_traffic(&app).await;
    let text = eventually(&app, "tessera_mail_sent_total ", 1.0).await;
    (app, text)
}

#[actix_web::test]
async fn every_metric_a_dashboard_names_is_exported() {
    let (_app, text) = warmed_app().await;
    // The cluster's queries are checked against a cluster node (below).
    let (named, missing) = named_and_missing(&exported(&text), |q| !cluster_query(q));
    assert!(missing.is_empty(), "not exported:\n{}", missing.join("\n"));
    // The issue's list, each on the dashboard.
    for needed in [
        "tessera_http_requests_total",
        "tessera_http_request_duration_seconds_bucket",
        "tessera_introspections_total",
        "tessera_tokens_issued_total",
        "tessera_revocations_total",
        "tessera_refresh_reuse_detected_total",
        "tessera_tokens_live",
        "tessera_sessions_active",
        "tessera_clients",
        "tessera_users",
        "tessera_logins_total",
        "tessera_password_pool_queue_depth",
        "tessera_password_pool_wait_seconds_bucket",
        "tessera_actor_mailbox_wait_seconds_bucket",
        "tessera_actor_handling_seconds_bucket",
        "tessera_store_flush_duration_seconds_bucket",
        "tessera_store_size_bytes",
        "tessera_mail_queued",
        "tessera_mail_sent_total",
        "tessera_mail_failed_total",
        "tessera_signing_key_age_seconds",
        "tessera_key_rotations_total",
        "tessera_process_resident_memory_bytes",
        "tessera_process_cpu_seconds_total",
        "tessera_process_open_fds",
    ] {
        assert!(named.contains(needed), "no panel shows {needed}");
    }
}

#[actix_web::test]
async fn the_traffic_shows_in_the_counters() {
    let (_app, text) = warmed_app().await;
    for (line, at_least) in [
        (r#"tessera_introspections_total{result="active"}"#, 1.0),
        (r#"tessera_introspections_total{result="inactive"}"#, 2.0),
        ("tessera_revocations_total ", 1.0),
        (r#"tessera_logins_total{result="success"}"#, 1.0),
        (r#"tessera_logins_total{result="failure"}"#, 1.0),
        ("tessera_key_rotations_total ", 1.0),
        ("tessera_mail_sent_total ", 1.0),
        ("tessera_process_cpu_seconds_total ", 0.0),
        ("tessera_users ", 1.0),
        ("tessera_clients ", 1.0),
        (
            r#"tessera_tokens_issued_total{kind="access_token",grant="client_credentials""#,
            1.0,
        ),
    ] {
        let v = text
            .lines()
            .filter(|l| l.starts_with(line))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
        assert!(
            text.lines().any(|l| l.starts_with(line)) && v >= at_least,
            "{line} = {v}, want >= {at_least}"
        );
    }
    // Each engine actor reports mailbox wait and handling time.
    for actor in [
        "token_issuer",
        "revocation_list",
        "directory",
        "session_registry",
        "key_rotator",
        "mailer",
    ] {
        for m in [
            "tessera_actor_mailbox_wait_seconds_count",
            "tessera_actor_handling_seconds_count",
        ] {
            let prefix = format!(r#"{m}{{actor="{actor}","#);
            assert!(
                text.lines().any(|l| l.starts_with(&prefix)),
                "no {m} for {actor}"
            );
        }
    }
    assert!(text.contains(
        r#"tessera_actor_handling_seconds_count{actor="revocation_list",message="Revoke"}"#
    ));
    // The key is brand new (the clock stands still in tests).
    assert_eq!(sample(&text, "tessera_signing_key_age_seconds "), Some(0.0));
    // Every family carries help text.
    let families: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for f in &families {
        assert!(text.contains(&format!("# HELP {f} ")), "{f} has no # HELP");
    }
}

#[actix_web::test]
async fn key_age_follows_the_clock() {
    let app = spawn_app().await;
    app.clock.advance(3_600);
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, "tessera_signing_key_age_seconds "),
        Some(3_600.0)
    );
    let r = app.admin(Method::POST, "/admin/keys/rotate", None).await;
    assert!(r.status().is_success());
    let text = scrape(&app).await;
    assert_eq!(sample(&text, "tessera_signing_key_age_seconds "), Some(0.0));
}

/// The path of a Prometheus tool, or `None` (after saying so loudly) when
/// `TESSERA_SKIP_PROMTOOL=1` allows running without it.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => Some(p),
        None if std::env::var("TESSERA_SKIP_PROMTOOL").as_deref() == Ok("1") => {
            eprintln!(
                "\n*** SKIPPED: `{name}` is not installed and TESSERA_SKIP_PROMTOOL=1 ***\n\
                 *** (apt-get install prometheus to run this check)                 ***\n"
            );
            None
        }
        None => panic!(
            "`{name}` is not on PATH: install the Debian `prometheus` package \
             (.ci/run does), or set TESSERA_SKIP_PROMTOOL=1 to skip this check"
        ),
    }
}

fn promtool(args: &[&str], stdin: &str) -> (bool, String) {
    let Some(bin) = tool("promtool") else {
        return (true, String::new());
    };
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[actix_web::test]
async fn promtool_accepts_the_exposition_and_the_scrape_config() {
    let (_app, text) = warmed_app().await;
    let (ok, out) = promtool(&["check", "metrics"], &text);
    assert!(ok, "promtool check metrics:\n{out}");
    let config = grafana_dir().join("prometheus.yml");
    let (ok, out) = promtool(&["check", "config", config.to_str().expect("path")], "");
    assert!(ok, "promtool check config:\n{out}");
}

/// A Prometheus server started for one test, killed when dropped.
struct Prometheus {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_prometheus(bin: &Path, target_port: u16) -> Prometheus {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: tessera\n    static_configs:\n      \
             - targets: [\"127.0.0.1:{target_port}\"]\n"
        ),
    )
    .expect("write config");
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    Prometheus {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    }
}

async fn instant_query(http: &reqwest::Client, base: &str, expr: &str) -> Value {
    let r = http
        .post(format!("{base}/api/v1/query"))
        .form(&[("query", expr)])
        .send()
        .await
        .expect("query prometheus");
    r.json().await.expect("prometheus answers JSON")
}

/// Grafana's variables, as the dashboard resolves them with "All".
fn resolve(expr: &str) -> String {
    expr.replace("$__rate_interval", "30s")
        .replace("$__range", "1h")
        .replace("$instance", ".*")
}

#[actix_web::test]
async fn prometheus_evaluates_every_dashboard_query_to_data() {
    let Some(bin) = tool("prometheus") else {
        return;
    };
    let (app, _) = warmed_app().await;
    let prom = start_prometheus(&bin, app.port);
    let http = http_client();
    // Wait until a few scrapes are in: a rate needs two samples. The
    // traffic keeps going meanwhile so every rate has something to show.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        drive_some(&app).await;
        let (count, v) = scrapes(&http, &prom.base).await;
        if count >= 4.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus never scraped the server: {v}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let up = instant_query(&http, &prom.base, "up{job=\"tessera\"}").await;
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
    // The cluster's queries are evaluated on a cluster node (below).
    let failures = without_data(&http, &prom.base, |q| !cluster_query(q)).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// How many scrapes of the server Prometheus holds from the last minute,
/// and its answer.
async fn scrapes(http: &reqwest::Client, base: &str) -> (f64, Value) {
    let v = match http
        .post(format!("{base}/api/v1/query"))
        .form(&[("query", "count_over_time(up{job=\"tessera\"}[1m])")])
        .send()
        .await
    {
        Ok(r) => r.json::<Value>().await.unwrap_or(json!(null)),
        Err(_) => json!(null),
    };
    let n = v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(0.0);
    (n, v)
}

/// Every dashboard query `keep` accepts that fails or has no data.
async fn without_data(
    http: &reqwest::Client,
    base: &str,
    keep: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut failures = Vec::new();
    for (file, dash) in dashboards() {
        for q in queries(&dash).into_iter().filter(|q| keep(q.as_str())) {
            let expr = resolve(&q);
            let v = if q.starts_with("label_values(") {
                // A Grafana function, not PromQL: ask for its series.
                let metric = metric_names(&q).into_iter().next().unwrap_or_default();
                instant_query(http, base, &metric).await
            } else {
                instant_query(http, base, &expr).await
            };
            if v["status"] != "success" {
                failures.push(format!("{file}: `{expr}` failed: {v}"));
            } else if v["data"]["result"].as_array().is_none_or(|r| r.is_empty()) {
                failures.push(format!("{file}: `{expr}` has no data"));
            }
        }
    }
    failures
}

/// One more round of traffic between scrapes (no new users or keys).
async fn drive_some(app: &TestApp) {
    let c = app.cc_client().await;
    let t = app.get_token(&c).await;
    app.assert_active(&c, &t).await;
    app.assert_inactive(&c, "not-a-token").await;
    let _ = app.revoke(&c, &t).await;
}

/// A cluster node (strict mode) on a fresh PostgreSQL database that has
/// issued, introspected and revoked a token, once its self-checks and its
/// read of the nodes table have set the cluster's gauges; and its
/// exposition. One node is enough: a node registers the series of what it
/// has not seen yet (another node's change, a reconnect, a pruning) at
/// zero from its start.
async fn warmed_node() -> (Node, TestDb, String) {
    let db = TestDb::create();
    let node = Node::start(&db, "metrics-node", "strict");
    node.wait_ready().await;
    let r = node
        .admin(
            Method::POST,
            "/admin/clients",
            Some(json!({"scope": "read", "access_token_format": "opaque"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.expect("client JSON");
    let client = TestClient {
        id: body["client_id"].as_str().expect("client_id").to_string(),
        secret: body["client_secret"]
            .as_str()
            .expect("client_secret")
            .to_string(),
    };
    let http = http_client();
    let token = node.token(&client).await;
    assert_eq!(node.introspect(&http, &client, &token).await, Some(true));
    // A strict revocation: a wait for every live node, counted as applied.
    assert_eq!(
        node.revoke(&http, &client, &token).await,
        StatusCode::OK,
        "{}",
        node.log()
    );
    assert_eq!(node.introspect(&http, &client, &token).await, Some(false));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = http.get(node.url("/metrics")).send().await.expect("scrape");
        assert_eq!(r.status(), StatusCode::OK);
        let text = r.text().await.expect("exposition");
        if sample(&text, "tessera_cluster_nodes_live ").is_some_and(|v| v >= 1.0)
            && sample(&text, "tessera_cluster_ready ") == Some(1.0)
        {
            return (node, db, text);
        }
        assert!(
            Instant::now() < deadline,
            "the cluster gauges were never set:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The port a node listens on.
fn node_port(node: &Node) -> u16 {
    node.url("")
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("the node's port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_node_exports_every_metric_the_cluster_row_names() {
    let (_node, _db, text) = warmed_node().await;
    let (named, missing) = named_and_missing(&exported(&text), cluster_query);
    assert!(missing.is_empty(), "not exported:\n{}", missing.join("\n"));
    for needed in [
        "tessera_cluster_applied_seq",
        "tessera_cluster_lag_seconds",
        "tessera_cluster_lag_events",
        "tessera_cluster_apply_delay_seconds_bucket",
        "tessera_cluster_nodes_live",
        "tessera_cluster_ready",
        "tessera_cluster_feed_reconnects_total",
        "tessera_cluster_catchup_reads_total",
        "tessera_cluster_strict_waits_total",
        "tessera_cluster_strict_wait_seconds_bucket",
        "tessera_cluster_events_pruned_total",
    ] {
        assert!(named.contains(needed), "no panel shows {needed}");
    }
    // The strict revocation shows, and so does every help text.
    let waits = sample(
        &text,
        r#"tessera_cluster_strict_waits_total{outcome="applied"}"#,
    );
    assert!(waits.is_some_and(|v| v >= 1.0), "strict waits: {waits:?}");
    for l in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        if let Some(f) = l.split_whitespace().next() {
            assert!(text.contains(&format!("# HELP {f} ")), "{f} has no # HELP");
        }
    }
    let (ok, out) = promtool(&["check", "metrics"], &text);
    assert!(ok, "promtool check metrics:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_evaluates_the_cluster_row_on_a_cluster_node() {
    let Some(bin) = tool("prometheus") else {
        return;
    };
    let (node, _db, _) = warmed_node().await;
    let prom = start_prometheus(&bin, node_port(&node));
    let http = http_client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (count, v) = scrapes(&http, &prom.base).await;
        if count >= 4.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus never scraped the node: {v}\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let failures = without_data(&http, &prom.base, cluster_query).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
