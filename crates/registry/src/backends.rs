//! The backends a configuration can name: linked in (built-in plugins, user crates) or loaded
//! from dynamic plugins.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use modelcache_backend::DynBackend;

use crate::error::PluginError;

/// Where a backend comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// Registered from Rust code linked into this program.
    Linked,
    /// Provided by the dynamic plugin at this path.
    Plugin(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Linked => f.write_str("a backend linked into this program"),
            Origin::Plugin(path) => write!(f, "plugin {}", path.display()),
        }
    }
}

#[derive(Clone)]
struct Entry {
    backend: Arc<dyn DynBackend>,
    origin: Origin,
}

/// Backends by name: what `backend = "..."` in models.toml can refer to.
///
/// ```
/// # use modelcache_backend::{Backend, BackendError, Inspection, LoadProgress, ModelSource, Opened};
/// # use modelcache_registry::Backends;
/// # #[derive(Default)] struct MyBackend;
/// # impl Backend for MyBackend {
/// #     type Options = ();
/// #     type Model = ();
/// #     type Plan = ();
/// #     fn name(&self) -> &str { "mine" }
/// #     fn open(&self, _: &ModelSource<'_, ()>) -> Result<Opened<()>, BackendError> {
/// #         Ok(Opened::new((), Inspection::of_bytes(0)))
/// #     }
/// #     fn load(&self, _: (), _: u64, _: &dyn LoadProgress) -> Result<(), BackendError> { Ok(()) }
/// # }
/// let mut backends = Backends::new();
/// backends.register(MyBackend::default()); // one line per backend
/// assert_eq!(backends.names(), ["mine"]);
/// ```
#[derive(Clone, Default)]
pub struct Backends {
    map: BTreeMap<String, Entry>,
}

impl Backends {
    /// No backends.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `backend` (any [`Backend`](modelcache_backend::Backend)), builder style.
    #[must_use]
    pub fn with(mut self, backend: impl DynBackend + 'static) -> Self {
        self.register(backend);
        self
    }

    /// Adds `backend` (any [`Backend`](modelcache_backend::Backend)) under its name. A backend
    /// registered earlier under the same name is replaced.
    pub fn register(&mut self, backend: impl DynBackend + 'static) -> &mut Self {
        self.register_arc(Arc::new(backend))
    }

    /// Adds an already shared backend under its name, replacing one of the same name.
    pub fn register_arc(&mut self, backend: Arc<dyn DynBackend>) -> &mut Self {
        let name = backend.name().to_owned();
        let entry = Entry {
            backend,
            origin: Origin::Linked,
        };
        if let Some(old) = self.map.insert(name.clone(), entry) {
            tracing::warn!(
                target: "modelcache",
                backend = %name,
                replaced = %old.origin,
                "backend replaced"
            );
        }
        self
    }

    /// The backend called `name`.
    pub fn backend(&self, name: &str) -> Option<&Arc<dyn DynBackend>> {
        self.map.get(name).map(|e| &e.backend)
    }

    /// Where the backend called `name` comes from.
    pub fn origin(&self, name: &str) -> Option<&Origin> {
        self.map.get(name).map(|e| &e.origin)
    }

    /// The names of all backends, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.map.keys().map(String::as_str).collect()
    }

    /// Adds a plugin's backends: all of them, or none if a name is taken.
    pub(crate) fn add_plugin(
        &mut self,
        path: &std::path::Path,
        backends: Vec<Arc<dyn DynBackend>>,
    ) -> Result<(), PluginError> {
        for b in &backends {
            if let Some(existing) = self.map.get(b.name()) {
                return Err(PluginError::Conflict {
                    path: path.to_owned(),
                    backend: b.name().to_owned(),
                    existing: existing.origin.to_string(),
                });
            }
        }
        for backend in backends {
            let entry = Entry {
                backend,
                origin: Origin::Plugin(path.to_owned()),
            };
            self.map.insert(entry.backend.name().to_owned(), entry);
        }
        Ok(())
    }
}

impl fmt::Debug for Backends {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.map.iter().map(|(name, e)| (name, &e.origin)))
            .finish()
    }
}
