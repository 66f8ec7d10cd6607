//! Typed handles to cached models.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use super::resident::Lease;
use crate::CacheError;

/// A typed handle to a cached model.
///
/// While any handle to a model exists the model is "in use": it is never evicted to make room,
/// and if it is removed (invalidated, cleared) its bytes stay charged until the last handle
/// drops. Clone a handle freely; call [`lock`](Handle::lock) to use the model.
pub struct Handle<T> {
    pub(crate) lease: Lease,
    _type: PhantomData<fn() -> T>,
}

impl<T: Send + Sync + 'static> Handle<T> {
    pub(crate) fn from_lease(lease: Lease) -> Result<Self, CacheError> {
        let r = &lease.resident;
        if r.type_id != std::any::TypeId::of::<T>() {
            return Err(CacheError::WrongType {
                id: r.id.to_string(),
                expected: std::any::type_name::<T>(),
                actual: r.type_name,
            });
        }
        Ok(Self {
            lease,
            _type: PhantomData,
        })
    }

    pub(crate) fn value(&self) -> &T {
        #[allow(clippy::expect_used)]
        self.lease
            .resident
            .value
            .downcast_ref::<T>()
            // Invariant: `from_lease` checked the type, and a resident's value never changes.
            .expect("type checked when the handle was made")
    }

    /// Access to the model. Callers of one model are serialized (one guard at a time) unless its
    /// backend declared it shareable, in which case this never blocks.
    pub fn lock(&self) -> ModelGuard<'_, T> {
        let guard = self
            .lease
            .resident
            .exclusive
            .as_ref()
            .map(|m| m.lock_blocking());
        ModelGuard {
            _guard: guard,
            value: self.value(),
        }
    }

    /// Like [`lock`](Handle::lock) but returns `None` instead of waiting.
    pub fn try_lock(&self) -> Option<ModelGuard<'_, T>> {
        let guard = match &self.lease.resident.exclusive {
            Some(m) => Some(m.try_lock()?),
            None => None,
        };
        Some(ModelGuard {
            _guard: guard,
            value: self.value(),
        })
    }
}

impl<T> Handle<T> {
    /// The model ID.
    pub fn id(&self) -> &str {
        &self.lease.resident.id
    }

    /// The backend that loaded it.
    pub fn backend(&self) -> &str {
        &self.lease.resident.backend
    }

    /// The bytes it is charged (its measured size).
    pub fn bytes(&self) -> u64 {
        self.lease.resident.bytes
    }

    /// The component playing `role` in this model (see
    /// [`ModelPolicy::uses`](crate::ModelPolicy::uses)), as a handle of its own: the one
    /// instance every model that uses it shares.
    ///
    /// # Errors
    /// [`CacheError::NoSuchComponent`] when the model has no component `role`;
    /// [`CacheError::WrongType`] when the component is not a `C`.
    pub fn component<C: Send + Sync + 'static>(&self, role: &str) -> Result<Handle<C>, CacheError> {
        component_lease(&self.lease, role).and_then(Handle::from_lease)
    }

    /// Whether two handles refer to the same loaded model.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.lease.resident, &b.lease.resident)
    }
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Self {
            lease: self.lease.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("id", &self.id())
            .field("bytes", &self.bytes())
            .finish()
    }
}

/// Access to a model through a [`Handle`]; releases the model's lock when dropped.
pub struct ModelGuard<'a, T> {
    _guard: Option<async_lock::MutexGuard<'a, ()>>,
    value: &'a T,
}

impl<T> Deref for ModelGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value
    }
}

/// How a request was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// The model was resident.
    Hit,
    /// The model was loading; the request waited for that load.
    Joined,
    /// The request ran the load.
    Loaded,
    /// The model was waiting in host memory (demoted from its device), and the request moved
    /// it back instead of loading it.
    Promoted,
}

/// A handle to a cached model of any type, from [`ModelCache::request`](crate::ModelCache::request).
/// It keeps the model in use like a [`Handle`].
#[derive(Clone)]
pub struct AnyHandle {
    pub(crate) lease: Lease,
}

impl AnyHandle {
    /// The model ID.
    pub fn id(&self) -> &str {
        &self.lease.resident.id
    }

    /// The backend that loaded it.
    pub fn backend(&self) -> &str {
        &self.lease.resident.backend
    }

    /// The bytes it is charged (its measured size).
    pub fn bytes(&self) -> u64 {
        self.lease.resident.bytes
    }

    /// The Rust type of the model.
    pub fn type_name(&self) -> &'static str {
        self.lease.resident.type_name
    }

    /// The component playing `role` in this model, whatever its type.
    ///
    /// # Errors
    /// [`CacheError::NoSuchComponent`] when the model has no component `role`.
    pub fn component(&self, role: &str) -> Result<AnyHandle, CacheError> {
        component_lease(&self.lease, role).map(|lease| AnyHandle { lease })
    }

    /// The typed handle.
    ///
    /// # Errors
    /// [`CacheError::WrongType`] when the model is not a `T`.
    pub fn downcast<T: Send + Sync + 'static>(self) -> Result<Handle<T>, CacheError> {
        Handle::from_lease(self.lease)
    }
}

impl std::fmt::Debug for AnyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnyHandle")
            .field("id", &self.id())
            .field("type", &self.type_name())
            .finish()
    }
}

/// A lease on the component `role` of the model `lease` holds (which keeps it held).
fn component_lease(lease: &Lease, role: &str) -> Result<Lease, CacheError> {
    let r = &lease.resident;
    r.component(role)
        .map(|c| Lease::share(&c))
        .ok_or_else(|| CacheError::NoSuchComponent {
            id: r.id.to_string(),
            role: role.to_owned(),
            roles: r
                .components
                .lock()
                .iter()
                .map(|(role, _)| role.to_string())
                .collect(),
        })
}
