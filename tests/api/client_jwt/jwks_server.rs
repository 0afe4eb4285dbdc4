//! A client's key server on loopback: answers every `GET` with the reply
//! set now (a JWK Set, garbage, an error, a huge or a slow answer) and
//! counts the connections and requests it got.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// Send `Content-Length` (else the body ends when the connection closes).
    pub length: bool,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Wait (`delay`) in the middle of the body instead, after the head
    /// and half the body went out.
    pub stall_body: bool,
}

impl Reply {
    /// `200` with this JSON.
    pub fn json(v: &serde_json::Value) -> Reply {
        Reply {
            status: 200,
            body: v.to_string().into_bytes(),
            length: true,
            delay: Duration::ZERO,
            stall_body: false,
        }
    }

    pub fn status(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.as_bytes().to_vec(),
            length: true,
            delay: Duration::ZERO,
            stall_body: false,
        }
    }

    pub fn without_length(mut self) -> Reply {
        self.length = false;
        self
    }

    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    /// Half the body, then a pause of `delay`, then the rest.
    pub fn stalling(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self.stall_body = true;
        self
    }
}

#[derive(Default)]
struct Counts {
    connections: AtomicUsize,
    requests: AtomicUsize,
}

pub struct JwksServer {
    /// `http://127.0.0.1:PORT/jwks.json`
    pub url: String,
    reply: Arc<Mutex<Reply>>,
    counts: Arc<Counts>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl JwksServer {
    pub async fn start(reply: Reply) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let reply = Arc::new(Mutex::new(reply));
        let counts = Arc::new(Counts::default());
        let (r, c) = (reply.clone(), counts.clone());
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                c.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(answer(sock, r.clone(), c.clone()));
            }
        });
        JwksServer {
            url: format!("http://127.0.0.1:{port}/jwks.json"),
            reply,
            counts,
            task,
        }
    }

    /// Answer `reply` from now on.
    pub fn serve(&self, reply: Reply) {
        *self.reply.lock().expect("reply") = reply;
    }

    /// Requests read so far.
    pub fn requests(&self) -> usize {
        self.counts.requests.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.counts.connections.load(Ordering::SeqCst)
    }
}

/// Read one request head (at most 16 KiB), count it, answer, close.
async fn answer(mut sock: TcpStream, reply: Arc<Mutex<Reply>>, counts: Arc<Counts>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return;
        }
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    counts.requests.fetch_add(1, Ordering::SeqCst);
    let reply = reply.lock().expect("reply").clone();
    if !reply.delay.is_zero() && !reply.stall_body {
        tokio::time::sleep(reply.delay).await;
    }
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nConnection: close\r\n",
        reply.status
    );
    if reply.length {
        out.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    let split = bytes.len() + reply.body.len() / 2;
    bytes.extend_from_slice(&reply.body);
    if reply.stall_body {
        let _ = sock.write_all(&bytes[..split]).await;
        let _ = sock.flush().await;
        tokio::time::sleep(reply.delay).await;
        let _ = sock.write_all(&bytes[split..]).await;
    } else {
        let _ = sock.write_all(&bytes).await;
    }
    let _ = sock.shutdown().await;
}
