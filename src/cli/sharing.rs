//! What `check` and `ls` say about shared components: which model uses which, and (for
//! `check`, which reads the hints) the bytes sharing saves.

use modelcache::registry::{Registry, SharedComponent, UseOrigin};
use modelcache_core::format_bytes;

use super::setup::in_file_order;

/// The lines saying what the models share, in the order of the file: `flux uses t5 as
/// text_encoder_2` for each use, `t5 used by flux, ltx` for each component, with what sharing
/// saves when `shared` (the component bytes `check` read) is given. Empty when nothing is shared.
pub fn lines(registry: &Registry, shared: Option<&[SharedComponent]>) -> Vec<String> {
    let mut out = Vec::new();
    for m in in_file_order(registry) {
        for u in &m.uses {
            let how = match &u.origin {
                UseOrigin::SameFolder(folder) => format!(
                    " (found: its {} folder is {}, the path of {})",
                    u.role,
                    folder.display(),
                    u.id
                ),
                _ => String::new(), // written in `uses`
            };
            out.push(format!("  {} uses {} as {}{how}", m.id, u.id, u.role));
        }
        let users = registry.used_by(&m.id);
        if users.is_empty() {
            continue;
        }
        let saves = shared
            .and_then(|s| s.iter().find(|c| c.id == m.id))
            .map(|c| match c.saved() {
                Some(b) => format!(
                    ": loaded and charged once, saves {} ({} x {} more users)",
                    format_bytes(b),
                    c.bytes.map_or_else(|| "?".into(), format_bytes),
                    users.len() - 1
                ),
                None => ": loaded and charged once (its size is unknown)".into(),
            })
            .unwrap_or_default();
        out.push(format!("  {} used by {}{saves}", m.id, users.join(", ")));
    }
    if out.is_empty() {
        return out;
    }
    out.insert(0, "Shared components:".into());
    if let Some(shared) = shared.filter(|s| s.len() > 1) {
        let total = SharedComponent::saved_in_all(shared);
        out.push(format!("  sharing saves {} in all", format_bytes(total)));
    }
    out
}

#[cfg(test)]
mod tests {
    use modelcache::backend::{
        Backend, BackendError, Inspection, LoadProgress, ModelSource, Opened,
    };
    use modelcache::registry::{Backends, Config, Registry};
    use modelcache_core::ModelCache;

    use super::lines;

    /// A backend of `bytes`-sized models that can take a `text_encoder`.
    struct Pipe(&'static str, &'static [&'static str]);

    impl Backend for Pipe {
        type Options = ();
        type Model = ();
        type Plan = ();
        fn name(&self) -> &str {
            self.0
        }
        fn components(&self) -> &[&str] {
            self.1
        }
        fn open(&self, _: &ModelSource<'_, ()>) -> Result<Opened<()>, BackendError> {
            Ok(Opened::new((), Inspection::of_bytes(1 << 20)))
        }
        fn load(&self, (): (), _: u64, _: &dyn LoadProgress) -> Result<(), BackendError> {
            Ok(())
        }
    }

    #[test]
    fn uses_users_and_savings_are_said_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a/text_encoder", "b", "t5"] {
            std::fs::create_dir_all(dir.path().join(f)).unwrap();
        }
        let text = "[cache]\nbudget = \"1GiB\"\n\
                    [models.a]\nbackend = \"pipe\"\npath = \"a\"\n\
                    [models.b]\nbackend = \"pipe\"\npath = \"b\"\nuses = { text_encoder = \"t5\" }\n\
                    [models.t5]\nbackend = \"plain\"\npath = \"a/text_encoder\"\n";
        let file = dir.path().join("models.toml");
        std::fs::write(&file, text).unwrap();
        let config = Config::from_file(&file).unwrap();
        let backends = Backends::new()
            .with(Pipe("pipe", &["text_encoder"]))
            .with(Pipe("plain", &[]));
        let registry =
            Registry::build_with(&backends, &config, ModelCache::builder(), None).unwrap();
        let folder = std::fs::canonicalize(dir.path().join("a/text_encoder")).unwrap();
        assert_eq!(
            lines(&registry, None),
            [
                "Shared components:".to_owned(),
                format!(
                    "  a uses t5 as text_encoder (found: its text_encoder folder is {}, the path of t5)",
                    folder.display()
                ),
                "  b uses t5 as text_encoder".to_owned(),
                "  t5 used by a, b".to_owned(),
            ]
        );
        let report = registry.check();
        let with_bytes = lines(&registry, Some(&report.shared));
        assert_eq!(
            with_bytes[3],
            "  t5 used by a, b: loaded and charged once, saves 1.00 MiB (1.00 MiB x 1 more users)"
        );
    }
}
