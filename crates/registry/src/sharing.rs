//! What models share: each model's components, as written in `uses` or found on disk.
//!
//! A backend names the parts it can take from other entries after their folders in its own
//! layout ([`Backend::components`](modelcache_backend::Backend::components)): Flux's T5 is
//! `text_encoder_2/`. So when a model's folder has a subfolder named for such a role, and that
//! subfolder is, once symlinks are resolved, the very folder another `[models.ID]` points at,
//! the model uses that entry for the role without a `uses` line: one T5 for two pipelines whose
//! `text_encoder_2` folders link to one folder, or for a pipeline and a `[models.t5-xxl]` whose
//! path is inside it. A role written in `uses` is never looked for. When several entries point
//! at that folder (with different options, say), none is picked: `uses` says which.
//!
//! Two rules keep this cheap and predictable:
//!
//! * Only folders are compared, by their canonical paths; two copies of the same files in
//!   different folders are not found, because telling that they are the same costs reading
//!   them (gigabytes for a T5). Point both models at one folder (a symlink will do) instead.
//! * No entry is made up: two pipelines that share a folder no `[models.ID]` points at each load
//!   their own copy. Which backend loads that folder, and with which options, is the user's to
//!   say: the contract names a role, not the backend that opens it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::{Config, ModelConfig};
use crate::registry::Registry;

/// One component of a model: the entry that plays a role in it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelUse {
    /// The role, one of its backend's components (e.g. `text_encoder_2`).
    pub role: String,
    /// The model ID that plays it.
    pub id: String,
    /// How the use was found.
    pub origin: UseOrigin,
}

/// How a [`ModelUse`] was found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UseOrigin {
    /// Written in the model's `uses`.
    Written,
    /// The model's folder for the role is this folder (canonical), which the used entry's
    /// `path` is too.
    SameFolder(PathBuf),
}

/// A model other models use, and what sharing it saves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedComponent {
    /// The component's model ID.
    pub id: String,
    /// The models that use it, in the order of the file.
    pub used_by: Vec<String>,
    /// The bytes it is charged (its `size`, else its hint), when known.
    pub bytes: Option<u64>,
}

impl SharedComponent {
    /// The bytes sharing saves: each user beyond the first would otherwise hold its own copy,
    /// so `bytes × (users − 1)`.
    pub fn saved(&self) -> Option<u64> {
        let copies = (self.used_by.len() as u64).saturating_sub(1);
        self.bytes.map(|b| b.saturating_mul(copies))
    }

    /// What sharing all of `shared` saves, over the components whose bytes are known
    /// (saturating: sizes come from configuration and headers).
    pub fn saved_in_all(shared: &[SharedComponent]) -> u64 {
        shared
            .iter()
            .filter_map(SharedComponent::saved)
            .fold(0, u64::saturating_add)
    }
}

#[cfg(test)]
mod tests {
    use super::SharedComponent;

    #[test]
    fn savings_near_u64_max_saturate() {
        let huge = |id: &str| SharedComponent {
            id: id.into(),
            used_by: vec!["a".into(), "b".into(), "c".into()],
            bytes: Some(u64::MAX - 1),
        };
        assert_eq!(huge("t5").saved(), Some(u64::MAX));
        assert_eq!(
            SharedComponent::saved_in_all(&[huge("t5"), huge("clip")]),
            u64::MAX
        );
    }
}

/// What the models that share components hold: with sharing, each component once; without,
/// each user with its own copy of each of its components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SharingBytes {
    /// Bytes of the users and their components, each once: what the cache charges.
    pub with: u64,
    /// Bytes if each user loaded its own components: `with` plus what each
    /// [`SharedComponent::saved`].
    pub without: u64,
}

impl Registry {
    /// The models other models use, each with its bytes as `bytes` gives them (a hint, a
    /// configured size, what a load measured), by ID.
    pub fn shared(&self, bytes: impl Fn(&str) -> Option<u64>) -> Vec<SharedComponent> {
        self.models()
            .filter(|m| !self.used_by(&m.id).is_empty())
            .map(|m| SharedComponent {
                id: m.id.clone(),
                used_by: self.used_by(&m.id).to_vec(),
                bytes: bytes(&m.id),
            })
            .collect()
    }

    /// What the models that share components hold with and without sharing, given each
    /// model's `bytes`; `None` when no model shares or some of these bytes are unknown. A
    /// component's own components are counted as shared (once).
    pub fn sharing_bytes(&self, bytes: impl Fn(&str) -> Option<u64>) -> Option<SharingBytes> {
        let shared = self.shared(&bytes);
        if shared.is_empty() {
            return None;
        }
        let mut involved: Vec<&str> = shared
            .iter()
            .flat_map(|s| {
                std::iter::once(s.id.as_str()).chain(s.used_by.iter().map(String::as_str))
            })
            .collect();
        involved.sort_unstable();
        involved.dedup();
        let mut with = 0u64;
        for id in involved {
            with = with.saturating_add(bytes(id)?);
        }
        let mut saved = 0u64;
        for s in &shared {
            saved = saved.saturating_add(s.saved()?);
        }
        Some(SharingBytes {
            with,
            without: with.saturating_add(saved),
        })
    }
}

/// The configured models by the canonical path of their `path` (models whose path does not
/// resolve are left out: `check` reports them).
pub(crate) struct Folders {
    by_path: HashMap<PathBuf, Vec<String>>,
}

impl Folders {
    pub(crate) fn of(config: &Config) -> Self {
        let mut by_path: HashMap<PathBuf, Vec<String>> = HashMap::new();
        for m in config.models.values() {
            if let Ok(canonical) = std::fs::canonicalize(&m.path) {
                by_path.entry(canonical).or_default().push(m.id.clone());
            }
        }
        Self { by_path }
    }

    /// The entry that `m`'s folder for `role` is, if exactly one other entry points there.
    pub(crate) fn found(&self, m: &ModelConfig, role: &str) -> Option<ModelUse> {
        let folder = role_folder(&m.path, role)?;
        match self.by_path.get(&folder)?.as_slice() {
            [id] if *id != m.id => Some(ModelUse {
                role: role.to_owned(),
                id: id.clone(),
                origin: UseOrigin::SameFolder(folder),
            }),
            _ => None,
        }
    }
}

/// `path/role`, canonical, when it is a folder.
fn role_folder(path: &Path, role: &str) -> Option<PathBuf> {
    let folder = std::fs::canonicalize(path.join(role)).ok()?;
    folder.is_dir().then_some(folder)
}
