//! The heap, measured exactly: a counting global allocator (live bytes) and glibc's
//! `malloc_trim` (hand freed memory back to the kernel, so RSS shows what is really in use).
//! The only `unsafe` code of this crate; the soak test installs the allocator with
//! `#[global_allocator] static HEAP: Counting = Counting;`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

static LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting the bytes allocated and not yet freed.
pub struct Counting;

/// Bytes allocated through [`Counting`] and not yet freed.
pub fn live() -> u64 {
    LIVE.load(Ordering::SeqCst)
}

/// The most bytes live at once since the last [`reset_peak`] (exact: updated on every
/// allocation, so it includes what a load holds only briefly).
pub fn peak() -> u64 {
    PEAK.load(Ordering::SeqCst)
}

/// Starts a new [`peak`] from the bytes live now.
pub fn reset_peak() {
    PEAK.store(live(), Ordering::SeqCst);
}

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes as u64, Ordering::Relaxed);
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the only addition is counting sizes in an atomic, which allocates
// nothing and cannot fail.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees for `layout` are exactly what `System.alloc` needs.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, that is by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by `System` with `layout`; `new_size` is the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
// SAFETY: glibc's `int malloc_trim(size_t pad)`: it takes no pointers, is thread-safe (it
// locks each arena in turn) and only returns free memory to the kernel, so any call is safe.
unsafe extern "C" {
    safe fn malloc_trim(pad: usize) -> std::ffi::c_int;
}

/// Returns the allocator's free memory to the kernel (glibc; elsewhere does nothing and
/// returns `false`), so that RSS counts memory in use rather than memory kept for reuse.
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    return malloc_trim(0) != 0;
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}
