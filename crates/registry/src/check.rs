//! The `check` step: does every configured checkpoint exist, can its size be read, and does it
//! fit its budget? Nothing is loaded; one bad model does not stop the others from being served.

use std::fmt;
use std::path::PathBuf;

use modelcache_backend::{BackendError, Inspection};
use modelcache_core::{format_bytes, format_bytes_exact};

use crate::config::Location;
use crate::registry::Registry;
use crate::sharing::SharedComponent;

/// What [`Registry::check`] found, one row per model.
#[derive(Debug)]
#[non_exhaustive]
pub struct CheckReport {
    /// The configuration file.
    pub file: PathBuf,
    /// One row per model, by ID.
    pub models: Vec<ModelCheck>,
    /// The models other models use, by ID, each with its bytes from its row.
    pub shared: Vec<SharedComponent>,
}

/// One model's row of a [`CheckReport`].
#[derive(Debug)]
#[non_exhaustive]
pub struct ModelCheck {
    /// The model ID.
    pub id: String,
    /// Its backend.
    pub backend: String,
    /// Its checkpoint path.
    pub path: PathBuf,
    /// Where it is defined.
    pub at: Location,
    /// Bytes it will be charged before loading: `size` if configured, else the backend's hint.
    pub bytes: Option<u64>,
    /// What the backend found, headers only (the layout, files, tensors and hint), when the
    /// checkpoint could be read. Each checkpoint is inspected once per check.
    pub inspection: Option<Inspection>,
    /// What is wrong, if anything.
    pub problem: Option<CheckProblem>,
}

/// What is wrong with a configured model.
#[derive(Debug)]
#[non_exhaustive]
pub enum CheckProblem {
    /// The checkpoint path does not exist.
    Missing,
    /// The backend could not read the checkpoint's size (malformed, unreadable).
    Unreadable(BackendError),
    /// Its configured `size` is less than its checkpoint needs, so every load of it fails.
    SizeTooSmall {
        /// The configured size.
        size: u64,
        /// What the checkpoint's headers say a load needs.
        needs: u64,
    },
    /// It is larger than a budget it counts against, so a request for it would fail.
    TooLarge {
        /// The budget in bytes.
        budget: u64,
        /// The pool or device, if that is the budget it exceeds.
        pool: Option<String>,
        /// `pool` is a `[devices.NAME]`.
        device: bool,
    },
}

impl CheckReport {
    /// Whether every model passed.
    pub fn is_ok(&self) -> bool {
        self.models.iter().all(|m| m.problem.is_none())
    }

    /// The bytes sharing components saves, over the components whose bytes are known.
    pub fn bytes_saved(&self) -> u64 {
        SharedComponent::saved_in_all(&self.shared)
    }

    /// The models with a problem.
    pub fn problems(&self) -> impl Iterator<Item = &ModelCheck> {
        self.models.iter().filter(|m| m.problem.is_some())
    }
}

impl Registry {
    /// Checks every model's checkpoint without loading it: the path exists, the backend can
    /// read its size (headers only), and it fits its budgets.
    pub fn check(&self) -> CheckReport {
        let budget = self.cache().budget();
        let models = self
            .models()
            .map(|m| {
                let mut row = ModelCheck {
                    id: m.id.clone(),
                    backend: m.backend.clone(),
                    path: m.path.clone(),
                    at: m.at.clone(),
                    bytes: m.policy.size,
                    inspection: None,
                    problem: None,
                };
                if !m.path.exists() {
                    row.problem = Some(CheckProblem::Missing);
                    return row;
                }
                // One inspection gives the hint and what `check` shows: each header is read
                // once, not once for the hint and again for the table.
                match m.loader().inspect() {
                    Ok(inspection) => {
                        row.bytes = Some(m.policy.size.unwrap_or(inspection.bytes));
                        if let Some(size) = m.policy.size.filter(|&s| s < inspection.bytes) {
                            row.problem = Some(CheckProblem::SizeTooSmall {
                                size,
                                needs: inspection.bytes,
                            });
                        }
                        row.inspection = Some(inspection);
                        if row.problem.is_some() {
                            return row;
                        }
                    }
                    Err(e) => {
                        row.problem = Some(CheckProblem::Unreadable(e));
                        return row;
                    }
                }
                let bytes = row.bytes.unwrap_or(0);
                if !self.allow_oversized() && budget > 0 {
                    let find = |scopes: &[(String, u64)], name: &String| {
                        scopes
                            .iter()
                            .find(|(p, _)| p == name)
                            .map(|(p, b)| (p.clone(), *b))
                    };
                    let pool = match (&m.policy.pool, &m.policy.device) {
                        (Some(name), _) => find(self.pools(), name),
                        (None, Some(name)) => find(self.devices(), name),
                        (None, None) => None,
                    };
                    // A model on a device takes no host memory.
                    let on_host = m.policy.device.is_none();
                    if on_host && bytes > budget {
                        row.problem = Some(CheckProblem::TooLarge {
                            budget,
                            pool: None,
                            device: false,
                        });
                    } else if let Some((name, pool_budget)) = pool.filter(|(_, b)| bytes > *b) {
                        row.problem = Some(CheckProblem::TooLarge {
                            budget: pool_budget,
                            pool: Some(name),
                            device: !on_host,
                        });
                    }
                }
                row
            })
            .collect::<Vec<ModelCheck>>();
        // Rows are by ID, as the models are.
        let bytes = |id: &str| {
            let i = models.binary_search_by(|r| r.id.as_str().cmp(id)).ok()?;
            models[i].bytes
        };
        let shared = self.shared(bytes);
        CheckReport {
            file: self.file().to_owned(),
            models,
            shared,
        }
    }
}

impl fmt::Display for CheckProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckProblem::Missing => f.write_str("the path does not exist"),
            CheckProblem::Unreadable(e) => write!(f, "cannot read its size: {e}"),
            CheckProblem::SizeTooSmall { size, needs } => {
                f.write_str(&crate::sized::too_small_message(*size, *needs))
            }
            CheckProblem::TooLarge {
                budget,
                pool,
                device,
            } => match pool {
                Some(p) => {
                    let scope = if *device { "device" } else { "pool" };
                    write!(
                        f,
                        "larger than {scope} {p:?}, {}",
                        format_bytes_exact(*budget)
                    )
                }
                None => write!(f, "larger than the budget, {}", format_bytes_exact(*budget)),
            },
        }
    }
}

impl fmt::Display for SharedComponent {
    /// `t5-xxl used by flux-schnell, ltx-video: saves 9.1 GiB`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shared {} used by {}", self.id, self.used_by.join(", "))?;
        match self.saved() {
            Some(saved) => write!(f, ": saves {}", format_bytes(saved)),
            None => f.write_str(": saves ? (its size is unknown)"),
        }
    }
}

impl fmt::Display for ModelCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.bytes.map_or_else(|| "?".to_owned(), format_bytes);
        match &self.problem {
            None => write!(
                f,
                "ok     {} ({}, {bytes}): {}",
                self.id,
                self.backend,
                self.path.display()
            ),
            Some(p) => write!(
                f,
                "error  {}: model {:?} ({}): {}: {p}",
                self.at,
                self.id,
                self.backend,
                self.path.display()
            ),
        }
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.models {
            writeln!(f, "{m}")?;
        }
        for s in &self.shared {
            writeln!(f, "{s}")?;
        }
        let bad = self.problems().count();
        write!(
            f,
            "{}: {} models, {bad} with problems",
            self.file.display(),
            self.models.len()
        )
    }
}
