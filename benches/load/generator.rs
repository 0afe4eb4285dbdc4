//! The load generator: keep-alive connections, response framing by
//! `Content-Length`, and the statistics every connection keeps. A
//! connection is plain TCP or TLS over it ([`Connect`]); the HTTP/1.1
//! above is the same bytes either way.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use crate::requests::Rng;
use crate::workload::{Op, Workload};
use crate::{BUSY_PAUSE, REQUEST_TIMEOUT};

pub(crate) struct Stats {
    pub(crate) all: Histogram<u64>,
    pub(crate) introspect: Histogram<u64>,
    pub(crate) revoke: Histogram<u64>,
    pub(crate) completed: u64,
    pub(crate) non_2xx: u64,
    pub(crate) conn_errors: u64,
    pub(crate) timeouts: u64,
    pub(crate) bad_body: u64,
    pub(crate) active: u64,
    pub(crate) inactive: u64,
    pub(crate) revoked_but_active: u64,
    pub(crate) live_but_inactive: u64,
    pub(crate) revocations: u64,
    pub(crate) exhausted: bool,
    /// Successful logins.
    pub(crate) logins: u64,
    /// 503: the password pool refused (not in `non_2xx`).
    pub(crate) busy: u64,
    /// 429: a failure rate limit (also in `non_2xx`).
    pub(crate) limited: u64,
    /// code-flow: per-step latencies and completed flows (whose whole
    /// latency goes into `all`).
    pub(crate) login_h: Histogram<u64>,
    pub(crate) authorize_h: Histogram<u64>,
    pub(crate) exchange_h: Histogram<u64>,
    pub(crate) flows: u64,
    /// code-flow: flows that failed at login, authorize, token.
    pub(crate) step_errors: [u64; 3],
}

pub(crate) fn histogram() -> Histogram<u64> {
    // 1 µs .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

impl Stats {
    pub(crate) fn new() -> Stats {
        Stats {
            all: histogram(),
            introspect: histogram(),
            revoke: histogram(),
            completed: 0,
            non_2xx: 0,
            conn_errors: 0,
            timeouts: 0,
            bad_body: 0,
            active: 0,
            inactive: 0,
            revoked_but_active: 0,
            live_but_inactive: 0,
            revocations: 0,
            exhausted: false,
            logins: 0,
            busy: 0,
            limited: 0,
            login_h: histogram(),
            authorize_h: histogram(),
            exchange_h: histogram(),
            flows: 0,
            step_errors: [0; 3],
        }
    }
    pub(crate) fn merge(&mut self, o: &Stats) {
        let _ = self.all.add(&o.all);
        let _ = self.introspect.add(&o.introspect);
        let _ = self.revoke.add(&o.revoke);
        self.completed += o.completed;
        self.non_2xx += o.non_2xx;
        self.conn_errors += o.conn_errors;
        self.timeouts += o.timeouts;
        self.bad_body += o.bad_body;
        self.active += o.active;
        self.inactive += o.inactive;
        self.revoked_but_active += o.revoked_but_active;
        self.live_but_inactive += o.live_but_inactive;
        self.revocations += o.revocations;
        self.exhausted |= o.exhausted;
        self.logins += o.logins;
        self.busy += o.busy;
        self.limited += o.limited;
        let _ = self.login_h.add(&o.login_h);
        let _ = self.authorize_h.add(&o.authorize_h);
        let _ = self.exchange_h.add(&o.exchange_h);
        self.flows += o.flows;
        for (a, b) in self.step_errors.iter_mut().zip(o.step_errors) {
            *a += b;
        }
    }
}

pub(crate) struct Control {
    pub(crate) started: Instant,
    pub(crate) deadline: Instant,
    pub(crate) remaining: AtomicI64,
    /// With --rate: the interval between two sends of one connection.
    pub(crate) pace: Option<Duration>,
    pub(crate) conns: usize,
}

impl Control {
    /// `conns` connections for `secs` (or `max` requests in all), paced to
    /// `rate` req/s in all when given.
    pub(crate) fn new(
        conns: usize,
        secs: f64,
        max: Option<u64>,
        rate: Option<f64>,
    ) -> Arc<Control> {
        let now = Instant::now();
        Arc::new(Control {
            started: now,
            pace: rate.map(|r| Duration::from_secs_f64(conns as f64 / r)),
            conns,
            deadline: now + Duration::from_secs_f64(secs),
            remaining: AtomicI64::new(
                max.map_or(i64::MAX, |m| i64::try_from(m).unwrap_or(i64::MAX)),
            ),
        })
    }

    pub(crate) fn go(&self) -> bool {
        Instant::now() < self.deadline && self.remaining.fetch_sub(1, Ordering::Relaxed) > 0
    }
}

pub(crate) async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    s.set_nodelay(true)?;
    Ok(s)
}

/// How a connection is opened: a plain address, or [`TlsDial`].
pub(crate) trait Connect: Clone + Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send;
    fn open(&self) -> impl std::future::Future<Output = io::Result<Self::Stream>> + Send;
}

impl Connect for SocketAddr {
    type Stream = TcpStream;
    fn open(&self) -> impl std::future::Future<Output = io::Result<TcpStream>> + Send {
        connect(*self)
    }
}

/// TLS to `addr`: TCP, then the handshake (within the request timeout).
#[derive(Clone)]
pub(crate) struct TlsDial {
    pub(crate) addr: SocketAddr,
    pub(crate) connector: TlsConnector,
    pub(crate) name: ServerName<'static>,
}

impl Connect for TlsDial {
    type Stream = tokio_rustls::client::TlsStream<TcpStream>;
    fn open(&self) -> impl std::future::Future<Output = io::Result<Self::Stream>> + Send {
        let (addr, connector, name) = (self.addr, self.connector.clone(), self.name.clone());
        async move {
            let tcp = connect(addr).await?;
            tokio::time::timeout(REQUEST_TIMEOUT, connector.connect(name, tcp))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
        }
    }
}

/// Send `req` whole: a TLS stream may keep the last records until flushed.
pub(crate) async fn send<S: AsyncWrite + Unpin>(stream: &mut S, req: &[u8]) -> io::Result<()> {
    stream.write_all(req).await?;
    stream.flush().await
}

/// One keep-alive connection: request, response, repeat, until told to stop.
pub(crate) async fn connection<C: Connect>(
    dial: C,
    wl: Arc<Workload>,
    ctl: Arc<Control>,
    seed: u64,
) -> Stats {
    let mut s = Stats::new();
    let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut buf = Vec::with_capacity(8192);
    // Paced connections start staggered over one interval.
    let mut next_send = ctl.pace.map(|iv| {
        ctl.started + iv.mul_f64(seed.saturating_sub(1) as f64 / ctl.conns.max(1) as f64)
    });
    'connect: while Instant::now() < ctl.deadline {
        let mut stream = match dial.open().await {
            Ok(st) => st,
            Err(_) => {
                s.conn_errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        loop {
            if let (Some(iv), Some(at)) = (ctl.pace, next_send.as_mut()) {
                tokio::time::sleep_until((*at).into()).await;
                *at += iv;
            }
            if !ctl.go() {
                break 'connect;
            }
            let Some(op) = wl.next(&mut rng) else {
                s.exhausted = true;
                break 'connect;
            };
            let started = Instant::now();
            if send(&mut stream, wl.bytes(&op)).await.is_err() {
                s.conn_errors += 1;
                continue 'connect;
            }
            let r =
                match tokio::time::timeout(REQUEST_TIMEOUT, read_response(&mut stream, &mut buf))
                    .await
                {
                    Ok(Ok(r)) => r,
                    Ok(Err(_)) => {
                        s.conn_errors += 1;
                        continue 'connect;
                    }
                    Err(_) => {
                        s.timeouts += 1;
                        continue 'connect;
                    }
                };
            let micros = u64::try_from(started.elapsed().as_micros())
                .unwrap_or(u64::MAX)
                .max(1);
            // A 503 is a quick refusal: counted, not part of the latency.
            if r.status != 503 {
                s.all.saturating_record(micros);
                match op {
                    Op::Introspect { .. } => s.introspect.saturating_record(micros),
                    Op::Revoke { .. } => s.revoke.saturating_record(micros),
                    Op::Fixed | Op::Once { .. } | Op::Login { .. } => {}
                }
                s.completed += 1;
            }
            wl.done(
                op,
                r.status,
                buf.get(r.body.clone()).unwrap_or_default(),
                &mut s,
            );
            if r.close {
                continue 'connect;
            }
            if r.status == 503 {
                tokio::time::sleep(BUSY_PAUSE).await;
            }
        }
    }
    s
}

pub(crate) struct Response {
    pub(crate) status: u16,
    /// The status line and headers: `buf[..head]`.
    pub(crate) head: usize,
    pub(crate) body: std::ops::Range<usize>,
    pub(crate) close: bool,
}

/// Read one response into `buf`: the head up to the blank line, then
/// `Content-Length` bytes of body. Chunked bodies are not expected here.
pub(crate) async fn read_response<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> io::Result<Response> {
    buf.clear();
    let head_end = loop {
        let scanned = buf.len().saturating_sub(3);
        if stream.read_buf(buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(p) = buf
            .get(scanned..)
            .and_then(|b| b.windows(4).position(|w| w == b"\r\n\r\n"))
        {
            break scanned + p + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "response head too large",
            ));
        }
    };
    let head = std::str::from_utf8(buf.get(..head_end).unwrap_or_default())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "response head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no status line"))?;
    let mut length = 0usize;
    let mut close = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))?;
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            close = true;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "chunked responses are not supported",
            ));
        }
    }
    let end = head_end + length;
    while buf.len() < end {
        if stream.read_buf(buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(Response {
        status,
        head: head_end,
        body: head_end..end,
        close,
    })
}

pub(crate) async fn request_once(addr: SocketAddr, req: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    let a = exchange_once(addr, req).await?;
    Ok((a.status, a.body))
}

/// One answer.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "a {} answer is not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One request on a fresh connection.
pub(crate) async fn exchange_once(addr: SocketAddr, req: &[u8]) -> anyhow::Result<Answer> {
    let mut s = connect(addr).await?;
    s.write_all(req).await?;
    let mut buf = Vec::new();
    let r = tokio::time::timeout(REQUEST_TIMEOUT, read_response(&mut s, &mut buf)).await??;
    Ok(Answer {
        status: r.status,
        body: buf.get(r.body).unwrap_or_default().to_vec(),
    })
}

/// The headers of a response head (status line skipped), values trimmed.
pub(crate) fn headers(head: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(head)
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// A complete HTTP/1.1 keep-alive request with extra headers and a body
/// of `content_type` (none when `None`).
pub(crate) fn request(
    method: &str,
    host: &str,
    path: &str,
    extra: &[(&str, &str)],
    content_type: Option<&str>,
    body: &str,
) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (n, v) in extra {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(ct) = content_type {
        r.push_str(&format!(
            "Content-Type: {ct}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r.into_bytes()
}
