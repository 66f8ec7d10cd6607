//! What the cache reports to callers (a backend's errors are [`BackendError`], from the
//! contract crate).

use std::sync::Arc;

use crate::format_bytes_exact;
use modelcache_backend::BackendError;

/// Who holds the bytes that stopped a model from being admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The model ID.
    pub id: String,
    /// Bytes it is charged (for a queued request: bytes it needs).
    pub bytes: u64,
    /// Why it could not be evicted.
    pub state: HolderState,
}

/// Why a [`Holder`] could not be evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderState {
    /// Callers hold handles to it.
    InUse,
    /// It is pinned.
    Pinned,
    /// It is still loading.
    Loading,
    /// It was evicted, but callers still hold handles to it.
    HeldAfterEviction,
    /// An earlier request waiting for room in the same budget (requests for room are served
    /// first come, first served); its bytes are what it needs.
    Queued,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            HolderState::InUse => "in use",
            HolderState::Pinned => "pinned",
            HolderState::Loading => "loading",
            HolderState::HeldAfterEviction => "evicted, still held",
            HolderState::Queued => "waiting for room ahead of it",
        };
        write!(
            f,
            "{} ({}, {state})",
            self.id,
            crate::format_bytes(self.bytes)
        )
    }
}

fn list(holders: &[Holder]) -> String {
    if holders.is_empty() {
        return "nothing".to_owned();
    }
    holders
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn scope(pool: &Option<String>, device: bool) -> String {
    let kind = if device { "device" } else { "pool" };
    pool.as_ref().map_or_else(
        || "the cache budget".to_owned(),
        |p| format!("{kind} {p:?}"),
    )
}

/// An error returned by the cache to a caller.
///
/// It is `Clone` because one failed load is reported to every caller waiting for it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// No model with this ID is registered.
    #[error("unknown model {id:?}")]
    UnknownModel {
        /// The requested ID.
        id: String,
    },
    /// A model's `uses` names a model that is not registered, or itself.
    #[error("model {id:?} uses {component:?} as its {role}, but {}", if component == id { "a model cannot use itself".to_owned() } else { format!("no model {component:?} is registered (register it first)") })]
    UnknownComponent {
        /// The model ID.
        id: String,
        /// The part the component plays.
        role: String,
        /// The ID it names.
        component: String,
    },
    /// A handle was asked for a component its model does not have.
    #[error("model {id:?} has no component {role:?}; {}", if roles.is_empty() { "it has none".to_owned() } else { format!("it has {}", roles.join(", ")) })]
    NoSuchComponent {
        /// The model ID.
        id: String,
        /// The role asked for.
        role: String,
        /// The roles it has.
        roles: Vec<String>,
    },
    /// A model's `uses` would make it, through its components, use itself.
    #[error("model {id:?} cannot use these components: they form a cycle {}", cycle.join(" -> "))]
    ComponentCycle {
        /// The model ID.
        id: String,
        /// The cycle, from `id` back to it.
        cycle: Vec<String>,
    },
    /// A component of the requested model could not be provided (its own load failed, or it
    /// found no room), so the model was not loaded.
    #[error("model {id:?} needs {component:?} as its {role}, which failed: {source}")]
    Component {
        /// The requested model.
        id: String,
        /// The part the component plays.
        role: String,
        /// The component's ID.
        component: String,
        /// Why the component failed.
        source: Arc<CacheError>,
    },
    /// A model names a pool the cache does not have.
    #[error("model {id:?} names unknown pool {pool:?}; known pools: {}", if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    UnknownPool {
        /// The model ID.
        id: String,
        /// The pool it names.
        pool: String,
        /// The pools the cache has.
        known: Vec<String>,
    },
    /// A model names a device the cache does not have.
    #[error("model {id:?} names unknown device {device:?}; known devices: {}", if known.is_empty() { "none (add one with CacheBuilder::device, or [devices.\"NAME\"] in models.toml)".to_owned() } else { known.join(", ") })]
    UnknownDevice {
        /// The model ID.
        id: String,
        /// The device it names.
        device: String,
        /// The devices the cache has.
        known: Vec<String>,
    },
    /// A model's placement cannot work as its policy asks (a pool together with a device,
    /// demotion without a device, or from a backend that cannot move models).
    #[error("model {id:?}: {reason}")]
    Placement {
        /// The model ID.
        id: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// The model holds a different type than the caller asked for.
    #[error(
        "model {id:?} holds a {actual}, not a {expected}{}",
        if actual == expected {
            " (same name, different build: the model comes from a plugin built with another \
             compiler or other dependency versions)"
        } else {
            ""
        }
    )]
    WrongType {
        /// The model ID.
        id: String,
        /// The type the caller asked for.
        expected: &'static str,
        /// The type the model holds.
        actual: &'static str,
    },
    /// The backend failed to inspect or load the model.
    #[error("model {id:?} (backend {backend:?}): {source}")]
    Load {
        /// The model ID.
        id: String,
        /// The backend that failed.
        backend: String,
        /// What went wrong.
        #[source]
        source: Arc<BackendError>,
    },
    /// The loader panicked; the cache stays usable and the next request retries.
    #[error("model {id:?}: the loader panicked: {message}")]
    LoaderPanicked {
        /// The model ID.
        id: String,
        /// The panic payload, if it was a string.
        message: String,
    },
    /// The model is larger than the whole budget.
    #[error(
        "model {id:?} needs {}, more than the whole of {}, {}; \
         allow a lone oversized model to load it anyway",
        format_bytes_exact(*needed), scope(pool, *device), format_bytes_exact(*budget)
    )]
    TooLarge {
        /// The model ID.
        id: String,
        /// Bytes the model needs.
        needed: u64,
        /// The budget it exceeds.
        budget: u64,
        /// The pool whose budget it exceeds, if not the global one.
        pool: Option<String>,
        /// `pool` is a device (see `CacheBuilder::device`).
        device: bool,
    },
    /// There was no room, and waiting for it did not help (or could not help).
    #[error(
        "model {id:?} needs {} but {} is {} with {} charged; {}held by: {}",
        format_bytes_exact(*needed), scope(pool, *device), format_bytes_exact(*budget),
        format_bytes_exact(*charged),
        if *waited { "waited for room in vain; " } else { "" }, list(holders)
    )]
    NoRoom {
        /// The model ID.
        id: String,
        /// Bytes the model needs.
        needed: u64,
        /// The budget in question.
        budget: u64,
        /// Bytes charged against it when the request gave up.
        charged: u64,
        /// The pool, if the pool's budget is what ran out.
        pool: Option<String>,
        /// `pool` is a device (see `CacheBuilder::device`).
        device: bool,
        /// Whether the request waited for the load timeout first.
        waited: bool,
        /// The models holding the budget that could not be evicted, and the earlier requests
        /// for room it waited behind ([`HolderState::Queued`]).
        holders: Vec<Holder>,
    },
    /// The loaded model measured more than its whole budget (its hint was too low), so it
    /// cannot be kept within the budget; it was dropped. Allow oversized models, or give the
    /// model a `size`, to load it anyway.
    #[error(
        "model {id:?} measured {} after loading (its hint said {}), more than the whole of \
         {}, {}; allow a lone oversized model to keep it anyway",
        format_bytes_exact(*measured), format_bytes_exact(*hint), scope(pool, *device),
        format_bytes_exact(*budget)
    )]
    OutgrewBudget {
        /// The model ID.
        id: String,
        /// Bytes reserved before the load (the hint or configured size).
        hint: u64,
        /// The measured size.
        measured: u64,
        /// The budget it exceeds.
        budget: u64,
        /// The pool whose budget it exceeds, if not the global one.
        pool: Option<String>,
        /// `pool` is a device (see `CacheBuilder::device`).
        device: bool,
    },
    /// The model was invalidated while it loaded and the load was abandoned.
    #[error("model {id:?}: the load was abandoned ({reason})")]
    Abandoned {
        /// The model ID.
        id: String,
        /// Why.
        reason: String,
    },
    /// The async runtime failed to run a blocking task.
    #[error("model {id:?}: background task failed: {message}")]
    Runtime {
        /// The model ID.
        id: String,
        /// What the runtime reported.
        message: String,
    },
}
