//! The mail queue (`Mailer`): delivery over real SMTP to a loopback sink,
//! retries with exponential backoff when the server refuses, dead letters
//! after `mail.max_attempts`, a queued mail surviving `kill -9`, and the
//! file outbox that is the default without an SMTP server.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_actors::mailer::{Enqueue, ListMail, Mail, MailState, QueuedMail, Tick};

use crate::flow::create_user;
use crate::helpers::{http_client, spawn_app, TestApp};
use crate::process::{tessera, ADMIN_TOKEN};
use crate::smtp_sink::{spawn_app_with_mail, SmtpSink};

fn mail(to: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: "Queue test".into(),
        text: "Hello from the queue.\n".into(),
        html: Some("<p>Hello from the queue.</p>".into()),
    }
}

async fn enqueue(app: &TestApp, to: &str) -> uuid::Uuid {
    app.engine
        .mailer
        .send(Enqueue(mail(to)))
        .await
        .expect("mailer mailbox")
        .expect("queued")
}

async fn queue(app: &TestApp) -> Vec<QueuedMail> {
    app.engine
        .mailer
        .send(ListMail)
        .await
        .expect("mailer mailbox")
        .expect("queue")
}

/// Wait until the sink has seen `n` delivery attempts and the mailer has
/// recorded them.
async fn attempts_reach(app: &TestApp, sink: &SmtpSink, id: uuid::Uuid, n: u32) -> QueuedMail {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let q = queue(app).await;
        let m = q.iter().find(|m| m.id == id).cloned();
        match m {
            Some(m) if m.attempts >= n && sink.attempts() >= n => return m,
            _ => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "attempt {n} not recorded: {q:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn a_queued_mail_is_delivered_over_smtp_with_text_and_html() {
    let (app, sink) = spawn_app_with_mail(|_| {}).await;
    let id = enqueue(&app, "someone@example.com").await;
    let m = sink.mail_to("someone@example.com").await;
    assert_eq!(m.from, "accounts@tessera.test");
    assert_eq!(m.subject(), "Queue test");
    assert!(m.header("from").unwrap().contains("accounts@tessera.test"));
    assert!(
        m.header("message-id").unwrap().contains(&id.to_string()),
        "the queue id names the message"
    );
    assert_eq!(m.text().trim(), "Hello from the queue.");
    assert_eq!(m.html().unwrap().trim(), "<p>Hello from the queue.</p>");
    // Delivered mails leave the queue.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !queue(&app).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "still queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn refused_deliveries_are_retried_with_exponential_backoff() {
    let (app, sink) = spawn_app_with_mail(|s| s.mail.retry_base_seconds = 5).await;
    sink.refuse(2, "451 4.3.0 mailbox busy, try later");
    let id = enqueue(&app, "later@example.com").await;

    let m = attempts_reach(&app, &sink, id, 1).await;
    assert_eq!(m.state, MailState::Queued);
    assert!(m.last_error.as_deref().unwrap().contains("451"), "{m:?}");
    assert_eq!(m.next_attempt_at, app.now() + 5, "first retry after 5 s");

    // Not before it is due.
    app.clock.advance(4);
    app.engine.mailer.send(Tick).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.attempts(), 1);

    app.clock.advance(1);
    app.engine.mailer.send(Tick).await.unwrap();
    let m = attempts_reach(&app, &sink, id, 2).await;
    assert_eq!(m.next_attempt_at, app.now() + 10, "the delay doubles");
    assert!(sink.received_to("later@example.com").is_empty());

    app.clock.advance(9);
    app.engine.mailer.send(Tick).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.attempts(), 2, "not before 10 s");

    app.clock.advance(1);
    app.engine.mailer.send(Tick).await.unwrap();
    let got = sink.mail_to("later@example.com").await;
    assert_eq!(got.subject(), "Queue test");
    assert_eq!(sink.received_to("later@example.com").len(), 1);
}

#[actix_web::test]
async fn a_mail_becomes_a_dead_letter_after_max_attempts() {
    let (app, sink) = spawn_app_with_mail(|s| {
        s.mail.max_attempts = 3;
        s.mail.retry_base_seconds = 1;
    })
    .await;
    sink.refuse(u32::MAX, "421 4.7.0 try again later");
    let id = enqueue(&app, "never@example.com").await;
    for n in 1..=3 {
        attempts_reach(&app, &sink, id, n).await;
        app.clock.advance(3600);
        app.engine.mailer.send(Tick).await.unwrap();
    }
    let q = queue(&app).await;
    let dead = q
        .iter()
        .find(|m| m.id == id)
        .expect("kept in the queue tree");
    assert_eq!(dead.state, MailState::Dead);
    assert_eq!(dead.attempts, 3);
    assert!(dead.last_error.as_deref().unwrap().contains("421"));
    // Never tried again.
    app.clock.advance(86_400);
    app.engine.mailer.send(Tick).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.attempts(), 3);
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "tessera_mail_dead",
        "tessera_mail_queued",
        "tessera_mail_failed_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
}

#[actix_web::test]
async fn a_permanent_refusal_is_a_dead_letter_at_once() {
    let (app, sink) = spawn_app_with_mail(|s| s.mail.max_attempts = 5).await;
    sink.refuse(1, "550 5.1.1 no such mailbox");
    let id = enqueue(&app, "gone@example.com").await;
    let m = attempts_reach(&app, &sink, id, 1).await;
    assert_eq!(m.state, MailState::Dead, "{m:?}");
    app.clock.advance(3600);
    app.engine.mailer.send(Tick).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.attempts(), 1);
}

#[actix_web::test]
async fn without_smtp_mails_land_in_the_file_outbox() {
    let app = spawn_app().await;
    let user = create_user(&app, "outboxuser").await;
    let r = app
        .http
        .post(app.url("/api/oauth/reset_password"))
        .json(&json!({"email": user.email}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let outbox = app.data_dir.join("outbox");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let eml = loop {
        let found = std::fs::read_dir(&outbox).ok().and_then(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "eml"))
        });
        // The file may be seen while it is still being written: wait
        // until the whole message (its link is near the end) is there.
        if let Some(eml) = found
            .and_then(|p| std::fs::read_to_string(p).ok())
            .filter(|e| e.contains("/api/oauth/reset_password/confirm?token="))
        {
            break eml;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no .eml file in {}",
            outbox.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(eml.contains("Subject: Reset your password"), "{eml}");
    assert!(eml.contains(&format!("To: {}", user.email)), "{eml}");
    assert!(eml.contains("/api/oauth/reset_password/confirm?token="));
}

// ---- crash: a mail accepted before `kill -9` is sent after restart ---------

struct MailServer {
    child: Child,
    address: String,
}

impl MailServer {
    /// `tessera serve` on `data_dir`, delivering to 127.0.0.1:`smtp_port`.
    fn start(data_dir: &Path, log: &Path, smtp_port: u16) -> MailServer {
        let log_file = std::fs::File::create(log).expect("log file");
        let mut child = tessera(data_dir)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("TESSERA_WORKERS", "2")
            .env("TESSERA_MAIL__SMTP_HOST", "127.0.0.1")
            .env("TESSERA_MAIL__SMTP_PORT", smtp_port.to_string())
            .env("TESSERA_MAIL__SMTP_TLS", "none")
            .env("TESSERA_MAIL__RETRY_BASE_SECONDS", "1")
            .env("TESSERA_ACCOUNTS__PUBLIC_URL", "https://id.tessera.test")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("spawn tessera serve");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let address = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(a) = line.strip_prefix("tessera listening on ") {
                        break a.trim().to_string();
                    }
                }
                _ => panic!(
                    "tessera serve exited before listening: {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                ),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        MailServer { child, address }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[actix_web::test]
async fn a_mail_accepted_before_a_crash_is_delivered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let http = http_client();
    let email = "crash@example.com";

    let server = MailServer::start(&data, &log, closed_port());
    let r = http
        .post(server.url("/admin/users"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"username": "crash", "email": email, "password": "old password 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // Accepted while the mail server is down...
    let r = http
        .post(server.url("/api/oauth/reset_password"))
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // ...and the process dies at once.
    server.kill();

    let sink = SmtpSink::start();
    let server = MailServer::start(&data, &log, sink.port);
    let m = sink.mail_to_within(email, Duration::from_secs(30)).await;
    assert_eq!(m.subject(), "Reset your password");
    let link = m.link("https://id.tessera.test/api/oauth/reset_password/confirm?token=");
    let token = link.split("token=").nth(1).unwrap();
    // The link's token survived the crash too.
    let r = http
        .post(server.url("/api/oauth/reset_password/confirm"))
        .json(&json!({"token": token, "password": "new password 2"}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = http
        .post(server.url("/auth/login"))
        .json(&json!({"login": "crash", "password": "new password 2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[test]
fn mail_settings_are_checked_and_default_to_the_file_outbox() {
    use tessera::configuration::Settings;
    use tessera_actors::mailer::{SmtpTls, TransportSpec};

    let mut s = Settings {
        data_dir: "/srv/tessera".into(),
        ..Settings::default()
    };
    let config = s.engine_config().unwrap().mail;
    assert!(
        matches!(&config.transport, TransportSpec::File { dir } if dir == Path::new("/srv/tessera/outbox")),
        "{:?}",
        config.transport
    );

    s.mail.smtp_host = Some("smtp.example.com".into());
    s.mail.smtp_username = Some("user".into());
    s.mail.smtp_password = Some("secret".into());
    let config = s.engine_config().unwrap().mail;
    match &config.transport {
        TransportSpec::Smtp(c) => {
            assert_eq!((c.port, c.tls), (587, SmtpTls::StartTls));
            assert!(
                !format!("{c:?}").contains("secret"),
                "the password is redacted"
            );
        }
        other => panic!("{other:?}"),
    }
    s.mail.smtp_tls = "tls".into();
    match s.engine_config().unwrap().mail.transport {
        TransportSpec::Smtp(c) => assert_eq!(c.port, 465),
        other => panic!("{other:?}"),
    }

    type Breaks = fn(&mut Settings);
    let bad: [(&str, Breaks); 6] = [
        ("mail.smtp_tls", |s| s.mail.smtp_tls = "ssl3".into()),
        ("mail.from", |s| s.mail.from = "not an address".into()),
        ("mail.max_attempts", |s| s.mail.max_attempts = 0),
        ("mail.retry_base_seconds", |s| s.mail.retry_base_seconds = 0),
        ("mail.smtp_username", |s| s.mail.smtp_password = None),
        ("mail.smtp_host", |s| {
            s.mail.smtp_host = Some("smtp://host".into())
        }),
    ];
    for (key, breaks) in bad {
        let mut s = Settings::default();
        s.mail.smtp_host = Some("smtp.example.com".into());
        s.mail.smtp_username = Some("user".into());
        s.mail.smtp_password = Some("secret".into());
        s.validate().unwrap();
        breaks(&mut s);
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains(key), "{key}: {err}");
    }
}
