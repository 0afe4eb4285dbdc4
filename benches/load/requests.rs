//! Pre-built HTTP/1.1 requests and small helpers to make them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::LOGIN_PASSWORD;

pub(crate) fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
}

pub(crate) fn form_value(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// A complete HTTP/1.1 keep-alive POST of a form, client_secret_basic.
pub(crate) fn post(host: &str, path: &str, basic: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {basic}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A complete HTTP/1.1 keep-alive POST of a JSON body, no credentials;
/// with a `User-Agent` unless `ua` is empty.
pub(crate) fn post_json(host: &str, path: &str, ua: &str, body: &str) -> Vec<u8> {
    let ua = if ua.is_empty() {
        String::new()
    } else {
        format!("User-Agent: {ua}\r\n")
    };
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\n{ua}Content-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The JSON login body of `user` (`login` takes a username or an e-mail).
pub(crate) fn login_body(user: &str) -> String {
    serde_json::json!({ "login": user, "password": LOGIN_PASSWORD }).to_string()
}

pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A small xorshift generator: the harness needs speed, not quality.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next() % n as u64) as usize
    }
    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// `n` single-use requests (each with a proof or an assertion of its
/// own), made by `one` on every core before a run, so that signing does
/// not limit the generator.
pub(crate) fn on_every_core<F>(n: usize, one: F) -> anyhow::Result<Vec<Vec<u8>>>
where
    F: Fn(usize) -> Vec<u8> + Sync,
{
    let one = &one;
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                let k = n / threads + usize::from(t < n % threads);
                s.spawn(move || (0..k).map(one).collect::<Vec<_>>())
            })
            .collect();
        let mut all = Vec::with_capacity(n);
        for p in parts {
            all.extend(
                p.join()
                    .map_err(|_| anyhow::anyhow!("a signing thread panicked"))?,
            );
        }
        Ok(all)
    })
}
