//! Micro benchmarks of the pieces the hot paths are made of.
//!
//! ```text
//! cargo bench --bench micro                                   # everything
//! cargo bench --bench micro -- --measurement-time 3 --warm-up-time 1
//! cargo bench --bench micro -- sign/                          # one group
//! cargo bench --bench micro -- dpop                           # DPoP proof checks
//! ```
//!
//! `TESSERA_BENCH_TOKENS` sets how many tokens are resident in the engine
//! the introspection benches look up in (default 1,000,000).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tessera::configuration::Settings;
use tessera_actors::clock::{Clock, SystemClock};
use tessera_actors::directory::{Client, ClientSpec, CreateClient};
use tessera_actors::dpop::{Dpop, DpopConfig, ProofCheck};
use tessera_actors::keys::material::{generate, GeneratedKey, JwtType, KeyAlg, PublicJwk, Signer};
use tessera_actors::secret::{self, prefix};
use tessera_actors::store::Store;
use tessera_actors::stores::Stores;
use tessera_actors::tokens::{Grant, NewToken, RecordUnpersisted, TokenKind};
use tessera_actors::Engine;

#[allow(dead_code)]
#[path = "../tests/api/dpop/proof.rs"]
mod proof;

use proof::ProofKey;

/// The claims of an RFC 9068 access token, shaped like the ones the server
/// signs (one audience, a short scope).
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    client_id: String,
    scope: String,
    jti: String,
    iat: i64,
    nbf: i64,
    exp: i64,
}

fn claims() -> Claims {
    let now = SystemClock.now();
    Claims {
        iss: "http://127.0.0.1:8080".into(),
        sub: "tes_cl_benchclient000000000".into(),
        aud: "tes_cl_benchclient000000000".into(),
        client_id: "tes_cl_benchclient000000000".into(),
        scope: "read write".into(),
        jti: uuid::Uuid::new_v4().hyphenated().to_string(),
        iat: now,
        nbf: now,
        exp: now + 3600,
    }
}

fn key(alg: KeyAlg) -> (GeneratedKey, Signer) {
    let g = generate(alg).expect("key generation");
    let kid = g.public.thumbprint();
    let s = Signer::new(&kid, alg, &g.private_der).expect("signer");
    (g, s)
}

fn sign(c: &mut Criterion) {
    let claims = claims();
    let mut group = c.benchmark_group("sign");
    let mut rsa = None;
    for alg in [KeyAlg::RS256, KeyAlg::ES256, KeyAlg::EdDSA] {
        let (g, signer) = key(alg);
        group.bench_function(format!("{}/signer", alg.as_str()), |b| {
            b.iter(|| {
                signer
                    .sign(JwtType::AccessToken, black_box(&claims))
                    .expect("sign")
            })
        });
        if alg == KeyAlg::RS256 {
            rsa = Some((g, signer));
        }
    }
    // jsonwebtoken re-parses the RSA key inside every `encode`: the cost the
    // pre-parsed `Signer` avoids.
    let (g, signer) = rsa.expect("RS256 key");
    let enc = EncodingKey::from_rsa_der(&g.private_der);
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(signer.kid.clone());
    group.bench_function("RS256/jsonwebtoken_encode", |b| {
        b.iter(|| {
            jsonwebtoken::encode(black_box(&header), black_box(&claims), &enc).expect("encode")
        })
    });
    group.finish();

    let mut group = c.benchmark_group("verify");
    let token = signer.sign(JwtType::AccessToken, &claims).expect("sign");
    let PublicJwk::Rsa { n, e } = &g.public else {
        unreachable!("an RS256 key is RSA")
    };
    let dec = DecodingKey::from_rsa_components(n, e).expect("decoding key");
    let mut v = Validation::new(Algorithm::RS256);
    v.leeway = 0;
    v.validate_nbf = true;
    v.validate_aud = false;
    v.set_issuer(&["http://127.0.0.1:8080"]);
    group.bench_function("RS256/jsonwebtoken_decode", |b| {
        b.iter(|| jsonwebtoken::decode::<Claims>(black_box(&token), &dec, &v).expect("decode"))
    });
    dpop_checks(&mut group);
    group.finish();
}

/// `Dpop::check` (every check of a proof but its single use) of one proof
/// per key type, beside an ES256 access token's verification: what a
/// proof adds is parsing its header and key and the thumbprint.
fn dpop_checks(group: &mut BenchmarkGroup<'_, WallTime>) {
    let (g, signer) = key(KeyAlg::ES256);
    let token = signer.sign(JwtType::AccessToken, &claims()).expect("sign");
    let PublicJwk::Ec { x, y, .. } = &g.public else {
        unreachable!("an ES256 key is EC")
    };
    let dec = DecodingKey::from_ec_components(x, y).expect("decoding key");
    let mut v = Validation::new(Algorithm::ES256);
    v.validate_aud = false;
    v.set_issuer(&["http://127.0.0.1:8080"]);
    group.bench_function("ES256/jsonwebtoken_decode", |b| {
        b.iter(|| jsonwebtoken::decode::<Claims>(black_box(&token), &dec, &v).expect("decode"))
    });

    let dpop = Dpop::new(DpopConfig::default());
    let htu = "http://127.0.0.1:8080/oauth2/token";
    let want = ProofCheck {
        htm: "POST",
        htu,
        access_token: None,
        require_nonce: false,
    };
    let now = SystemClock.now();
    for key in [ProofKey::es256(), ProofKey::ed25519(), ProofKey::rs256()] {
        let proof = key.proof("POST", htu, now);
        let checked = dpop.check(&proof, &want, now).expect("a valid proof");
        assert_eq!(*checked.jkt, key.thumbprint(), "the proof's thumbprint");
        group.bench_function(format!("dpop_check/{}", key.alg()), |b| {
            b.iter(|| dpop.check(black_box(&proof), &want, now).expect("valid"))
        });
    }
}

fn token_key(c: &mut Criterion) {
    let (_, signer) = key(KeyAlg::ES256);
    let opaque = secret::new_secret(prefix::ACCESS_TOKEN);
    let jwt = signer.sign(JwtType::AccessToken, &claims()).expect("sign");
    let mut group = c.benchmark_group("token_key");
    group.bench_function(format!("opaque_{}B", opaque.len()), |b| {
        b.iter(|| secret::token_key(black_box(&opaque)))
    });
    group.bench_function(format!("jwt_{}B", jwt.len()), |b| {
        b.iter(|| secret::token_key(black_box(&jwt)))
    });
    group.bench_function("new_secret", |b| {
        b.iter(|| secret::new_secret(prefix::ACCESS_TOKEN))
    });
    group.finish();
}

/// An engine over a temp store with `n` resident opaque tokens of one
/// client, and one real JWT issued through the engine's signer.
struct Seeded {
    _dir: tempfile::TempDir,
    system: actix::SystemRunner,
    engine: Engine,
    client: Arc<Client>,
    sample: Vec<String>,
    jwt: String,
}

fn seeded_engine(n: usize) -> Seeded {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = Settings {
        data_dir: dir.path().to_path_buf(),
        issuer: Some("http://127.0.0.1:8080".into()),
        ..Settings::default()
    };
    let system = actix::System::new();
    let (engine, client, sample, jwt) = system.block_on(async {
        let store = Store::open(&settings.data_dir).expect("store");
        let config = settings.engine_config().expect("config");
        let engine = Engine::start(
            config,
            Stores::sled(&store).expect("stores"),
            Arc::new(SystemClock),
        )
        .expect("engine");
        let spec = ClientSpec {
            client_id: Some("bench".into()),
            scope: Some("read write".into()),
            ..ClientSpec::default()
        };
        let (client, _) = engine
            .directory
            .send(CreateClient(spec))
            .await
            .expect("mailbox")
            .expect("client");
        let grant = Grant {
            client_id: client.client_id.clone(),
            sub: client.client_id.clone(),
            username: None,
            scope: "read write".into(),
            aud: vec![Arc::from(client.client_id.as_str())],
            sid: None,
            ..Default::default()
        };
        let now = SystemClock.now();
        let mut sample = Vec::new();
        let mut batch = Vec::with_capacity(10_000);
        let record = |token: &str, batch: &mut Vec<NewToken>| {
            batch.push(NewToken {
                key: secret::token_key(token),
                jti: uuid::Uuid::new_v4().as_u128(),
                family: 0,
                iat: now,
                exp: now + 86_400,
                kind: TokenKind::AccessToken,
                grant: grant.clone(),
            });
        };
        // The signer is published before `Engine::start` returns.
        let signer = engine.keys.signer().expect("signer");
        let jwt = signer.sign(JwtType::AccessToken, &claims()).expect("sign");
        record(&jwt, &mut batch);
        for i in 0..n {
            let t = secret::new_secret(prefix::ACCESS_TOKEN);
            record(&t, &mut batch);
            if i % (n / 1000).max(1) == 0 {
                sample.push(t);
            }
            if batch.len() == 10_000 {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(10_000));
                engine
                    .issuer
                    .send(RecordUnpersisted(full))
                    .await
                    .expect("seed");
            }
        }
        engine
            .issuer
            .send(RecordUnpersisted(batch))
            .await
            .expect("seed");
        (engine, client, sample, jwt)
    });
    Seeded {
        _dir: dir,
        system,
        engine,
        client,
        sample,
        jwt,
    }
}

fn introspection(c: &mut Criterion) {
    let n: usize = std::env::var("TESSERA_BENCH_TOKENS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let s = seeded_engine(n);
    assert!(s.engine.tokens.len() > n, "seeding reached the index");
    let engine = &s.engine;
    let mut group = c.benchmark_group(format!("introspection_{n}_resident"));
    let mut i = 0usize;
    group.bench_function("lookup/opaque_hit", |b| {
        b.iter(|| {
            i = (i + 1) % s.sample.len();
            engine.lookup(black_box(&s.sample[i])).expect("live")
        })
    });
    let unknown = secret::new_secret(prefix::ACCESS_TOKEN);
    group.bench_function("lookup/opaque_miss", |b| {
        b.iter(|| engine.lookup(black_box(&unknown)))
    });
    group.bench_function("lookup/jwt_hit", |b| {
        b.iter(|| engine.lookup(black_box(&s.jwt)).expect("live"))
    });
    group.bench_function("introspect+serialize/opaque_hit", |b| {
        b.iter(|| {
            i = (i + 1) % s.sample.len();
            let active = engine
                .introspect(&s.client, black_box(&s.sample[i]))
                .expect("active");
            serde_json::to_vec(&active).expect("json")
        })
    });
    group.finish();
    s.system.block_on(async { engine.shutdown() });
}

/// A trivial actor: the floor under every message round trip.
struct Echo;

impl Actor for Echo {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "u64")]
struct Ping(u64);

impl Handler<Ping> for Echo {
    type Result = u64;
    fn handle(&mut self, msg: Ping, _: &mut Self::Context) -> u64 {
        msg.0 + 1
    }
}

fn actor_round_trip(c: &mut Criterion) {
    let system = actix::System::new();
    let mut group = c.benchmark_group("actor");
    // Same arbiter as the caller: the actor runs when the caller yields.
    let local = system.block_on(async { Echo.start() });
    group.bench_function("send_await/same_thread", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let t = Instant::now();
                for i in 0..iters {
                    black_box(local.send(Ping(i)).await.expect("mailbox"));
                }
                t.elapsed()
            })
        })
    });
    // On its own arbiter, as every engine actor is: a cross-thread hop each way.
    let arbiter = Arbiter::new();
    let remote = system.block_on(async { Echo::start_in_arbiter(&arbiter.handle(), |_| Echo) });
    group.bench_function("send_await/other_thread", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let t = Instant::now();
                for i in 0..iters {
                    black_box(remote.send(Ping(i)).await.expect("mailbox"));
                }
                t.elapsed()
            })
        })
    });
    group.finish();
    arbiter.stop();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = sign, token_key, introspection, actor_round_trip
}
criterion_main!(benches);
