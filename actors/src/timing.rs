//! Mailbox wait and handling time of every actor message.
//!
//! actix has no hook for when a message is queued or picked up, so the
//! engine hands out [`TimedAddr`]s instead of bare `Addr`s: `send` stamps
//! the message with the moment it was sent ([`Stamped`]), and each actor's
//! `Handler<Stamped<M>>` (one generic impl per actor, declared by
//! `timed_actor!` in the actor's own module) records how
//! long the message waited in the mailbox, then times the inner handler:
//!
//! - `tessera_actor_mailbox_wait_seconds{actor,message}`: sent → picked up.
//!   A growing wait is a saturated (or blocked) actor.
//! - `tessera_actor_handling_seconds{actor,message}`: the time the actor's
//!   thread spends in the handler. A handler that answers with a future
//!   (a durable flush, a mail delivery) is timed up to handing the future
//!   over; the flush itself is `tessera_store_flush_duration_seconds`, and
//!   an atomic response that holds the actor shows up as the mailbox wait
//!   of the messages behind it.
//!
//! Cost per message: three clock reads and a scan of a short per-thread
//! list of cached histogram handles (each actor runs on its own thread and
//! handles a few message types); no allocation once a pair has been seen.
//! Messages an actor sends itself (timers, `ctx.notify`) go untimed.

use std::any::TypeId;
use std::cell::RefCell;
use std::time::Instant;

use actix::dev::{MessageResponse, OneshotSender, Request, ToEnvelope};
use actix::prelude::*;

/// A message and the moment it was sent.
pub struct Stamped<M> {
    msg: M,
    sent: Instant,
}

impl<M: Message> Message for Stamped<M> {
    type Result = M::Result;
}

impl<M> Stamped<M> {
    pub fn new(msg: M) -> Self {
        Stamped {
            msg,
            sent: Instant::now(),
        }
    }

    /// Record the mailbox wait of `msg` at `actor` and start timing its
    /// handling (recorded when the guard drops).
    pub fn begin<A: 'static>(self, actor: &'static str) -> (M, HandlingTimer)
    where
        M: 'static,
    {
        let started = Instant::now();
        let handling = with_handles::<A, M, _>(actor, |h| {
            h.wait
                .record(started.saturating_duration_since(self.sent).as_secs_f64());
            h.handling.clone()
        });
        (self.msg, HandlingTimer { started, handling })
    }
}

/// Records the handling time when dropped.
pub struct HandlingTimer {
    started: Instant,
    handling: metrics::Histogram,
}

impl Drop for HandlingTimer {
    fn drop(&mut self) {
        self.handling.record(self.started.elapsed().as_secs_f64());
    }
}

/// The answer of a `Handler<Stamped<M>>`: the inner handler's answer,
/// delivered as it would have been.
pub struct Reply<R>(pub R);

impl<A, M, R> MessageResponse<A, Stamped<M>> for Reply<R>
where
    A: Actor,
    M: Message,
    R: MessageResponse<A, M>,
{
    fn handle(self, ctx: &mut A::Context, tx: Option<OneshotSender<M::Result>>) {
        self.0.handle(ctx, tx)
    }
}

/// An actor's address whose sends are timed. Same calls as `Addr`.
pub struct TimedAddr<A: Actor> {
    addr: Addr<A>,
}

impl<A: Actor> Clone for TimedAddr<A> {
    fn clone(&self) -> Self {
        TimedAddr {
            addr: self.addr.clone(),
        }
    }
}

impl<A: Actor> From<Addr<A>> for TimedAddr<A> {
    fn from(addr: Addr<A>) -> Self {
        TimedAddr { addr }
    }
}

impl<A: Actor> TimedAddr<A> {
    /// Send and wait for the answer (`Addr::send`).
    pub fn send<M>(&self, msg: M) -> Request<A, Stamped<M>>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<Stamped<M>>,
        A::Context: ToEnvelope<A, Stamped<M>>,
    {
        self.addr.send(Stamped::new(msg))
    }

    /// Send, ignoring the answer (`Addr::do_send`).
    pub fn do_send<M>(&self, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<Stamped<M>>,
        A::Context: ToEnvelope<A, Stamped<M>>,
    {
        self.addr.do_send(Stamped::new(msg))
    }

    /// Whether the actor's mailbox is open.
    pub fn connected(&self) -> bool {
        self.addr.connected()
    }

    /// The bare address (untimed sends).
    pub fn addr(&self) -> &Addr<A> {
        &self.addr
    }
}

struct Handles {
    actor: TypeId,
    message: TypeId,
    wait: metrics::Histogram,
    handling: metrics::Histogram,
}

thread_local! {
    /// Handles already registered on this thread. Bounded by the number of
    /// (actor, message type) pairs this thread has handled.
    static HANDLES: RefCell<Vec<Handles>> = const { RefCell::new(Vec::new()) };
}

fn with_handles<A: 'static, M: 'static, T>(
    actor_label: &'static str,
    f: impl FnOnce(&Handles) -> T,
) -> T {
    let actor = TypeId::of::<A>();
    let message = TypeId::of::<M>();
    HANDLES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(h) = cache
            .iter()
            .find(|h| h.actor == actor && h.message == message)
        {
            return f(h);
        }
        let name = message_label::<M>();
        let h = Handles {
            actor,
            message,
            wait: metrics::histogram!("tessera_actor_mailbox_wait_seconds", "actor" => actor_label, "message" => name),
            handling: metrics::histogram!("tessera_actor_handling_seconds", "actor" => actor_label, "message" => name),
        };
        let out = f(&h);
        cache.push(h);
        out
    })
}

/// The message type's own name, without its module path or generics.
pub fn message_label<M>() -> &'static str {
    let full = std::any::type_name::<M>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// `Handler<Stamped<M>>` for an actor: every message it handles, timed.
/// Each actor module declares its own, next to its `Actor` impl, so adding
/// an actor touches nothing here.
macro_rules! timed_actor {
    ($actor:ty, $label:literal) => {
        impl<M> ::actix::Handler<$crate::timing::Stamped<M>> for $actor
        where
            $actor: ::actix::Handler<M>,
            M: ::actix::Message + 'static,
        {
            type Result = $crate::timing::Reply<<$actor as ::actix::Handler<M>>::Result>;
            fn handle(
                &mut self,
                msg: $crate::timing::Stamped<M>,
                ctx: &mut <Self as ::actix::Actor>::Context,
            ) -> Self::Result {
                let (msg, _timer) = msg.begin::<Self>($label);
                $crate::timing::Reply(<$actor as ::actix::Handler<M>>::handle(self, msg, ctx))
            }
        }
    };
}
pub(crate) use timed_actor;

#[cfg(test)]
mod tests {
    use super::*;

    struct Ping;
    impl Message for Ping {
        type Result = u32;
    }
    struct Echo;
    impl Actor for Echo {
        type Context = Context<Self>;
    }
    impl Handler<Ping> for Echo {
        type Result = MessageResult<Ping>;
        fn handle(&mut self, _: Ping, _: &mut Self::Context) -> Self::Result {
            MessageResult(7)
        }
    }
    timed_actor!(Echo, "echo");

    #[test]
    fn labels_are_the_bare_type_name() {
        assert_eq!(message_label::<Ping>(), "Ping");
        assert_eq!(message_label::<Option<Ping>>(), "Option");
    }

    #[actix::test]
    async fn a_timed_send_answers_like_a_bare_one() {
        let addr: TimedAddr<Echo> = Echo.start().into();
        assert_eq!(addr.send(Ping).await.unwrap(), 7);
        assert_eq!(addr.addr().send(Ping).await.unwrap(), 7);
        assert!(addr.connected());
    }
}
