//! The crash harness: the real binary under concurrent revocations, code
//! exchanges, refresh rotations, mail sends and key rotations, killed with
//! SIGKILL at random moments (60 kill points), restarted on the same data
//! directory each time, and checked: nothing it acknowledged is lost, no
//! used code or rotated refresh token works again, reuse detection still
//! fires, every accepted mail is delivered exactly once, and the key set is
//! consistent.
//!
//! Replay a run with `TESSERA_CRASH_SEED=<seed>` (printed on failure and at
//! the end); `TESSERA_CRASH_ROUNDS` changes the number of kill points. The
//! seed fixes every random choice (timings, operations, kill delays); how
//! the requests interleave with the kill still depends on the machine.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{jwt_part, kids, INACTIVE};
use crate::process::{Server, ADMIN_TOKEN};

const DEFAULT_ROUNDS: usize = 60;
/// The whole run fails, rather than hangs, past this.
const TIME_CAP: Duration = Duration::from_secs(300);
const REDIRECT: &str = "https://rp.example.com/cb";
const PASSWORD: &str = "correct horse battery staple";
const LOGIN_USER: &str = "crash-user";
const MAIL_USERS: usize = 8;
/// Mails asked for per server life: below the per-address and per-client
/// send limits, which start afresh with each process.
const MAILS_PER_ROUND: u32 = 12;

/// splitmix64: small, seedable, good enough for choosing timings.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn fork(&mut self) -> Rng {
        Rng(self.next())
    }
}

/// Prints the seed when the test fails, so the run can be replayed.
struct SeedOnFailure(u64);

impl Drop for SeedOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "crash harness failed; replay with TESSERA_CRASH_SEED={}",
                self.0
            );
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[derive(Clone)]
struct Cred {
    id: String,
    secret: String,
}

/// One server life: the address and a connection pool of its own.
#[derive(Clone)]
struct Life {
    http: reqwest::Client,
    base: String,
}

impl Life {
    fn new(s: &Server) -> Life {
        Life {
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .expect("reqwest client"),
            base: s.address.clone(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn admin_post(&self, path: &str, body: &Value) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
    }

    async fn admin_get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("admin GET");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.expect("admin JSON")
    }

    async fn token(&self, c: &Cred, params: &[(&str, &str)]) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(self.url("/oauth2/token"))
            .basic_auth(&c.id, Some(&c.secret))
            .form(params)
            .send()
            .await
    }

    async fn introspect(&self, c: &Cred, token: &str) -> String {
        let r = self
            .http
            .post(self.url("/oauth2/token/introspect"))
            .basic_auth(&c.id, Some(&c.secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspect");
        assert_eq!(r.status(), StatusCode::OK);
        r.text().await.expect("introspection body")
    }

    async fn revoke(&self, c: &Cred, token: &str) -> reqwest::Result<StatusCode> {
        Ok(self
            .http
            .post(self.url("/oauth2/token/revoke"))
            .basic_auth(&c.id, Some(&c.secret))
            .form(&[("token", token)])
            .send()
            .await?
            .status())
    }

    /// `POST /auth/login`: the session cookie.
    async fn login(&self) -> String {
        let r = self
            .http
            .post(self.url("/auth/login"))
            .json(&json!({"login": LOGIN_USER, "password": PASSWORD}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), StatusCode::OK, "login");
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                let pair = v.split(';').next()?;
                let (n, val) = pair.split_once('=')?;
                (n.trim() == "tessera_session" && !val.trim().is_empty())
                    .then(|| val.trim().to_string())
            })
            .expect("a session cookie")
    }

    /// An authorization code and its PKCE verifier (`None` when the server
    /// went away).
    async fn code(&self, rp: &Cred, session: &str) -> Option<(String, String)> {
        let verifier =
            tessera_actors::secret::b64url(&tessera_actors::secret::random_bytes::<32>());
        let challenge =
            tessera_actors::secret::b64url(&tessera_actors::secret::sha256(verifier.as_bytes()));
        let state = uuid::Uuid::new_v4().simple().to_string();
        let query = crate::flow::encode(&[
            ("response_type", "code"),
            ("client_id", rp.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "openid read"),
            ("state", state.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]);
        let r = self
            .http
            .get(self.url(&format!("/oauth2/authorize?{query}")))
            .header("cookie", format!("tessera_session={session}"))
            .send()
            .await
            .ok()?;
        assert!(
            r.status() == StatusCode::FOUND || r.status() == StatusCode::SEE_OTHER,
            "authorize answered {}",
            r.status()
        );
        let loc = r.headers().get("location")?.to_str().ok()?.to_string();
        let (_, q) = loc.split_once('?')?;
        let code = form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.to_string());
        assert!(code.is_some(), "no code in {loc}");
        code.map(|c| (c, verifier))
    }

    async fn exchange(
        &self,
        rp: &Cred,
        code: &str,
        verifier: &str,
    ) -> reqwest::Result<reqwest::Response> {
        self.token(
            rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
            ],
        )
        .await
    }

    async fn refresh(&self, rp: &Cred, token: &str) -> reqwest::Result<reqwest::Response> {
        self.token(
            rp,
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await
    }
}

/// A refresh token family as the client saw it.
#[derive(Default, Debug, Clone)]
struct Family {
    /// Tokens whose rotation was answered `200`: each is used for good.
    rotated: Vec<String>,
    /// The newest token a `200` handed out.
    newest: Option<String>,
}

/// Everything acknowledged (or merely attempted) so far.
#[derive(Default, Clone)]
struct Ledger {
    /// Tokens whose revocation was answered `200`.
    revoked: Vec<String>,
    /// Access tokens issued with `200` and never sent to be revoked: (token,
    /// jti).
    kept: Vec<(String, String)>,
    /// Codes whose exchange was sent, answered or not: (code, verifier).
    codes: Vec<(String, String)>,
    families: Vec<Family>,
    /// Reset mails answered `200`, by address.
    mail_acked: BTreeMap<String, u32>,
    /// Reset mails asked for and not refused with `429`, answered or not.
    mail_asked: BTreeMap<String, u32>,
    /// Every kid an acknowledged key rotation listed.
    acked_kids: BTreeSet<String>,
    key_rotations: u32,
    codes_answered: u32,
    rotations_answered: u32,
}

/// What the checks after a restart looked at.
#[derive(Default)]
struct Checked {
    revoked: usize,
    kept: usize,
    codes: usize,
    rotated: usize,
    families: usize,
    key_checks: usize,
}

type Shared = Rc<RefCell<Ledger>>;

/// Where a worker starts and stops: the ledger marks what happened.
struct Setup {
    jwt: Cred,
    opaque: Cred,
    rp: Cred,
    rs: Cred,
    mail_users: Vec<String>,
}

async fn revocation_worker(life: Life, setup: Rc<Setup>, ledger: Shared, mut rng: Rng) {
    let mut n = 0u32;
    while n < 10_000 {
        n += 1;
        let c = if rng.chance(50) {
            &setup.jwt
        } else {
            &setup.opaque
        };
        let Ok(r) = life.token(c, &[("grant_type", "client_credentials")]).await else {
            return;
        };
        if r.status() != StatusCode::OK {
            assert!(
                r.status().is_server_error(),
                "client_credentials answered {}",
                r.status()
            );
            continue;
        }
        let Ok(v) = r.json::<Value>().await else {
            return;
        };
        let token = v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string();
        if rng.chance(60) {
            // By its own client. From here on its state is unknown until
            // the answer arrives.
            match life.revoke(c, &token).await {
                Ok(StatusCode::OK) => ledger.borrow_mut().revoked.push(token),
                Ok(s) => assert!(s.is_server_error(), "revoke answered {s}"),
                Err(_) => return,
            }
        } else {
            let jti = introspected_jti(&life, &setup.rs, &token).await;
            match jti {
                Some(jti) => ledger.borrow_mut().kept.push((token, jti)),
                None => return,
            }
        }
    }
}

/// The `jti` introspection reports for an active token (`None` when the
/// server went away).
async fn introspected_jti(life: &Life, rs: &Cred, token: &str) -> Option<String> {
    let r = life
        .http
        .post(life.url("/oauth2/token/introspect"))
        .basic_auth(&rs.id, Some(&rs.secret))
        .form(&[("token", token)])
        .send()
        .await
        .ok()?;
    let v: Value = r.json().await.ok()?;
    assert_eq!(v["active"], true, "a fresh token is active: {v}");
    Some(v["jti"].as_str().expect("jti").to_string())
}

async fn code_worker(life: Life, setup: Rc<Setup>, session: String, ledger: Shared) {
    let mut n = 0u32;
    while n < 10_000 {
        n += 1;
        let Some((code, verifier)) = life.code(&setup.rp, &session).await else {
            return;
        };
        ledger
            .borrow_mut()
            .codes
            .push((code.clone(), verifier.clone()));
        match life.exchange(&setup.rp, &code, &verifier).await {
            Ok(r) if r.status() == StatusCode::OK => ledger.borrow_mut().codes_answered += 1,
            Ok(r) => assert!(
                r.status().is_server_error(),
                "a fresh code's exchange answered {}",
                r.status()
            ),
            Err(_) => return,
        }
    }
}

async fn refresh_worker(life: Life, setup: Rc<Setup>, session: String, ledger: Shared) {
    let Some((code, verifier)) = life.code(&setup.rp, &session).await else {
        return;
    };
    ledger
        .borrow_mut()
        .codes
        .push((code.clone(), verifier.clone()));
    let Ok(r) = life.exchange(&setup.rp, &code, &verifier).await else {
        return;
    };
    if r.status() != StatusCode::OK {
        return;
    }
    let Ok(v) = r.json::<Value>().await else {
        return;
    };
    let mut current = v["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    let idx = {
        let mut l = ledger.borrow_mut();
        l.codes_answered += 1;
        l.families.push(Family {
            rotated: Vec::new(),
            newest: Some(current.clone()),
        });
        l.families.len() - 1
    };
    let mut n = 0u32;
    while n < 10_000 {
        n += 1;
        let Ok(r) = life.refresh(&setup.rp, &current).await else {
            return;
        };
        if r.status() != StatusCode::OK {
            assert!(
                r.status().is_server_error(),
                "a rotation answered {}",
                r.status()
            );
            continue;
        }
        // Answered: the presented token is used for good, whatever happens
        // to the body.
        {
            let mut l = ledger.borrow_mut();
            l.rotations_answered += 1;
            l.families[idx].rotated.push(current.clone());
            l.families[idx].newest = None;
        }
        let Ok(v) = r.json::<Value>().await else {
            return;
        };
        current = v["refresh_token"]
            .as_str()
            .expect("a rotated refresh token")
            .to_string();
        ledger.borrow_mut().families[idx].newest = Some(current.clone());
    }
}

async fn mail_worker(life: Life, setup: Rc<Setup>, ledger: Shared, mut rng: Rng) {
    for _ in 0..MAILS_PER_ROUND {
        let to = setup.mail_users[rng.below(setup.mail_users.len() as u64) as usize].clone();
        *ledger
            .borrow_mut()
            .mail_asked
            .entry(to.clone())
            .or_default() += 1;
        let r = life
            .http
            .post(life.url("/api/oauth/reset_password"))
            .json(&json!({ "email": to }))
            .send()
            .await;
        match r.map(|r| r.status()) {
            Ok(StatusCode::OK) => *ledger.borrow_mut().mail_acked.entry(to).or_default() += 1,
            Ok(StatusCode::TOO_MANY_REQUESTS) => {
                // Refused before anything was queued.
                *ledger.borrow_mut().mail_asked.entry(to).or_default() -= 1;
            }
            Ok(s) => assert!(s.is_server_error(), "reset_password answered {s}"),
            Err(_) => return,
        }
        tokio::time::sleep(Duration::from_millis(rng.range(5, 40))).await;
    }
}

async fn key_worker(life: Life, ledger: Shared, mut rng: Rng, window_ms: u64) {
    // Early in the window: a rotation makes a key, and should often be
    // answered before the kill.
    tokio::time::sleep(Duration::from_millis(rng.below(window_ms / 3))).await;
    let Ok(r) = life.admin_post("/admin/keys/rotate", &json!({})).await else {
        return;
    };
    assert_eq!(r.status(), StatusCode::OK, "key rotation");
    let Ok(keys) = r.json::<Vec<Value>>().await else {
        return;
    };
    let mut l = ledger.borrow_mut();
    l.key_rotations += 1;
    for k in keys {
        l.acked_kids
            .insert(k["kid"].as_str().expect("kid").to_string());
    }
}

/// The outbox's mails: Message-ID → recipients, one entry per file.
fn outbox(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "eml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).expect("an outbox file");
        let header = |name: &str| {
            text.lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                })
                .unwrap_or_else(|| panic!("{} has no {name} header:\n{text}", p.display()))
        };
        out.push((header("Message-ID"), header("To")));
    }
    out
}

/// No mail was written twice.
fn assert_no_duplicate_mail(dir: &Path) -> usize {
    let mails = outbox(dir);
    let mut seen = HashMap::new();
    for (id, _) in &mails {
        *seen.entry(id.clone()).or_insert(0u32) += 1;
    }
    let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "mails delivered more than once: {dups:?}");
    mails.len()
}

/// After a restart: everything the ledger says was acknowledged holds.
/// `full` checks every record; otherwise those since `from` and a sample.
async fn verify(
    life: &Life,
    setup: &Setup,
    ledger: &Shared,
    from: &Marks,
    full: bool,
    rng: &mut Rng,
    checked: &mut Checked,
) {
    // A copy: the workers are done, and no borrow is held across an await.
    let l = ledger.borrow().clone();
    // Keys: unique kids, one current key that signs, nothing acknowledged
    // lost.
    let jwks = life.admin_get("/oauth2/jwks").await;
    let jwks_kids = kids(&jwks);
    let unique: BTreeSet<_> = jwks_kids.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        jwks_kids.len(),
        "duplicate kids: {jwks_kids:?}"
    );
    let listed: Vec<Value> =
        serde_json::from_value(life.admin_get("/admin/keys").await).expect("key list");
    let current: Vec<&Value> = listed.iter().filter(|k| k["state"] == "current").collect();
    assert_eq!(current.len(), 1, "exactly one current key: {listed:?}");
    let current_kid = current[0]["kid"].as_str().expect("kid").to_string();
    for kid in &l.acked_kids {
        assert!(
            unique.contains(kid),
            "key {kid} from an acknowledged rotation is gone: {jwks_kids:?}"
        );
    }
    let r = life
        .token(&setup.jwt, &[("grant_type", "client_credentials")])
        .await
        .expect("token");
    assert_eq!(r.status(), StatusCode::OK);
    let fresh = r.json::<Value>().await.expect("token JSON")["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    assert_eq!(
        jwt_part(&fresh, 0)["kid"],
        current_kid.as_str(),
        "new tokens carry the current kid"
    );
    assert!(
        unique.contains(&current_kid),
        "the signing key is published"
    );
    checked.key_checks += 1;

    // Revocations answered 200 stay revoked.
    let mut revoked: Vec<&String> = Vec::new();
    for (i, t) in l.revoked.iter().enumerate() {
        if full || i >= from.revoked || rng.chance(5) {
            revoked.push(t);
        }
    }
    for t in revoked {
        assert_eq!(
            life.introspect(&setup.rs, t).await,
            INACTIVE,
            "an acknowledged revocation was lost"
        );
        checked.revoked += 1;
    }
    // Tokens issued and never revoked are still active, unchanged.
    for (i, (t, jti)) in l.kept.iter().enumerate() {
        if !(full || i >= from.kept || rng.chance(5)) {
            continue;
        }
        let v: Value =
            serde_json::from_str(&life.introspect(&setup.rs, t).await).expect("introspection");
        assert_eq!(v["active"], true, "an acknowledged token was lost: {v}");
        assert_eq!(v["jti"], jti.as_str());
        if t.split('.').count() == 3 {
            let kid = jwt_part(t, 0)["kid"].as_str().expect("kid").to_string();
            assert!(
                unique.contains(&kid),
                "the key {kid} of a live token left the JWKS"
            );
        }
        checked.kept += 1;
    }
    // Reuse detection first (replaying codes below revokes families too):
    // a rotated token fails, and after it the whole family is dead.
    for (i, f) in l.families.iter().enumerate() {
        if !(full || i >= from.families) || f.rotated.is_empty() {
            continue;
        }
        for t in &f.rotated {
            let r = life.refresh(&setup.rp, t).await.expect("refresh");
            let status = r.status();
            let body: Value = r.json().await.expect("refresh JSON");
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_grant")),
                "a rotated refresh token worked again: {body}"
            );
            checked.rotated += 1;
        }
        if let Some(newest) = &f.newest {
            let r = life.refresh(&setup.rp, newest).await.expect("refresh");
            assert_eq!(
                r.status(),
                StatusCode::BAD_REQUEST,
                "reuse detection did not end the family"
            );
        }
        checked.families += 1;
    }
    // No code whose exchange was sent works again.
    for (i, (code, verifier)) in l.codes.iter().enumerate() {
        if !(full || i >= from.codes) {
            continue;
        }
        let r = life
            .exchange(&setup.rp, code, verifier)
            .await
            .expect("exchange");
        let status = r.status();
        let body: Value = r.json().await.expect("token JSON");
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "a used code worked again: {body}"
        );
        checked.codes += 1;
    }
}

/// Where each ledger list stood when a round began.
#[derive(Default, Clone)]
struct Marks {
    revoked: usize,
    kept: usize,
    codes: usize,
    families: usize,
}

impl Marks {
    fn of(l: &Ledger) -> Marks {
        Marks {
            revoked: l.revoked.len(),
            kept: l.kept.len(),
            codes: l.codes.len(),
            families: l.families.len(),
        }
    }
}

async fn set_up(life: &Life) -> Setup {
    let client = |spec: Value| async move {
        let r = life
            .admin_post("/admin/clients", &spec)
            .await
            .expect("POST");
        assert_eq!(r.status(), StatusCode::CREATED, "{spec}");
        let v: Value = r.json().await.expect("client JSON");
        Cred {
            id: v["client_id"].as_str().expect("id").into(),
            secret: v["client_secret"].as_str().expect("secret").into(),
        }
    };
    let jwt = client(json!({"client_id": "crash-jwt", "scope": "read"})).await;
    let opaque = client(json!({
        "client_id": "crash-opaque",
        "scope": "read",
        "access_token_format": "opaque"
    }))
    .await;
    let rp = client(json!({
        "client_id": "crash-rp",
        "public": false,
        "first_party": true,
        "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
        "redirect_uris": [REDIRECT],
        "scope": "openid read",
    }))
    .await;
    let rs =
        client(json!({"client_id": "crash-rs", "introspect_any": true, "scope": "read"})).await;
    let user = |name: String| async move {
        let r = life
            .admin_post(
                "/admin/users",
                &json!({
                    "username": name,
                    "email": format!("{name}@example.com"),
                    "password": PASSWORD,
                    "email_verified": true,
                }),
            )
            .await
            .expect("POST");
        assert_eq!(r.status(), StatusCode::CREATED);
        format!("{name}@example.com")
    };
    user(LOGIN_USER.to_string()).await;
    let mut mail_users = Vec::new();
    for i in 0..MAIL_USERS {
        mail_users.push(user(format!("crash-mail-{i}")).await);
    }
    Setup {
        jwt,
        opaque,
        rp,
        rs,
        mail_users,
    }
}

fn check_time(start: Instant, seed: u64, what: &str) {
    assert!(
        start.elapsed() < TIME_CAP,
        "the crash harness exceeded its {} s cap ({what}); seed {seed}",
        TIME_CAP.as_secs()
    );
}

#[actix_web::test]
async fn nothing_acknowledged_is_lost_across_60_kill_9s() {
    let seed = env_u64("TESSERA_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let rounds = env_u64("TESSERA_CRASH_ROUNDS").map_or(DEFAULT_ROUNDS, |n| n as usize);
    let _guard = SeedOnFailure(seed);
    let mut rng = Rng(seed);
    let start = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let data: PathBuf = dir.path().join("data");
    let out = data.join("outbox");
    let log = |n: usize| dir.path().join(format!("run{n}.log"));

    let mut server = Server::start(&data, &log(0));
    let life = Life::new(&server);
    let setup = Rc::new(set_up(&life).await);
    let ledger: Shared = Rc::new(RefCell::new(Ledger::default()));
    {
        let listed: Vec<Value> =
            serde_json::from_value(life.admin_get("/admin/keys").await).expect("keys");
        let mut l = ledger.borrow_mut();
        for k in listed {
            l.acked_kids.insert(k["kid"].as_str().expect("kid").into());
        }
    }
    let mut checked = Checked::default();
    let mut kills = 0usize;
    let mut busy_kills = 0usize;
    let mut cut_off = 0usize;

    for round in 0..rounds {
        check_time(start, seed, &format!("round {round}"));
        let life = Life::new(&server);
        let session = life.login().await;
        let marks = Marks::of(&ledger.borrow());
        let window = rng.range(80, 600);
        let mut tasks = Vec::new();
        for _ in 0..2 {
            tasks.push(actix_web::rt::spawn(revocation_worker(
                life.clone(),
                setup.clone(),
                ledger.clone(),
                rng.fork(),
            )));
        }
        tasks.push(actix_web::rt::spawn(code_worker(
            life.clone(),
            setup.clone(),
            session.clone(),
            ledger.clone(),
        )));
        for _ in 0..2 {
            tasks.push(actix_web::rt::spawn(refresh_worker(
                life.clone(),
                setup.clone(),
                session.clone(),
                ledger.clone(),
            )));
        }
        tasks.push(actix_web::rt::spawn(mail_worker(
            life.clone(),
            setup.clone(),
            ledger.clone(),
            rng.fork(),
        )));
        if rng.chance(40) {
            tasks.push(actix_web::rt::spawn(key_worker(
                life.clone(),
                ledger.clone(),
                rng.fork(),
                window,
            )));
        }
        tokio::time::sleep(Duration::from_millis(window)).await;
        // SIGKILL with requests in flight: workers run until a request
        // fails, so every one still running is cut off mid-request.
        let running = tasks.iter().filter(|t| !t.is_finished()).count();
        server.kill();
        kills += 1;
        cut_off += running;
        if running > 0 {
            busy_kills += 1;
        }
        for t in tasks {
            if let Err(e) = t.await {
                // A worker's failed assertion.
                std::panic::resume_unwind(e.into_panic());
            }
        }
        check_time(start, seed, &format!("after kill {kills}"));
        server = Server::start(&data, &log(round + 1));
        let life = Life::new(&server);
        let last = round + 1 == rounds;
        let mut sample = rng.fork();
        verify(
            &life,
            &setup,
            &ledger,
            &marks,
            last,
            &mut sample,
            &mut checked,
        )
        .await;
        assert_no_duplicate_mail(&out);
    }

    // Every acknowledged mail is delivered, once: the restarted mailer
    // sends what was still queued.
    let deadline = Instant::now() + Duration::from_secs(30);
    // A copy: the workers are done, and no borrow is held across an await.
    let l = ledger.borrow().clone();
    let delivered = loop {
        let mut by_to: BTreeMap<String, u32> = BTreeMap::new();
        for (_, to) in outbox(&out) {
            *by_to.entry(to).or_default() += 1;
        }
        let short: Vec<_> = l
            .mail_acked
            .iter()
            .filter(|(to, n)| by_to.get(*to).copied().unwrap_or(0) < **n)
            .collect();
        if short.is_empty() {
            break by_to;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged mails neither delivered nor queued: acked {short:?}, delivered {by_to:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mails = assert_no_duplicate_mail(&out);
    for (to, n) in &delivered {
        let asked = l.mail_asked.get(to).copied().unwrap_or(0);
        assert!(
            *n <= asked,
            "{to}: {n} mails delivered but only {asked} asked for"
        );
    }
    server.kill();

    let acked_mail: u32 = l.mail_acked.values().sum();
    println!(
        "crash harness: seed {seed}, {kills} kill points survived in {:.1} s \
         ({busy_kills} with requests in flight, {cut_off} workers cut off); \
         acknowledged: {} revocations, {} tokens kept, {} code exchanges ({} codes sent), \
         {} refresh rotations in {} families, {acked_mail} mails ({mails} delivered, none twice), \
         {} key rotations; checked after restarts: {} revocations, {} live tokens, \
         {} code replays, {} rotated refresh tokens, {} families ended by reuse detection, \
         {} key-set checks; 0 losses",
        start.elapsed().as_secs_f64(),
        l.revoked.len(),
        l.kept.len(),
        l.codes_answered,
        l.codes.len(),
        l.rotations_answered,
        l.families.len(),
        l.key_rotations,
        checked.revoked,
        checked.kept,
        checked.codes,
        checked.rotated,
        checked.families,
        checked.key_checks,
    );
}

/// Deterministic companion to the harness: a code whose exchange may have
/// been in flight when the process died is void after the restart, even
/// when the code itself reached the disk.
#[actix_web::test]
async fn a_code_not_redeemed_before_a_kill_9_is_void_after_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let s = Server::start(&data, &dir.path().join("run1.log"));
    let life = Life::new(&s);
    let setup = set_up_login_only(&life).await;
    let session = life.login().await;
    let (code, verifier) = life.code(&setup, &session).await.expect("a code");
    // Long enough for sled's own periodic flush to write the code out.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    s.kill();

    let s = Server::start(&data, &dir.path().join("run2.log"));
    let life = Life::new(&s);
    let r = life
        .exchange(&setup, &code, &verifier)
        .await
        .expect("exchange");
    let status = r.status();
    let body: Value = r.json().await.expect("token JSON");
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    // A new code works as usual.
    let session = life.login().await;
    let (code, verifier) = life.code(&setup, &session).await.expect("a code");
    let r = life
        .exchange(&setup, &code, &verifier)
        .await
        .expect("exchange");
    assert_eq!(r.status(), StatusCode::OK);
    s.kill();
}

/// The relying party and the user of [`set_up`], nothing else.
async fn set_up_login_only(life: &Life) -> Cred {
    let r = life
        .admin_post(
            "/admin/clients",
            &json!({
                "client_id": "crash-rp",
                "public": false,
                "first_party": true,
                "grant_types": ["authorization_code", "refresh_token"],
                "redirect_uris": [REDIRECT],
                "scope": "openid read",
            }),
        )
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.expect("client JSON");
    let r = life
        .admin_post(
            "/admin/users",
            &json!({
                "username": LOGIN_USER,
                "email": format!("{LOGIN_USER}@example.com"),
                "password": PASSWORD,
                "email_verified": true,
            }),
        )
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::CREATED);
    Cred {
        id: v["client_id"].as_str().expect("id").into(),
        secret: v["client_secret"].as_str().expect("secret").into(),
    }
}
