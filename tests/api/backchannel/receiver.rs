//! A client's back-channel logout endpoint on loopback: a real HTTP server
//! that keeps every `logout_token` POSTed to it and answers as told (at
//! once, after a delay, or with an error status); and the checks a
//! client makes of a logout token, done independently of the server's
//! code (the key from the published JWKS, jsonwebtoken for the rest).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;

use crate::helpers::{decoding_key, jwk};

pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// `200` at once.
    Ok,
    /// This status at once.
    Status(u16),
    /// `200` after this long.
    Delay(Duration),
}

struct Shared {
    got: Mutex<Vec<(Instant, String)>>,
    /// Requests that were not a well-formed logout POST.
    malformed: Mutex<Vec<String>>,
    mode: Mutex<Mode>,
}

pub struct Receiver {
    pub port: u16,
    shared: Arc<Shared>,
    handle: Option<actix_web::dev::ServerHandle>,
}

async fn logout(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let tokens: Vec<String> = form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.to_string())
        .collect();
    let mode = *shared.mode.lock().unwrap();
    if !ct.starts_with("application/x-www-form-urlencoded") || tokens.len() != 1 {
        shared
            .malformed
            .lock()
            .unwrap()
            .push(format!("{ct}: {}", String::from_utf8_lossy(&body)));
        return HttpResponse::BadRequest().finish();
    }
    let token = tokens.into_iter().next().unwrap_or_default();
    match mode {
        Mode::Ok => {
            shared.got.lock().unwrap().push((Instant::now(), token));
            HttpResponse::Ok().finish()
        }
        Mode::Status(s) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(s).expect("status")).finish()
        }
        Mode::Delay(d) => {
            actix_web::rt::time::sleep(d).await;
            shared.got.lock().unwrap().push((Instant::now(), token));
            HttpResponse::Ok().finish()
        }
    }
}

/// A loopback port nothing listens on (yet).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Receiver {
    /// Listening on a port of its own, answering `200`.
    pub fn start() -> Receiver {
        Self::start_on(0, Mode::Ok)
    }

    pub fn with_mode(mode: Mode) -> Receiver {
        Self::start_on(0, mode)
    }

    /// Not listening yet: [`Receiver::up`] starts it on its port.
    pub fn down() -> Receiver {
        Receiver {
            port: free_port(),
            shared: Arc::new(Shared {
                got: Mutex::new(Vec::new()),
                malformed: Mutex::new(Vec::new()),
                mode: Mutex::new(Mode::Ok),
            }),
            handle: None,
        }
    }

    fn start_on(port: u16, mode: Mode) -> Receiver {
        let mut r = Receiver::down();
        *r.shared.mode.lock().unwrap() = mode;
        if port != 0 {
            r.port = port;
        }
        r.listen(std::net::TcpListener::bind("127.0.0.1:0").expect("bind"));
        r
    }

    fn listen(&mut self, listener: std::net::TcpListener) {
        self.port = listener.local_addr().expect("addr").port();
        let data = web::Data::from(self.shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/backchannel", web::post().to(logout))
        })
        .workers(1)
        .shutdown_timeout(0)
        .listen(listener)
        .expect("listen")
        .run();
        self.handle = Some(server.handle());
        actix_web::rt::spawn(server);
    }

    /// Start listening on the port it was given.
    pub fn up(&mut self) {
        let l = std::net::TcpListener::bind(("127.0.0.1", self.port)).expect("bind the port again");
        self.listen(l);
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}/backchannel", self.port)
    }

    /// Every token received so far, in arrival order.
    pub fn tokens(&self) -> Vec<String> {
        self.shared
            .got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// When the `i`-th token arrived.
    pub fn arrived(&self, i: usize) -> Instant {
        self.shared.got.lock().unwrap()[i].0
    }

    pub fn malformed(&self) -> Vec<String> {
        self.shared.malformed.lock().unwrap().clone()
    }

    /// Wait (at most `within`) until `n` tokens arrived; all received.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<String> {
        let start = Instant::now();
        loop {
            let got = self.tokens();
            if got.len() >= n || start.elapsed() > within {
                return got;
            }
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Verify a logout token as a client must (OIDC Back-Channel Logout 1.0
/// §2.6): signature by the key the JWKS names, `typ`, `iss`, `aud`,
/// `iat`, `exp`, `jti`, the event, `sub`, and no `nonce`. The claims.
pub fn verify_logout_token(token: &str, jwks: &Value, issuer: &str, audience: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("a JWS header");
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"), "typ");
    let kid = header.kid.expect("kid");
    let key = jwk(jwks, &kid);
    let alg: jsonwebtoken::Algorithm = key["alg"]
        .as_str()
        .expect("alg")
        .parse()
        .expect("known alg");
    assert_eq!(header.alg, alg, "the JWK's algorithm");
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.leeway = 0;
    // The server's clock is the test's hand-driven one: exp is checked
    // against iat below instead.
    v.validate_exp = false;
    v.set_required_spec_claims(&["exp", "iss", "aud", "iat", "jti", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(token, &decoding_key(key), &v)
        .expect("the logout token verifies against the JWKS")
        .claims;
    let iat = claims["iat"].as_i64().expect("iat");
    let exp = claims["exp"].as_i64().expect("exp");
    assert!(
        exp > iat && exp - iat <= 600,
        "a short-lived token: {claims}"
    );
    assert!(!claims["jti"].as_str().expect("jti").is_empty());
    assert_eq!(
        claims["events"],
        serde_json::json!({ EVENT: {} }),
        "events: {claims}"
    );
    assert!(claims.get("nonce").is_none(), "no nonce: {claims}");
    claims
}
