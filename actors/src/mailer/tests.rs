//! The queue against a scripted transport and a hand-driven clock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::store::Store;

/// Fails the first `fail` attempts (permanently if asked), then accepts.
#[derive(Default)]
struct Scripted {
    fail: AtomicU32,
    permanent: bool,
    sent: Mutex<Vec<QueuedMail>>,
    attempts: AtomicU32,
}

impl Transport for Scripted {
    fn deliver(&self, mail: &QueuedMail) -> Delivery {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let r = if self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            Err(DeliveryError {
                message: "451 try later".into(),
                permanent: self.permanent,
            })
        } else {
            self.sent.lock().unwrap().push(mail.clone());
            Ok(())
        };
        Box::pin(async move { r })
    }
}

fn mail(to: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: "Hello".into(),
        text: "text".into(),
        html: None,
    }
}

fn dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tessera-mailer-test-{}", uuid::Uuid::new_v4()))
}

fn start(store: &Store, clock: &ManualClock, t: Arc<Scripted>, max_attempts: u32) -> Addr<Mailer> {
    let config = MailerConfig {
        transport: TransportSpec::Custom(t),
        max_attempts,
        retry_base: 5,
        retry_max: 60,
        poll_interval: Duration::from_secs(3600),
        ..MailerConfig::default()
    };
    let store = Box::new(SledMailStore::new(store).unwrap());
    Mailer::open(config, store, Arc::new(clock.clone()))
        .unwrap()
        .start()
}

async fn settle(addr: &Addr<Mailer>) {
    for _ in 0..5 {
        addr.send(Tick).await.unwrap();
        tokio::task::yield_now().await;
    }
}

#[test]
fn backoff_doubles_and_is_capped() {
    let c = MailerConfig {
        retry_base: 5,
        retry_max: 60,
        ..MailerConfig::default()
    };
    let got: Vec<i64> = (1..=6).map(|n| c.backoff(n)).collect();
    assert_eq!(got, vec![5, 10, 20, 40, 60, 60]);
    assert_eq!(c.backoff(u32::MAX), 60);
}

#[actix_rt::test]
async fn failures_back_off_then_deliver_and_leave_the_queue() {
    let store = Store::open(&dir()).unwrap();
    let clock = ManualClock::default();
    let t = Arc::new(Scripted {
        fail: AtomicU32::new(2),
        ..Scripted::default()
    });
    let addr = start(&store, &clock, t.clone(), 5);
    addr.send(Enqueue(mail("a@example.com")))
        .await
        .unwrap()
        .unwrap();
    settle(&addr).await;
    assert_eq!(t.attempts.load(Ordering::SeqCst), 1);
    clock.advance(4);
    settle(&addr).await;
    assert_eq!(t.attempts.load(Ordering::SeqCst), 1, "not before 5 s");
    clock.advance(1);
    settle(&addr).await;
    assert_eq!(t.attempts.load(Ordering::SeqCst), 2);
    let q = addr.send(ListMail).await.unwrap().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].attempts, 2);
    assert_eq!(q[0].next_attempt_at, clock.now() + 10, "doubled");
    clock.advance(10);
    settle(&addr).await;
    assert_eq!(t.sent.lock().unwrap().len(), 1);
    assert!(addr.send(ListMail).await.unwrap().unwrap().is_empty());
}

#[actix_rt::test]
async fn max_attempts_and_permanent_failures_make_dead_letters() {
    let store = Store::open(&dir()).unwrap();
    let clock = ManualClock::default();
    let t = Arc::new(Scripted {
        fail: AtomicU32::new(100),
        ..Scripted::default()
    });
    let addr = start(&store, &clock, t.clone(), 3);
    addr.send(Enqueue(mail("a@example.com")))
        .await
        .unwrap()
        .unwrap();
    for _ in 0..10 {
        settle(&addr).await;
        clock.advance(100);
    }
    assert_eq!(t.attempts.load(Ordering::SeqCst), 3);
    let q = addr.send(ListMail).await.unwrap().unwrap();
    assert_eq!(q[0].state, MailState::Dead);
    assert_eq!(q[0].last_error.as_deref(), Some("451 try later"));

    let p = Arc::new(Scripted {
        fail: AtomicU32::new(1),
        permanent: true,
        ..Scripted::default()
    });
    let store2 = Store::open(&dir()).unwrap();
    let addr = start(&store2, &clock, p.clone(), 5);
    addr.send(Enqueue(mail("b@example.com")))
        .await
        .unwrap()
        .unwrap();
    settle(&addr).await;
    clock.advance(1000);
    settle(&addr).await;
    assert_eq!(p.attempts.load(Ordering::SeqCst), 1, "no retry");
    let q = addr.send(ListMail).await.unwrap().unwrap();
    assert_eq!(q[0].state, MailState::Dead);
}

#[actix_rt::test]
async fn a_bad_recipient_is_refused_and_a_reloaded_queue_is_delivered() {
    let store = Store::open(&dir()).unwrap();
    let clock = ManualClock::default();
    let down = Arc::new(Scripted {
        fail: AtomicU32::new(100),
        ..Scripted::default()
    });
    let addr = start(&store, &clock, down, 5);
    let bad = addr.send(Enqueue(mail("not an address"))).await.unwrap();
    assert!(matches!(bad, Err(MailError::Invalid { field: "to", .. })));
    addr.send(Enqueue(mail("a@example.com")))
        .await
        .unwrap()
        .unwrap();
    settle(&addr).await;
    // A new mailer over the same tree, as after a restart.
    let up = Arc::new(Scripted::default());
    let again = start(&store, &clock, up.clone(), 5);
    clock.advance(5);
    settle(&again).await;
    let sent = up.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].mail.to, "a@example.com");
    assert_eq!(sent[0].attempts, 1, "the failed attempt was remembered");
}

#[actix_rt::test]
async fn the_file_outbox_writes_a_mail_once_however_often_it_is_delivered() {
    let out = dir();
    let t = TransportSpec::File { dir: out.clone() }
        .build("tessera <noreply@localhost>")
        .unwrap();
    let m = QueuedMail {
        id: uuid::Uuid::now_v7(),
        mail: mail("someone@example.com"),
        created_at: 0,
        attempts: 0,
        next_attempt_at: 0,
        state: MailState::Queued,
        last_error: None,
    };
    // Delivered, then again after a crash that lost the removal from the
    // queue; a leftover partial write from a crash in the middle is ignored.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join(format!(".{}.eml.tmp", m.id)), b"partial").unwrap();
    t.deliver(&m).await.unwrap();
    t.deliver(&m).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    assert_eq!(files, vec![format!("{}.eml", m.id)]);
    let text = std::fs::read_to_string(out.join(&files[0])).unwrap();
    assert!(
        text.contains(&format!("Message-ID: <{}@localhost>", m.id)),
        "{text}"
    );
    assert!(text.contains("To: someone@example.com"), "{text}");
    let _ = std::fs::remove_dir_all(&out);
}
