//! Building the cache from a config: backends, options, policies, budgets, lookups, check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use modelcache_core::{CacheError, ManualClock, ModelCache};
use modelcache_registry::{
    Backends, CheckProblem, Config, ModelEntry, Origin, Registry, RegistryError,
};

use common::{Fake, FakeModel, backends, write_config};

const FILE: &str = "/etc/mc/models.toml";

fn build(text: &str) -> Result<Registry, RegistryError> {
    let config = Config::parse(text, FILE)?;
    Registry::build_with(&backends().0, &config, ModelCache::builder(), None)
}

/// A registry over real folders in `dir`, with a manual clock.
fn build_in(
    dir: &std::path::Path,
    text: &str,
    existing: &[&str],
) -> (
    Registry,
    Arc<ManualClock>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    let file = write_config(dir, text, existing);
    let config = Config::from_file(file).unwrap();
    let clock = Arc::new(ManualClock::new());
    let (backends, loads) = backends();
    let cache = ModelCache::builder().clock(Arc::clone(&clock) as _);
    let registry = Registry::build_with(&backends, &config, cache, None).unwrap();
    (registry, clock, loads)
}

#[test]
fn an_unknown_backend_names_the_file_line_column_and_the_known_ones() {
    let e =
        build("[cache]\nbudget = 0\n[models.flux-schnell]\nbackend = \"fluxx\"\npath = \"x\"\n")
            .unwrap_err();
    assert!(matches!(e, RegistryError::UnknownBackend { .. }));
    assert_eq!(
        e.to_string(),
        "/etc/mc/models.toml:4:11: unknown backend \"fluxx\" for model \"flux-schnell\"; \
         known: flux, kokoro, ltx"
    );
}

#[test]
fn the_first_error_in_the_file_is_reported_first() {
    let e = build(
        "[cache]\nbudget = 0\n[models.zz]\nbackend = \"nope1\"\npath = \"x\"\n\
         [models.aa]\nbackend = \"nope2\"\npath = \"x\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("nope1"), "{e}");
}

#[test]
fn bad_options_fail_when_the_config_is_loaded_not_at_first_request() {
    let config = |options: &str| {
        format!(
            "[cache]\nbudget = \"1MiB\"\n[models.ok]\nbackend = \"ltx\"\npath = \"x\"\n\
             [models.flux-schnell]\nbackend = \"flux\"\npath = \"x\"\noptions = {options}\n"
        )
    };
    let (backends, loads) = backends();
    let try_build = |options: &str| {
        let c = Config::parse(&config(options), FILE).unwrap();
        Registry::build_with(&backends, &c, ModelCache::builder(), None)
    };

    let e = try_build("{ dtyp = \"bf16\" }").unwrap_err();
    assert!(matches!(e, RegistryError::Options { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.starts_with("/etc/mc/models.toml:9:11: "), "{msg}");
    assert_eq!(msg.matches("model \"flux-schnell\"").count(), 1, "{msg}");
    assert!(msg.contains("backend \"flux\""), "{msg}");
    assert!(
        msg.contains("unknown field `dtyp`") && msg.contains("`dtype`"),
        "{msg}"
    );
    assert_eq!(msg.trim_end(), msg);

    let msg = try_build("{ components = \"vae\" }")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("invalid type") && msg.contains("sequence"),
        "{msg}"
    );

    // The backend's own check of the values.
    let msg = try_build("{ dtype = \"int3\" }").unwrap_err().to_string();
    assert!(msg.contains("dtype \"int3\" is not one of"), "{msg}");
    assert_eq!(msg.matches("model \"flux-schnell\"").count(), 1, "{msg}");

    // Nothing was loaded to find these out.
    assert_eq!(loads.load(Ordering::SeqCst), 0);
    assert!(try_build("{ dtype = \"bf16\", components = [\"vae\"] }").is_ok());
}

#[test]
fn options_reach_the_backend_and_absent_ones_are_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _, loads) = build_in(
        dir.path(),
        "[cache]\nbudget = \"1MiB\"\n\
         [models.flux-schnell]\nbackend = \"flux\"\npath = \"flux\"\n\
         options = { components = [\"transformer\", \"vae\"], dtype = \"bf16\", bytes = 77 }\n\
         [models.plain]\nbackend = \"kokoro\"\npath = \"plain\"\n",
        &["flux", "plain"],
    );
    let flux = registry.get::<FakeModel>("flux-schnell").unwrap();
    assert_eq!(flux.lock().dtype, "bf16");
    assert_eq!(flux.lock().components, ["transformer", "vae"]);
    assert_eq!(flux.lock().path, dir.path().join("flux"));
    assert_eq!(flux.bytes(), 77);
    assert_eq!(flux.backend(), "flux");
    let plain = registry.get::<FakeModel>("plain").unwrap();
    assert_eq!(plain.lock().dtype, "f32");
    assert_eq!(plain.lock().backend, "kokoro");
    assert_eq!(loads.load(Ordering::SeqCst), 2);
}

#[test]
fn a_type_mismatch_on_get_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _, _) = build_in(
        dir.path(),
        "[cache]\nbudget = \"1MiB\"\n[models.a]\nbackend = \"flux\"\npath = \"a\"\n",
        &["a"],
    );
    let e = registry.get::<String>("a").unwrap_err();
    assert!(matches!(e, CacheError::WrongType { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("\"a\"") && msg.contains("String") && msg.contains("FakeModel"),
        "{msg}"
    );
    // The right type still works afterwards.
    assert!(registry.get::<FakeModel>("a").is_ok());
    let e = registry.get::<FakeModel>("nope").unwrap_err();
    assert!(matches!(e, CacheError::UnknownModel { .. }), "{e:?}");
}

#[test]
fn models_are_looked_up_by_id() {
    let registry = build(
        "[cache]\nbudget = 0\nkeep_alive = \"5m\"\n\
         [models.a]\nbackend = \"flux\"\npath = \"a\"\npin = true\nsize = \"1KiB\"\n\
         [models.b]\nbackend = \"ltx\"\npath = \"/b\"\n",
    )
    .unwrap();
    let a: &ModelEntry = registry.model("a").unwrap();
    assert_eq!(a.backend, "flux");
    assert_eq!(a.path, std::path::Path::new("/etc/mc/a"));
    assert!(a.policy.pin);
    assert_eq!(a.policy.size, Some(1024));
    assert_eq!(a.policy.keep_alive, Some(Duration::from_secs(300)));
    assert_eq!(a.loader().backend(), "flux");
    assert_eq!((a.at.line, a.at.column), (4, 9));
    assert!(registry.model("c").is_none());
    let ids: Vec<&str> = registry.models().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(registry.cache().registered(), ["a", "b"]);
    assert_eq!(registry.file(), std::path::Path::new(FILE));
}

#[test]
fn pin_reaches_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    // Room for one model of 1000 bytes: the pinned one must not be evicted for the other.
    let (registry, _, _) = build_in(
        dir.path(),
        "[cache]\nbudget = 1500\nload_timeout = \"0s\"\n\
         [models.pinned]\nbackend = \"flux\"\npath = \"p\"\npin = true\n\
         [models.other]\nbackend = \"flux\"\npath = \"o\"\n",
        &["p", "o"],
    );
    drop(registry.get::<FakeModel>("pinned").unwrap());
    let entries = registry.cache().entries();
    assert!(entries.iter().any(|e| e.id == "pinned" && e.pinned));
    let e = registry.get::<FakeModel>("other").unwrap_err();
    assert!(
        matches!(e, CacheError::NoRoom { waited: false, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("pinned"), "{e}");
    assert!(registry.cache().contains("pinned"));
}

#[test]
fn size_reaches_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _, _) = build_in(
        dir.path(),
        "[cache]\nbudget = \"1MiB\"\n\
         [models.sized]\nbackend = \"flux\"\npath = \"s\"\nsize = \"300KiB\"\n\
         [models.hinted]\nbackend = \"flux\"\npath = \"h\"\n",
        &["s", "h"],
    );
    let plan = registry.cache().plan(&["sized", "hinted"]).unwrap();
    assert_eq!(plan.steps[0].bytes, 300 << 10);
    assert_eq!(plan.steps[1].bytes, 1000);
    // A configured size larger than the budget refuses the model without asking the backend.
    let too_big = build(
        "[cache]\nbudget = 100\n[models.a]\nbackend = \"flux\"\npath = \"nowhere\"\nsize = 101\n",
    )
    .unwrap();
    let e = too_big.get::<FakeModel>("a").unwrap_err();
    assert!(
        matches!(e, CacheError::TooLarge { needed: 101, .. }),
        "{e:?}"
    );
}

#[test]
fn keep_alive_reaches_the_cache_and_is_inherited() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, clock, _) = build_in(
        dir.path(),
        "[cache]\nbudget = \"1MiB\"\nkeep_alive = \"30m\"\n\
         [models.own]\nbackend = \"flux\"\npath = \"m\"\nkeep_alive = \"10m\"\n\
         [models.inherits]\nbackend = \"flux\"\npath = \"m\"\n\
         [models.never]\nbackend = \"flux\"\npath = \"m\"\nkeep_alive = \"never\"\n\
         [models.at-once]\nbackend = \"flux\"\npath = \"m\"\nkeep_alive = \"0s\"\n",
        &["m"],
    );
    let cache = registry.cache();
    for id in ["own", "inherits", "never", "at-once"] {
        drop(registry.get::<FakeModel>(id).unwrap());
    }
    // "0s": unloaded as soon as it is idle.
    assert!(!cache.contains("at-once"));
    clock.advance(Duration::from_secs(9 * 60));
    cache.expire();
    assert!(cache.contains("own") && cache.contains("inherits"));
    clock.advance(Duration::from_secs(2 * 60));
    cache.expire();
    assert!(!cache.contains("own"));
    assert!(cache.contains("inherits"));
    clock.advance(Duration::from_secs(20 * 60));
    cache.expire();
    assert!(!cache.contains("inherits"));
    clock.advance(Duration::from_secs(100 * 3600));
    cache.expire();
    assert!(cache.contains("never"));
}

#[test]
fn a_reaper_starts_only_when_some_model_expires() {
    let with = build(
        "[cache]\nbudget = 0\nkeep_alive = \"30m\"\n[models.a]\nbackend = \"flux\"\npath = \"a\"\n",
    )
    .unwrap();
    assert!(with.start_reaper().is_some());
    let without = build(
        "[cache]\nbudget = 0\n[models.a]\nbackend = \"flux\"\npath = \"a\"\nkeep_alive = \"0s\"\n\
         [models.b]\nbackend = \"flux\"\npath = \"b\"\npin = true\nkeep_alive = \"1m\"\n",
    )
    .unwrap();
    assert!(without.start_reaper().is_none());
}

#[test]
fn pools_reach_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _, _) = build_in(
        dir.path(),
        "[cache]\nbudget = \"1MiB\"\n\
         [models.a]\nbackend = \"flux\"\npath = \"a\"\npool = \"gpu0\"\noptions = { bytes = 600 }\n\
         [models.b]\nbackend = \"flux\"\npath = \"a\"\npool = \"gpu0\"\noptions = { bytes = 600 }\n\
         [pools.gpu0]\nbudget = 1000\n",
        &["a"],
    );
    assert_eq!(registry.pools(), [("gpu0".to_owned(), 1000)]);
    drop(registry.get::<FakeModel>("a").unwrap());
    let stats = registry.cache().stats();
    assert_eq!(stats.pools.len(), 1);
    assert_eq!((stats.pools[0].budget, stats.pools[0].charged), (1000, 600));
    // b does not fit the pool beside a: a is evicted although the global budget has room.
    drop(registry.get::<FakeModel>("b").unwrap());
    assert!(!registry.cache().contains("a"));
}

#[test]
fn cache_settings_reach_the_cache() {
    let text = |allow: bool| {
        format!(
            "[cache]\nbudget = 100\nallow_oversized = {allow}\n\
             [models.big]\nbackend = \"flux\"\npath = \"big\"\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let (strict, _, _) = build_in(dir.path(), &text(false), &["big"]);
    assert_eq!(strict.cache().budget(), 100);
    assert!(matches!(
        strict.get::<FakeModel>("big"),
        Err(CacheError::TooLarge { .. })
    ));
    let (lenient, _, _) = build_in(dir.path(), &text(true), &["big"]);
    assert!(lenient.get::<FakeModel>("big").is_ok());
}

#[test]
fn the_budget_override_replaces_the_file() {
    let config = Config::parse("[cache]\nbudget = \"1GiB\"\n", FILE).unwrap();
    let b = backends().0;
    let r = Registry::build_with(&b, &config, ModelCache::builder(), Some("3MiB")).unwrap();
    assert_eq!(r.cache().budget(), 3 << 20);
    let r = Registry::build_with(&b, &config, ModelCache::builder(), None).unwrap();
    assert_eq!(r.cache().budget(), 1 << 30);
    let e = Registry::build_with(&b, &config, ModelCache::builder(), Some("x")).unwrap_err();
    assert!(e.to_string().contains("MODELCACHE_BUDGET"), "{e}");
    let none = Config::parse("", FILE).unwrap();
    assert!(Registry::build_with(&b, &none, ModelCache::builder(), None).is_err());
}

/// Runs this very test in a child process with `MODELCACHE_BUDGET` set (the environment of
/// this process is never modified).
#[test]
fn the_budget_environment_variable_overrides_the_file() {
    const EXPECT: &str = "MODELCACHE_REGISTRY_TEST_EXPECT_BUDGET";
    if let Ok(expected) = std::env::var(EXPECT) {
        let config = Config::parse("[cache]\nbudget = \"1GiB\"\n", FILE).unwrap();
        let registry = Registry::build(&backends().0, &config).unwrap();
        assert_eq!(registry.cache().budget().to_string(), expected);
        return;
    }
    let run = |env: Option<&str>, expected: &str| {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child
            .args([
                "--exact",
                "the_budget_environment_variable_overrides_the_file",
            ])
            .env(EXPECT, expected);
        match env {
            Some(v) => child.env(modelcache_registry::BUDGET_ENV, v),
            None => child.env_remove(modelcache_registry::BUDGET_ENV),
        };
        let out = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("1 passed"), "{stdout}");
    };
    run(Some("3MiB"), &(3u64 << 20).to_string());
    run(None, &(1u64 << 30).to_string());
}

#[test]
fn check_reports_missing_paths_and_the_others_are_still_served() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _, _) = build_in(
        dir.path(),
        "[cache]\nbudget = 5000\n\
         [models.here]\nbackend = \"flux\"\npath = \"here\"\n\
         [models.gone]\nbackend = \"flux\"\npath = \"gone\"\n\
         [models.huge]\nbackend = \"ltx\"\npath = \"here\"\noptions = { bytes = 6000 }\n\
         [models.pooled]\nbackend = \"ltx\"\npath = \"here\"\npool = \"small\"\n\
         [pools.small]\nbudget = 10\n",
        &["here"],
    );
    let report = registry.check();
    assert!(!report.is_ok());
    let row = |id: &str| report.models.iter().find(|m| m.id == id).unwrap();
    assert!(row("here").problem.is_none());
    assert_eq!(row("here").bytes, Some(1000));
    assert!(matches!(row("gone").problem, Some(CheckProblem::Missing)));
    assert!(matches!(
        row("huge").problem,
        Some(CheckProblem::TooLarge {
            budget: 5000,
            pool: None,
            device: false,
        })
    ));
    let pooled = &row("pooled").problem;
    assert!(
        matches!(pooled, Some(CheckProblem::TooLarge { budget: 10, pool: Some(p), device: false }) if p == "small"),
        "{pooled:?}"
    );
    let problems: Vec<&str> = report.problems().map(|m| m.id.as_str()).collect();
    assert_eq!(problems, ["gone", "huge", "pooled"]);
    let text = report.to_string();
    assert!(
        text.contains("models.toml:6:9: model \"gone\"") && text.contains("does not exist"),
        "{text}"
    );
    assert!(text.contains("4 models, 3 with problems"), "{text}");

    // The missing model fails alone, when asked for.
    assert!(registry.get::<FakeModel>("here").is_ok());
    let e = registry.get::<FakeModel>("gone").unwrap_err();
    assert!(matches!(e, CacheError::Load { .. }), "{e:?}");
}

#[test]
fn check_reports_unreadable_checkpoints() {
    struct Broken;
    use modelcache_backend::{Backend, BackendError, LoadProgress, ModelSource, Opened};
    impl Backend for Broken {
        type Options = ();
        type Model = ();
        type Plan = ();
        fn name(&self) -> &str {
            "broken"
        }
        fn open(&self, src: &ModelSource<'_, ()>) -> Result<Opened<()>, BackendError> {
            Err(BackendError::invalid(src.path, "bad header"))
        }
        fn load(&self, _: (), _: u64, _: &dyn LoadProgress) -> Result<(), BackendError> {
            Ok(())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(
        dir.path(),
        "[cache]\nbudget = 0\n[models.b]\nbackend = \"broken\"\npath = \".\"\n",
        &[],
    );
    let config = Config::from_file(file).unwrap();
    let backends = Backends::new().with(Broken);
    let registry = Registry::build_with(&backends, &config, ModelCache::builder(), None).unwrap();
    let report = registry.check();
    let problem = report.models[0].problem.as_ref().unwrap();
    assert!(matches!(problem, CheckProblem::Unreadable(_)));
    assert!(problem.to_string().contains("bad header"));
}

#[test]
fn backends_register_in_one_line_and_replace_by_name() {
    let mut b = Backends::new();
    b.register(Fake {
        name: "flux",
        ..Fake::default()
    });
    assert_eq!(b.names(), ["flux"]);
    assert_eq!(b.origin("flux"), Some(&Origin::Linked));
    b.register(Fake {
        name: "flux",
        ..Fake::default()
    });
    assert_eq!(b.names(), ["flux"]);
    assert!(b.backend("flux").is_some() && b.backend("ltx").is_none());
    assert!(format!("{b:?}").contains("flux"));
}
