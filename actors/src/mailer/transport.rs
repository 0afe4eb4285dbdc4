//! How a queued mail leaves the process: SMTP (lettre, async on the
//! mailer's own thread) or a file outbox of `.eml` files (the default when
//! no SMTP host is configured, so an embedded server needs no mail server).
//! Behind a trait so tests and embedders can put their own in.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::PoolConfig;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::QueuedMail;

/// Why one delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub message: String,
    /// Retrying cannot help (a 5xx answer, an unusable address): the mail
    /// goes to the dead letters at once.
    pub permanent: bool,
}

impl DeliveryError {
    pub fn transient(message: impl Into<String>) -> Self {
        DeliveryError {
            message: message.into(),
            permanent: false,
        }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        DeliveryError {
            message: message.into(),
            permanent: true,
        }
    }
}

/// One attempt's future. It runs on the mailer's thread, never on an HTTP
/// worker or another actor's thread.
pub type Delivery = Pin<Box<dyn Future<Output = Result<(), DeliveryError>>>>;

/// Something that can deliver a queued mail.
pub trait Transport: Send + Sync + 'static {
    /// Start delivering `mail` (the whole record: its id makes the
    /// `Message-ID`, so a retried mail is recognisably the same one).
    fn deliver(&self, mail: &QueuedMail) -> Delivery;
}

/// Transport security towards the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required), port 587.
    StartTls,
    /// TLS from the first byte ("SMTPS"), port 465.
    Tls,
    /// No encryption: only for a relay on the same host or a test server.
    None,
}

impl SmtpTls {
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }
}

impl std::str::FromStr for SmtpTls {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "starttls" => Ok(SmtpTls::StartTls),
            "tls" => Ok(SmtpTls::Tls),
            "none" => Ok(SmtpTls::None),
            other => Err(format!(
                "unknown SMTP TLS mode {other:?}: use starttls, tls or none"
            )),
        }
    }
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Longest one SMTP conversation may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Which transport the mailer builds when it starts (on its own thread:
/// lettre's connection pool spawns its tasks where it is built).
#[derive(Clone)]
pub enum TransportSpec {
    Smtp(SmtpConfig),
    /// Write each mail as `<mail id>.eml` into `dir` (created when
    /// missing); a mail is written at most once.
    File {
        dir: PathBuf,
    },
    /// A transport built elsewhere (tests, embedders).
    Custom(Arc<dyn Transport>),
}

impl std::fmt::Debug for TransportSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportSpec::Smtp(c) => f.debug_tuple("Smtp").field(c).finish(),
            TransportSpec::File { dir } => f.debug_struct("File").field("dir", dir).finish(),
            TransportSpec::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// Check a `From` address (`Name <user@host>` or `user@host`).
pub fn parse_mailbox(s: &str) -> Result<Mailbox, String> {
    s.parse::<Mailbox>()
        .map_err(|e| format!("{s:?} is not a mail address: {e}"))
}

/// Whether `s` is an address lettre can send to.
pub fn valid_recipient(s: &str) -> bool {
    s.parse::<Address>().is_ok()
}

impl TransportSpec {
    /// Build the transport. Must run inside a tokio runtime.
    pub fn build(&self, from: &str) -> Result<Arc<dyn Transport>, String> {
        let from = parse_mailbox(from)?;
        Ok(match self {
            TransportSpec::Custom(t) => t.clone(),
            TransportSpec::File { dir } => Arc::new(FileOutbox {
                dir: dir.clone(),
                from,
            }),
            TransportSpec::Smtp(c) => {
                let builder = match c.tls {
                    SmtpTls::StartTls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.host)
                            .map_err(|e| format!("SMTP host {:?}: {e}", c.host))?
                    }
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&c.host)
                        .map_err(|e| format!("SMTP host {:?}: {e}", c.host))?,
                    SmtpTls::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host)
                    }
                };
                let mut builder = builder.port(c.port).timeout(Some(c.timeout)).pool_config(
                    PoolConfig::new()
                        .max_size(4)
                        .idle_timeout(Duration::from_secs(60)),
                );
                if let (Some(u), Some(p)) = (&c.username, &c.password) {
                    builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
                }
                let rt = smtp_runtime()?;
                // lettre's pool spawns its housekeeping where it is built.
                let inner = {
                    let _in = rt.enter();
                    builder.build()
                };
                Arc::new(SmtpOutbox {
                    inner: Some(inner),
                    from,
                    rt: rt.handle().clone(),
                })
            }
        })
    }
}

/// The RFC 5322 message of a queued mail: `multipart/alternative` when it
/// has an HTML part, plain text otherwise.
pub fn build_message(from: &Mailbox, m: &QueuedMail) -> Result<Message, DeliveryError> {
    let to = m
        .mail
        .to
        .parse::<Mailbox>()
        .map_err(|e| DeliveryError::permanent(format!("recipient {:?}: {e}", m.mail.to)))?;
    let domain = from.email.domain().to_string();
    let b = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(m.mail.subject.clone())
        .message_id(Some(format!("<{}@{}>", m.id, domain)));
    let built = match &m.mail.html {
        Some(html) => b.multipart(MultiPart::alternative_plain_html(
            m.mail.text.clone(),
            html.clone(),
        )),
        None => b.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(m.mail.text.clone()),
        ),
    };
    built.map_err(|e| DeliveryError::permanent(format!("could not build the message: {e}")))
}

/// The runtime SMTP conversations run on. lettre's connection pool spawns
/// tasks when it is dropped and when a connection goes back to it, which
/// panics outside a tokio runtime; an actor's arbiter drops its actors
/// after its runtime has stopped, so the pool lives on a runtime of its own
/// that outlives every engine in the process.
fn smtp_runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    static RT: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tessera-smtp")
            .enable_all()
            .build()
            .map_err(|e| format!("could not start the SMTP runtime: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

struct SmtpOutbox {
    /// Always `Some` until dropped.
    inner: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    rt: tokio::runtime::Handle,
}

impl Transport for SmtpOutbox {
    fn deliver(&self, mail: &QueuedMail) -> Delivery {
        let msg = build_message(&self.from, mail);
        let Some(t) = self.inner.clone() else {
            return Box::pin(async { Err(DeliveryError::transient("the transport is closed")) });
        };
        let msg = match msg {
            Ok(m) => m,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let task = self.rt.spawn(async move {
            t.send(msg).await.map(|_| ()).map_err(|e| DeliveryError {
                permanent: e.is_permanent(),
                message: e.to_string(),
            })
        });
        Box::pin(async move {
            task.await
                .unwrap_or_else(|e| Err(DeliveryError::transient(format!("delivery task: {e}"))))
        })
    }
}

impl Drop for SmtpOutbox {
    fn drop(&mut self) {
        // The pool's own drop spawns its shutdown: give it the runtime.
        let _in = self.rt.enter();
        self.inner.take();
    }
}

/// Writes each mail as `<mail id>.eml`: the file appears whole (written
/// aside, synced, then renamed into place) and a mail whose file already
/// exists is not written again, so a crash between the write and the
/// removal of the mail from the queue never delivers it twice.
struct FileOutbox {
    dir: PathBuf,
    from: Mailbox,
}

/// Write `bytes` as `dir/<id>.eml` unless that file exists already.
fn write_outbox_file(dir: &std::path::Path, id: uuid::Uuid, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{id}.eml"));
    if path.exists() {
        return Ok(());
    }
    let tmp = dir.join(format!(".{id}.eml.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        d.sync_all()?;
    }
    Ok(())
}

impl Transport for FileOutbox {
    fn deliver(&self, mail: &QueuedMail) -> Delivery {
        let msg = build_message(&self.from, mail);
        let dir = self.dir.clone();
        let id = mail.id;
        Box::pin(async move {
            let bytes = msg?.formatted();
            let written = tokio::task::spawn_blocking(move || {
                write_outbox_file(&dir, id, &bytes).map_err(|e| (dir, e))
            })
            .await
            .map_err(|e| DeliveryError::transient(format!("outbox writer: {e}")))?;
            written.map_err(|(dir, e)| {
                DeliveryError::transient(format!("cannot write into {}: {e}", dir.display()))
            })
        })
    }
}
