//! Registering a model: how to load it (its [`ModelLoader`]) and how to treat it (its policy).

use std::sync::Arc;

use modelcache_backend::ModelLoader;

use super::ModelCache;
use super::effects::Effects;
use super::policy::ModelPolicy;
use super::state::{Registered, State, Uses};
use crate::error::CacheError;

impl ModelCache {
    /// Registers a model under `id`: how to load it and how to treat it.
    /// Registering an ID again replaces its definition and invalidates what was loaded, and
    /// every model that uses it as a component (they reload with the new one).
    ///
    /// A model's components ([`ModelPolicy::uses`]) are registered models it is made of: a
    /// request for it first gets each component (a hit, a join or a load of its own, so a
    /// component several models use is loaded once and charged once), and while it is resident
    /// it holds them, so a component is evicted only when no resident model uses it. Register
    /// components before the models that use them.
    ///
    /// # Errors
    /// [`CacheError::UnknownPool`] when the policy names a pool the cache does not have;
    /// [`CacheError::UnknownComponent`] when `uses` names a model not registered (or `id`);
    /// [`CacheError::ComponentCycle`] when, through its components, the model would use itself;
    /// [`CacheError::UnknownDevice`] when it names a device the cache does not have;
    /// [`CacheError::Placement`] when it names a pool and a device, or asks to be demoted
    /// without a device, with components, or from a backend that cannot move models.
    pub fn register(
        &self,
        id: impl Into<String>,
        loader: Arc<dyn ModelLoader>,
        policy: ModelPolicy,
    ) -> Result<(), CacheError> {
        let id: Arc<str> = id.into().into();
        // Read before the lock: no user code under it.
        let backend: Arc<str> = loader.backend().into();
        let moves = policy.demote && loader.moves();
        check_placement(&id, &policy, &backend, moves)?;
        let mut st = self.shared.lock();
        let pool = match (&policy.pool, &policy.device) {
            (Some(name), _) => Some(scope_index(&st, &id, name, false)?),
            (None, Some(device)) => Some(scope_index(&st, &id, device, true)?),
            (None, None) => None,
        };
        let uses = components(&st, &id, &policy)?;
        let registered = Registered {
            loader,
            backend,
            policy,
            pool,
            uses,
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

/// Checks `policy.uses` of `id` against the registered models: each component registered, and
/// no cycle back to `id` (which replacing a component's definition could make).
fn components(st: &State, id: &Arc<str>, policy: &ModelPolicy) -> Result<Uses, CacheError> {
    let mut uses = Vec::with_capacity(policy.uses.len());
    for (role, component) in &policy.uses {
        if component.as_str() == &**id || !st.models.contains_key(component.as_str()) {
            return Err(CacheError::UnknownComponent {
                id: id.to_string(),
                role: role.clone(),
                component: component.clone(),
            });
        }
        if let Some(mut path) = path_to(st, component, id) {
            path.insert(0, id.to_string());
            return Err(CacheError::ComponentCycle {
                id: id.to_string(),
                cycle: path,
            });
        }
        uses.push((Arc::from(role.as_str()), Arc::from(component.as_str())));
    }
    Ok(uses)
}

/// The chain of components from `from` to `to` in the registered models, if there is one.
fn path_to(st: &State, from: &str, to: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_owned()]];
    let mut seen = std::collections::HashSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last()?.clone();
        if last == to {
            return Some(path);
        }
        if !seen.insert(last.clone()) {
            continue;
        }
        for (_, next) in st
            .models
            .get(last.as_str())
            .map_or(&[][..], |m| &m.uses[..])
        {
            let mut longer = path.clone();
            longer.push(next.to_string());
            stack.push(longer);
        }
    }
    None
}

/// Checks what a policy asks of its model's place, before the lock.
fn check_placement(
    id: &str,
    policy: &ModelPolicy,
    backend: &str,
    moves: bool,
) -> Result<(), CacheError> {
    let refuse = |reason: String| {
        Err(CacheError::Placement {
            id: id.to_owned(),
            reason,
        })
    };
    if let (Some(pool), Some(device)) = (&policy.pool, &policy.device) {
        return refuse(format!(
            "it names pool {pool:?} and device {device:?}; a model on a device counts against \
             that device's budget, so it cannot be in a pool too"
        ));
    }
    if policy.demote {
        if policy.device.is_none() {
            return refuse(
                "demote needs a device: a model in host memory has no cheaper place to go".into(),
            );
        }
        if !policy.uses.is_empty() {
            return refuse(
                "a model with components cannot be demoted (its components would have to move \
                 with it); leave demote off or its uses out"
                    .into(),
            );
        }
        if !moves {
            return refuse(format!(
                "demote is on, but backend {backend:?} cannot move models between a device and \
                 host memory (it does not implement Backend::demote and Backend::promote)"
            ));
        }
    }
    Ok(())
}

/// The index of the pool (or, with `device`, the device) `name`.
fn scope_index(st: &State, id: &str, name: &str, device: bool) -> Result<usize, CacheError> {
    let known = |device: bool| {
        st.pools
            .iter()
            .filter(|p| p.device == device)
            .map(|p| p.name.to_string())
            .collect()
    };
    match st.pool_index(name) {
        Some(i) if st.pools[i].device == device => Ok(i),
        _ if device => Err(CacheError::UnknownDevice {
            id: id.to_owned(),
            device: name.to_owned(),
            known: known(true),
        }),
        _ => Err(CacheError::UnknownPool {
            id: id.to_owned(),
            pool: name.to_owned(),
            known: known(false),
        }),
    }
}
