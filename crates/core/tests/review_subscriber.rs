//! Finding 5 of the hostile review (see `review.rs`): a panic between disarming the flight's
//! leader and publishing its result stranded the requests that had joined the load. The panic
//! comes from a tracing subscriber, which must be the process's global default and set before
//! any event, so this test has a binary of its own and nothing runs beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::time::Duration;

use common::{Model, counting, gated, until};
use modelcache_core::{ModelCache, ModelPolicy};

/// Long enough that only a hang reaches it.
const HANG: Duration = Duration::from_secs(20);

fn handles_of(cache: &ModelCache, id: &str) -> usize {
    cache
        .entries()
        .iter()
        .find(|e| e.id == id)
        .map_or(0, |e| e.handles)
}

static SUBSCRIBER_PANICKED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Whether the subscriber panics on this thread's "loaded" events.
    static ARMED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A tracing subscriber that panics on the cache's "loaded" event (the one with a `hint`) on a
/// thread that armed it. It is the process's global default, set before any event: with other
/// tests running beside it, a global subscriber set late (or a thread-local one) raced their
/// threads on tracing's cached callsite interest, and the event was sometimes not seen.
struct PanicsOnLoaded;

impl tracing::Subscriber for PanicsOnLoaded {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if ARMED.with(std::cell::Cell::get) && event.metadata().fields().field("hint").is_some() {
            SUBSCRIBER_PANICKED.store(true, Ordering::SeqCst);
            panic!("the subscriber panics on the loaded event");
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn review_05_a_panic_between_disarming_the_leader_and_publishing_strands_the_joiners() {
    tracing::subscriber::set_global_default(PanicsOnLoaded).unwrap();
    let cache = ModelCache::new(100);
    counting(&cache, "warm-up", 10, ModelPolicy::default());
    drop(cache.get::<Model>("warm-up").unwrap());
    let gate = gated(&cache, "a", 10, 10, ModelPolicy::default());
    let c = cache.clone();
    let leader = std::thread::spawn(move || {
        ARMED.with(|a| a.set(true));
        catch_unwind(AssertUnwindSafe(|| c.get::<Model>("a").map(drop))).is_ok()
    });
    gate.started.recv().unwrap();
    let (tx, rx) = channel();
    let c = cache.clone();
    std::thread::spawn(move || tx.send(c.get::<Model>("a").map(|h| h.id().to_owned())));
    until(|| cache.stats().misses == 3); // the second request joined the load
    gate.release.send(Ok(())).unwrap();
    let leader_returned = leader.join().unwrap();
    assert!(
        SUBSCRIBER_PANICKED.load(Ordering::SeqCst),
        "precondition: the subscriber saw the loaded event"
    );
    let joined = rx.recv_timeout(HANG);
    assert!(
        joined.is_ok(),
        "the joiner never got a result (the leader's request {}), and the model keeps {} \
         leases nobody holds",
        if leader_returned {
            "returned"
        } else {
            "panicked"
        },
        handles_of(&cache, "a")
    );
    assert_eq!(handles_of(&cache, "a"), 0, "no lease leaked");
}
