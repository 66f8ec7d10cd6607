//! Registering a model: how to load it (its [`ModelLoader`]) and how to treat it (its policy).

use std::sync::Arc;

use modelcache_backend::ModelLoader;

use super::ModelCache;
use super::effects::Effects;
use super::policy::ModelPolicy;
use super::state::Registered;
use crate::error::CacheError;

impl ModelCache {
    /// Registers a model under `id`: how to load it and how to treat it.
    /// Registering an ID again replaces its definition and invalidates what was loaded.
    ///
    /// # Errors
    /// [`CacheError::UnknownPool`] when the policy names a pool the cache does not have.
    pub fn register(
        &self,
        id: impl Into<String>,
        loader: Arc<dyn ModelLoader>,
        policy: ModelPolicy,
    ) -> Result<(), CacheError> {
        let id: Arc<str> = id.into().into();
        let backend: Arc<str> = loader.backend().into();
        let mut st = self.shared.lock();
        let pool = match &policy.pool {
            Some(name) => Some(st.pool_index(name).ok_or_else(|| CacheError::UnknownPool {
                id: id.to_string(),
                pool: name.clone(),
                known: st.pools.iter().map(|p| p.name.to_string()).collect(),
            })?),
            None => None,
        };
        let registered = Registered {
            loader,
            backend,
            policy,
            pool,
        };
        let replaced = st.models.insert(Arc::clone(&id), registered);
        let mut fx = Effects::default();
        if replaced.is_some() {
            // In the same locked section: a request cannot load the new definition in between
            // and then lose it to this invalidation.
            super::maintenance::remove(
                &mut st,
                &id,
                super::events::EvictReason::Invalidated,
                &mut fx,
            );
            st.note_budget(&self.shared.signals);
        }
        drop(st);
        if replaced.is_some() {
            self.shared.room.notify_all();
        }
        drop(replaced);
        fx.finish(&self.shared);
        Ok(())
    }
}
