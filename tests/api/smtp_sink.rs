//! A small SMTP server on 127.0.0.1 for the mail tests: it speaks enough of
//! RFC 5321 (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for lettre with
//! `tls = "none"`, keeps what it receives, and can be told to refuse
//! recipients for a while. It runs on a thread of its own, so it answers
//! whatever the test's own runtime is doing.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tessera::configuration::Settings;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::helpers::{spawn_app_with, TestApp};

/// A mail as the sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (dot-stuffing undone).
    pub raw: String,
}

impl Received {
    /// An unfolded header of the message (first one named so).
    pub fn header(&self, name: &str) -> Option<String> {
        header_of(head(&self.raw), name)
    }
    pub fn subject(&self) -> String {
        self.header("subject").unwrap_or_default()
    }
    /// The decoded `text/plain` part.
    pub fn text(&self) -> String {
        part(&self.raw, "text/plain").unwrap_or_default()
    }
    /// The decoded `text/html` part.
    pub fn html(&self) -> Option<String> {
        part(&self.raw, "text/html")
    }
    /// The first link in the text that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> String {
        let text = self.text();
        let start = text
            .find(prefix)
            .unwrap_or_else(|| panic!("no link starting with {prefix} in {text}"));
        text[start..]
            .split(char::is_whitespace)
            .next()
            .unwrap_or_default()
            .to_string()
    }
    /// The 6-digit code, alone on its line in the text.
    pub fn code(&self) -> String {
        let text = self.text();
        text.lines()
            .map(str::trim)
            .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or_else(|| panic!("no 6-digit code in {text}"))
            .to_string()
    }
}

#[derive(Default)]
struct Shared {
    mails: Mutex<Vec<(Received, bool)>>,
    arrived: Notify,
    /// Recipients still to refuse, and with what reply.
    refuse: AtomicU32,
    refusal: Mutex<String>,
    /// `RCPT` commands seen (each delivery attempt sends one per recipient).
    rcpts: AtomicU32,
    stop: AtomicBool,
    stopped: Notify,
}

pub struct SmtpSink {
    pub port: u16,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SmtpSink {
    /// Listen on 127.0.0.1, port chosen by the system.
    pub fn start() -> SmtpSink {
        Self::start_on(0)
    }

    /// Listen on 127.0.0.1:`port`.
    pub fn start_on(port: u16) -> SmtpSink {
        let std_listener =
            std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the SMTP sink");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let port = std_listener.local_addr().expect("address").port();
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("smtp-sink".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("sink runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("listener");
                    loop {
                        tokio::select! {
                            accepted = listener.accept() => {
                                if let Ok((stream, _)) = accepted {
                                    tokio::spawn(session(stream, s.clone()));
                                }
                            }
                            _ = s.stopped.notified() => break,
                        }
                        if s.stop.load(Ordering::SeqCst) {
                            break;
                        }
                    }
                });
            })
            .expect("sink thread");
        SmtpSink {
            port,
            shared,
            thread: Some(thread),
        }
    }

    /// Refuse the next `n` recipients with `reply` (e.g. `451 4.3.0 busy`).
    pub fn refuse(&self, n: u32, reply: &str) {
        *self.shared.refusal.lock().unwrap() = reply.to_string();
        self.shared.refuse.store(n, Ordering::SeqCst);
    }

    /// `RCPT` commands seen so far: one per delivery attempt here.
    pub fn attempts(&self) -> u32 {
        self.shared.rcpts.load(Ordering::SeqCst)
    }

    /// Every mail received so far to `to`, taken or not.
    pub fn received_to(&self, to: &str) -> Vec<Received> {
        self.shared
            .mails
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// The next mail to `to` not handed out yet, waiting up to 10 s.
    pub async fn mail_to(&self, to: &str) -> Received {
        self.mail_to_within(to, Duration::from_secs(10)).await
    }

    pub async fn mail_to_within(&self, to: &str, limit: Duration) -> Received {
        let deadline = std::time::Instant::now() + limit;
        loop {
            {
                let mut mails = self.shared.mails.lock().unwrap();
                if let Some((m, taken)) = mails
                    .iter_mut()
                    .find(|(m, taken)| !*taken && m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
                {
                    *taken = true;
                    return m.clone();
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no mail to {to} within {limit:?}"
            );
            let _ = tokio::time::timeout(Duration::from_millis(50), self.shared.arrived.notified())
                .await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.stopped.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The address inside `MAIL FROM:<...>` / `RCPT TO:<...>`.
fn angle(arg: &str) -> String {
    let a = arg.split_once('<').map_or(arg, |(_, r)| r);
    a.split('>').next().unwrap_or_default().trim().to_string()
}

async fn session(stream: TcpStream, shared: Arc<Shared>) {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let reply = |s: &str| format!("{s}\r\n").into_bytes();
    if w.write_all(&reply("220 sink.test ESMTP")).await.is_err() {
        return;
    }
    let mut from = String::new();
    let mut rcpts: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let cmd = line.trim_end_matches(['\r', '\n']);
        let upper = cmd.to_ascii_uppercase();
        let answer: String = if upper.starts_with("EHLO") {
            "250-sink.test\r\n250 HELP".into()
        } else if upper.starts_with("HELO") {
            "250 sink.test".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = angle(&cmd[10..]);
            rcpts.clear();
            "250 2.1.0 OK".into()
        } else if upper.starts_with("RCPT TO:") {
            shared.rcpts.fetch_add(1, Ordering::SeqCst);
            let refused = shared
                .refuse
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if refused {
                shared.refusal.lock().unwrap().clone()
            } else {
                rcpts.push(angle(&cmd[8..]));
                "250 2.1.5 OK".into()
            }
        } else if upper == "DATA" {
            if rcpts.is_empty() {
                "503 5.5.1 no valid recipients".into()
            } else {
                if w.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let mut raw = String::new();
                loop {
                    line.clear();
                    match r.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let l = line.trim_end_matches(['\r', '\n']);
                    if l == "." {
                        break;
                    }
                    raw.push_str(
                        l.strip_prefix('.')
                            .filter(|_| l.starts_with(".."))
                            .unwrap_or(l),
                    );
                    raw.push_str("\r\n");
                }
                shared.mails.lock().unwrap().push((
                    Received {
                        from: from.clone(),
                        to: std::mem::take(&mut rcpts),
                        raw,
                    },
                    false,
                ));
                shared.arrived.notify_waiters();
                "250 2.0.0 queued".into()
            }
        } else if upper == "RSET" {
            from.clear();
            rcpts.clear();
            "250 2.0.0 OK".into()
        } else if upper.starts_with("NOOP") {
            "250 2.0.0 OK".into()
        } else if upper == "QUIT" {
            let _ = w.write_all(b"221 2.0.0 bye\r\n").await;
            return;
        } else {
            "502 5.5.2 command not recognized".into()
        };
        if w.write_all(&reply(&answer)).await.is_err() {
            return;
        }
    }
}

// ---- a minimal MIME reader -------------------------------------------------

fn head(raw: &str) -> &str {
    raw.split_once("\r\n\r\n").map_or(raw, |(h, _)| h)
}

fn body(raw: &str) -> &str {
    raw.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn header_of(head: &str, name: &str) -> Option<String> {
    let mut out: Option<String> = None;
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(o) = out.as_mut() {
                o.push(' ');
                o.push_str(line.trim());
            }
            continue;
        }
        if out.is_some() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case(name) {
                out = Some(v.trim().to_string());
            }
        }
    }
    out
}

fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The decoded body of the first part of type `mime` (the message itself
/// when it is not multipart).
fn part(raw: &str, mime: &str) -> Option<String> {
    let ct = header_of(head(raw), "content-type").unwrap_or_else(|| "text/plain".into());
    if ct.to_ascii_lowercase().starts_with("multipart/") {
        let boundary = param(&ct, "boundary")?;
        let delim = format!("--{boundary}");
        return body(raw)
            .split(&delim)
            .skip(1)
            .filter(|p| !p.starts_with("--"))
            .find_map(|p| part(p.trim_start_matches("\r\n"), mime));
    }
    if !ct.to_ascii_lowercase().starts_with(mime) {
        return None;
    }
    let cte = header_of(head(raw), "content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let b = body(raw);
    Some(match cte.as_str() {
        "base64" => {
            let compact: String = b.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .expect("base64 body"),
            )
            .expect("UTF-8 body")
        }
        "quoted-printable" => quoted_printable(b),
        _ => b.to_string(),
    })
}

fn quoted_printable(s: &str) -> String {
    let soft = s.replace("=\r\n", "");
    let bytes = soft.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&soft[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8 body")
}

/// The server, delivering over SMTP (no TLS) to a fresh sink.
pub async fn spawn_app_with_mail(configure: impl FnOnce(&mut Settings)) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start();
    let port = sink.port;
    let app = spawn_app_with(|s| {
        s.mail.smtp_host = Some("127.0.0.1".into());
        s.mail.smtp_port = Some(port);
        s.mail.smtp_tls = "none".into();
        s.mail.from = "tessera <accounts@tessera.test>".into();
        configure(s);
    })
    .await;
    (app, sink)
}

#[test]
fn the_mime_reader_decodes_what_lettre_writes() {
    let raw = "Subject: Hi\r\nContent-Type: multipart/alternative;\r\n boundary=\"XYZ\"\r\n\r\n--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db https://x/=\r\ny\r\n--XYZ\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nPGI+aGk8L2I+\r\n--XYZ--\r\n";
    let m = Received {
        from: String::new(),
        to: vec![],
        raw: raw.into(),
    };
    assert_eq!(m.subject(), "Hi");
    assert_eq!(m.text(), "a=b https://x/y\r\n");
    assert_eq!(m.html().as_deref(), Some("<b>hi</b>"));
}
