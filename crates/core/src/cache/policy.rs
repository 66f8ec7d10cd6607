//! Per-model policy: pinning, keep-alive, size override and pool.

use std::time::Duration;

/// How the cache treats one model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelPolicy {
    /// Never evict it (it still counts against the budget).
    pub pin: bool,
    /// Unload it after it has been idle this long (`Duration::ZERO` = as soon as it is idle);
    /// `None` = keep it until room is needed.
    pub keep_alive: Option<Duration>,
    /// Bytes to reserve instead of asking the backend for a hint.
    pub size: Option<u64>,
    /// A named pool whose budget it also counts against.
    pub pool: Option<String>,
    /// Its components: other registered models it uses, as (role, model ID) pairs. Loading it
    /// loads them first (once, however many models use them), and while it is resident they
    /// stay resident; see [`ModelCache::register`](crate::ModelCache::register).
    pub uses: Vec<(String, String)>,
    /// The device it is loaded onto (one added with
    /// [`CacheBuilder::device`](crate::CacheBuilder::device)); its bytes count against that
    /// device instead of the global (host) budget. `None` = host memory. Its loader must load
    /// onto the same device (see `ModelLoader::device`).
    pub device: Option<String>,
    /// When it is evicted from its device for room, move it to host memory (charged there, if
    /// the host budget has room for it now) instead of unloading it; its next request moves it
    /// back ([`ModelLoader::relocate`](modelcache_backend::ModelLoader::relocate)) instead of
    /// reading the checkpoint, and a failed move back falls back to a load.
    pub demote: bool,
}

impl ModelPolicy {
    /// Sets [`pin`](Self::pin).
    #[must_use]
    pub fn pinned(mut self, pin: bool) -> Self {
        self.pin = pin;
        self
    }

    /// Sets [`keep_alive`](Self::keep_alive).
    #[must_use]
    pub fn keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = Some(keep_alive);
        self
    }

    /// Sets [`size`](Self::size).
    #[must_use]
    pub fn size(mut self, bytes: u64) -> Self {
        self.size = Some(bytes);
        self
    }

    /// Adds a component: the registered model `id` plays `role` in this one (see [`uses`](Self::uses)).
    #[must_use]
    pub fn using(mut self, role: impl Into<String>, id: impl Into<String>) -> Self {
        self.uses.push((role.into(), id.into()));
        self
    }

    /// Sets [`device`](Self::device).
    #[must_use]
    pub fn on_device(mut self, device: impl Into<String>) -> Self {
        self.device = Some(device.into());
        self
    }

    /// Sets [`demote`](Self::demote).
    #[must_use]
    pub fn demoting(mut self, demote: bool) -> Self {
        self.demote = demote;
        self
    }

    /// Sets [`pool`](Self::pool).
    #[must_use]
    pub fn pool(mut self, pool: impl Into<String>) -> Self {
        self.pool = Some(pool.into());
        self
    }
}
