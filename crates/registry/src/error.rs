//! What goes wrong, in terms a user can act on: the file, line and column, the model, the
//! field, and what was expected.

use std::path::PathBuf;

use crate::config::budget::BudgetError;
use modelcache_core::{BackendError, CacheError};

use crate::config::Location;

/// A models.toml that cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a regular file (a FIFO, a device, a folder), or is over
    /// [`MAX_CONFIG_LEN`](crate::MAX_CONFIG_LEN); it was not read.
    #[error(transparent)]
    File(modelcache_files::FileError),
    /// The file is not UTF-8 text.
    #[error("cannot read {}: not UTF-8 text", file.display())]
    NotText {
        /// The file.
        file: PathBuf,
    },
    /// Bad TOML, an unknown key, a missing key, or a value of the wrong kind (a bad size or
    /// duration says which value and why).
    #[error(
        "{at}: {}{}{message}",
        table.as_ref().map(|t| format!("in [{t}]: ")).unwrap_or_default(),
        key.as_ref().map(|k| format!("`{k}`: ")).unwrap_or_default()
    )]
    Syntax {
        /// Where.
        at: Location,
        /// The table it is in, e.g. `models.flux-schnell`, when known.
        table: Option<String>,
        /// The key whose value is wrong, when known.
        key: Option<String>,
        /// The model whose table it is in, if any.
        model: Option<String>,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A model names a pool that has no `[pools.NAME]` table.
    #[error(
        "{at}: unknown pool {pool:?} for model {model:?}; known: {}",
        names(known)
    )]
    UnknownPool {
        /// Where the pool is named.
        at: Location,
        /// The model.
        model: String,
        /// The pool it names.
        pool: String,
        /// The pools the file defines.
        known: Vec<String>,
    },
    /// A model names a device that has no `[devices.NAME]` table.
    #[error(
        "{at}: unknown device {device:?} for model {model:?}; known: {}",
        names(known)
    )]
    UnknownDevice {
        /// Where the device is named.
        at: Location,
        /// The model.
        model: String,
        /// The device it names.
        device: String,
        /// The devices the file defines.
        known: Vec<String>,
    },
    /// A model's `uses` names a model the file does not configure.
    #[error(
        "{at}: model {model:?} uses {used:?} as {role}, but no [models.{used}] is configured; {}",
        match crate::config::doc::closest(used, &known.iter().map(String::as_str).collect::<Vec<_>>()) {
            Some(n) => format!("did you mean {n:?}?"),
            None => format!("configured: {}", names(known)),
        }
    )]
    UnknownComponent {
        /// Where the used ID is written.
        at: Location,
        /// The model.
        model: String,
        /// The role it names.
        role: String,
        /// The ID it names.
        used: String,
        /// The configured IDs, sorted (the likely one is suggested from them).
        known: Vec<String>,
    },
    /// A model's `uses` names the model itself.
    #[error(
        "{at}: model {model:?} uses itself as {role}; a component is another [models.ID], \
         loaded before the models that use it"
    )]
    UsesItself {
        /// Where its own ID is written.
        at: Location,
        /// The model.
        model: String,
        /// The role.
        role: String,
    },
    /// Models that use each other in a cycle: none can be loaded before the others.
    #[error(
        "{at}: model {model:?} is in a cycle of uses, {}: a model's components are loaded \
         before it, so none of these can be; remove one of these uses",
        cycle.join(" -> ")
    )]
    UsesCycle {
        /// Where the model's use of the next in the cycle is written.
        at: Location,
        /// The model.
        model: String,
        /// The cycle from this model back to it, e.g. `["a", "b", "a"]`.
        cycle: Vec<String>,
    },
    /// A model uses another in a role its backend does not take.
    #[error(
        "{at}: model {model:?} uses {used:?} as {role}, but backend {backend:?} takes {}",
        if roles.is_empty() { "no components".to_owned() } else { format!("only {}", roles.join(", ")) }
    )]
    UnknownRole {
        /// Where the role is written.
        at: Location,
        /// The model.
        model: String,
        /// The role it names.
        role: String,
        /// The model it names for it.
        used: String,
        /// The model's backend.
        backend: String,
        /// The roles the backend takes.
        roles: Box<[String]>,
    },
    /// A path names an unset environment variable, or is malformed.
    #[error(
        "{at}: {}path {value:?}: {reason}",
        model.as_ref().map(|m| format!("model {m:?}: ")).unwrap_or_default()
    )]
    Path {
        /// Where the path is written.
        at: Location,
        /// The model, if it is a model's path (else a plugin's).
        model: Option<String>,
        /// The path as written.
        value: String,
        /// Why it cannot be resolved.
        reason: String,
    },
    /// A budget that does not parse or cannot be resolved on this system.
    #[error("{}: {what}: {source}", file.display())]
    Budget {
        /// The configuration file.
        file: PathBuf,
        /// Which budget: `[cache] budget`, `[pools.NAME] budget` or `MODELCACHE_BUDGET`.
        what: String,
        /// The budget's own error (the value and why).
        #[source]
        source: BudgetError,
    },
    /// More than one problem, each located, in the order of the file's tables.
    #[error("{} problems in {}:{}", problems.len(), file.display(), list_lines(problems))]
    Several {
        /// The configuration file.
        file: PathBuf,
        /// The problems: none of them is `Several`.
        problems: Vec<ConfigError>,
    },
    /// Neither `[cache] budget` nor `MODELCACHE_BUDGET` is set.
    #[error(
        "{}: no budget: set `budget` in [cache] (e.g. \"24GiB\", \"80%\", or 0 to keep nothing) \
         or the environment variable MODELCACHE_BUDGET",
        file.display()
    )]
    NoBudget {
        /// The configuration file.
        file: PathBuf,
    },
}

impl ConfigError {
    /// The problems this error stands for: those of [`Several`](Self::Several), else itself.
    pub fn problems(&self) -> &[ConfigError] {
        match self {
            Self::Several { problems, .. } => problems,
            one => std::slice::from_ref(one),
        }
    }

    /// The model whose table the problem is in, if it is in one.
    pub fn model(&self) -> Option<&str> {
        match self {
            Self::Syntax { model, .. } | Self::Path { model, .. } => model.as_deref(),
            Self::UnknownPool { model, .. }
            | Self::UnknownDevice { model, .. }
            | Self::UnknownComponent { model, .. }
            | Self::UsesItself { model, .. }
            | Self::UsesCycle { model, .. }
            | Self::UnknownRole { model, .. } => Some(model),
            _ => None,
        }
    }

    /// `problems` as one error: `None` for none, the problem for one, else
    /// [`Several`](Self::Several).
    pub(crate) fn from_problems(mut problems: Vec<ConfigError>) -> Option<Self> {
        match problems.len() {
            0 => None,
            1 => problems.pop(),
            _ => Some(Self::Several {
                file: problems[0].file().to_path_buf(),
                problems,
            }),
        }
    }

    /// Where in the file the problem is, when it is at one place.
    pub fn at(&self) -> Option<&Location> {
        match self {
            Self::Syntax { at, .. }
            | Self::UnknownPool { at, .. }
            | Self::UnknownDevice { at, .. }
            | Self::Path { at, .. }
            | Self::UnknownComponent { at, .. }
            | Self::UsesItself { at, .. }
            | Self::UsesCycle { at, .. }
            | Self::UnknownRole { at, .. } => Some(at),
            _ => None,
        }
    }

    /// The configuration file the problem is in.
    pub fn file(&self) -> &std::path::Path {
        match self {
            Self::Read { file, .. }
            | Self::NotText { file }
            | Self::Budget { file, .. }
            | Self::Several { file, .. }
            | Self::NoBudget { file } => file,
            Self::File(e) => e.path(),
            Self::Syntax { at, .. }
            | Self::UnknownPool { at, .. }
            | Self::UnknownDevice { at, .. }
            | Self::Path { at, .. }
            | Self::UnknownComponent { at, .. }
            | Self::UsesItself { at, .. }
            | Self::UsesCycle { at, .. }
            | Self::UnknownRole { at, .. } => &at.file,
        }
    }
}

fn list_lines(problems: &[ConfigError]) -> String {
    problems.iter().map(|p| format!("\n  {p}")).collect()
}

/// A configuration that parses but cannot be turned into a cache of models.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// See [`ConfigError`].
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A model names a backend nobody registered.
    #[error(
        "{at}: unknown backend {backend:?} for model {model:?}; known: {}",
        names(known)
    )]
    UnknownBackend {
        /// Where the backend is named.
        at: Location,
        /// The model.
        model: String,
        /// The backend it names.
        backend: String,
        /// The registered backends.
        known: Vec<String>,
    },
    /// The backend refused the model's options.
    #[error("{at}: {}", options_message(model, source))]
    Options {
        /// Where the options are written (the model's key if it has none).
        at: Location,
        /// The model.
        model: String,
        /// The backend.
        backend: String,
        /// The backend's error, naming the offending field.
        #[source]
        source: Box<BackendError>,
    },
    /// The cache refused a model's registration.
    #[error("{at}: model {model:?}: {source}")]
    Register {
        /// Where the model is defined.
        at: Location,
        /// The model.
        model: String,
        /// The cache's error.
        #[source]
        source: Box<CacheError>,
    },
    /// A plugin listed in `[plugins] paths` was refused.
    #[error("{at}: {source}")]
    Plugin {
        /// Where the plugin is listed.
        at: Location,
        /// Why it was refused.
        #[source]
        source: Box<PluginError>,
    },
}

impl RegistryError {
    /// Where in the configuration file the problem is, when it is at one place.
    pub fn at(&self) -> Option<&Location> {
        match self {
            Self::Config(e) => e.at(),
            Self::UnknownBackend { at, .. }
            | Self::Options { at, .. }
            | Self::Register { at, .. }
            | Self::Plugin { at, .. } => Some(at),
        }
    }
}

/// A dynamic plugin that could not be loaded or was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The library could not be opened.
    #[error("cannot load plugin {}: {source}", path.display())]
    Open {
        /// The library.
        path: PathBuf,
        /// The loader's error.
        #[source]
        source: libloading::Error,
    },
    /// The path is not a regular file (a FIFO, which the dynamic loader would wait on, a
    /// device, a folder), or cannot be looked at.
    #[error(transparent)]
    File(modelcache_files::FileError),
    /// The library does not export the plugin entry points.
    #[error(
        "{} is not a modelcache plugin: it exports no `{symbol}` \
         (a plugin crate writes `modelcache_backend::declare_plugin!`)",
        path.display()
    )]
    NotAPlugin {
        /// The library.
        path: PathBuf,
        /// The missing symbol.
        symbol: &'static str,
    },
    /// The plugin speaks another version of the plugin ABI.
    #[error(
        "plugin {} speaks plugin ABI version {plugin}, but this program speaks version {host}; \
         rebuild the plugin against modelcache-backend {contract}",
        path.display(), contract = modelcache_backend::CONTRACT_VERSION
    )]
    Abi {
        /// The library.
        path: PathBuf,
        /// The plugin's ABI version.
        plugin: u32,
        /// This program's ABI version.
        host: u32,
    },
    /// The plugin was built with another contract (modelcache-backend) or compiler version.
    #[error(
        "plugin {} was built with {component} {plugin:?}, but this program was built with \
         {component} {host:?}; rebuild the plugin with the same compiler and modelcache-backend \
         version (Rust has no stable ABI)",
        path.display()
    )]
    Version {
        /// The library.
        path: PathBuf,
        /// `modelcache-backend` or `rustc`.
        component: &'static str,
        /// The plugin's version.
        plugin: String,
        /// This program's version.
        host: String,
    },
    /// The plugin's declaration is malformed or does not match what it registers.
    #[error("plugin {}: {reason}", path.display())]
    Declaration {
        /// The library.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The plugin provides a backend whose name is already taken.
    #[error(
        "plugin {} provides backend {backend:?}, which {existing} already provides",
        path.display()
    )]
    Conflict {
        /// The library.
        path: PathBuf,
        /// The backend's name.
        backend: String,
        /// Who provides it already.
        existing: String,
    },
}

/// The backend's message, naming the model once.
fn options_message(model: &str, source: &BackendError) -> String {
    // On one line: a deserializer's message can hold blank lines.
    let text = crate::config::doc::one_line(&source.to_string());
    let text = text.as_str();
    if text.contains(&format!("model {model:?}")) {
        text.to_owned()
    } else {
        format!("model {model:?}: {text}")
    }
}

fn names(known: &[String]) -> String {
    if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    }
}
