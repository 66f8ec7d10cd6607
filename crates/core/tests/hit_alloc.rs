//! The hit path allocates nothing: a counting global allocator around the system's, with a
//! per-thread count so other test threads cannot interfere.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use modelcache_core::{FnLoader, Loaded, ModelCache, ModelPolicy, NoProgress};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the only
// addition is a thread-local counter, which neither allocates nor touches the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from `System` through `alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: forwarded as is; `ptr` came from `System` through `alloc` above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn hits_allocate_nothing() {
    let cache = ModelCache::new(1 << 30);
    for i in 0..64 {
        let loader = FnLoader::new("t", 10, |_| Ok(Loaded::new([0u8; 32], 10)));
        cache
            .register(
                format!("model-{i:02}"),
                std::sync::Arc::new(loader),
                ModelPolicy::default(),
            )
            .unwrap();
        // The first lock of a model sets up its lock's wait list (once per model, not per hit).
        drop(
            cache
                .get::<[u8; 32]>(&format!("model-{i:02}"))
                .unwrap()
                .lock(),
        );
    }
    let ids: Vec<String> = (0..64).map(|i| format!("model-{i:02}")).collect();
    let before = allocations();
    for _ in 0..10 {
        for id in &ids {
            let typed = cache.get::<[u8; 32]>(id).unwrap();
            let guard = typed.lock();
            assert_eq!(guard[0], 0);
            drop(guard);
            drop(typed);
            drop(cache.request(id, &NoProgress).unwrap());
        }
    }
    assert_eq!(allocations() - before, 0, "the hit path allocated");
    assert_eq!(cache.stats().hits, 1280);
}
