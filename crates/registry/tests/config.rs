//! models.toml parsing: every field, defaults, path resolution, and each kind of bad config.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use modelcache_registry::Budget;
use modelcache_registry::{Config, ConfigError, KeepAlive, ModelConfig};

const FULL: &str = r#"
[cache]
budget = "24GiB"
load_timeout = "2m"
keep_alive = "30m"
allow_oversized = true
eviction = "cost"

[models.flux-schnell]
backend = "flux"
path = "models/flux-schnell"
pin = true
keep_alive = "10m"
size = "12GiB"
options = { components = ["transformer", "vae"], dtype = "bf16" }
pool = "gpu0"

[models.kokoro]
backend = "kokoro"
path = "/opt/kokoro"

[models.ltx]
backend = "ltx"
path = "ltx"
keep_alive = "never"
size = 1024

[models.tts-fast]
backend = "kokoro"
path = "tts"
keep_alive = "0s"

[pools.gpu0]
budget = "16GiB"

[pools.half]
budget = "50%"

[plugins]
paths = ["plugins/libmine.so", "/abs/libother.so"]
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "/etc/mc/models.toml")
}

fn model<'a>(config: &'a Config, id: &str) -> &'a ModelConfig {
    config.models.get(id).unwrap()
}

#[test]
fn every_field_is_parsed() {
    let c = parse(FULL).unwrap();
    assert_eq!(c.file, Path::new("/etc/mc/models.toml"));
    assert_eq!(c.cache.budget, Some(Budget::Bytes(24 << 30)));
    assert_eq!(c.cache.load_timeout, Duration::from_secs(120));
    assert_eq!(
        c.cache.keep_alive,
        KeepAlive::After(Duration::from_secs(1800))
    );
    assert!(c.cache.allow_oversized);
    assert_eq!(c.cache.eviction, modelcache_core::EvictionPolicy::Cost);

    let flux = model(&c, "flux-schnell");
    assert_eq!(flux.id, "flux-schnell");
    assert_eq!(flux.backend, "flux");
    assert_eq!(flux.path, Path::new("/etc/mc/models/flux-schnell"));
    assert!(flux.pin);
    assert_eq!(
        flux.keep_alive,
        Some(KeepAlive::After(Duration::from_secs(600)))
    );
    assert_eq!(flux.size, Some(12 << 30));
    let options = flux.options.as_ref().unwrap();
    assert_eq!(options["dtype"].as_str(), Some("bf16"));
    assert_eq!(options["components"].as_array().map(Vec::len), Some(2));
    assert_eq!(flux.pool.as_deref(), Some("gpu0"));
    assert_eq!((flux.at.line, flux.at.column), (9, 9));
    assert_eq!((flux.backend_at.line, flux.backend_at.column), (10, 11));
    assert_eq!(flux.options_at.as_ref().map(|a| a.line), Some(15));

    let kokoro = model(&c, "kokoro");
    assert_eq!(kokoro.path, Path::new("/opt/kokoro"));
    assert!(!kokoro.pin);
    assert_eq!(kokoro.keep_alive, None);
    assert_eq!(kokoro.size, None);
    assert_eq!(kokoro.options, None);
    assert_eq!(kokoro.pool, None);

    let ltx = model(&c, "ltx");
    assert_eq!(ltx.keep_alive, Some(KeepAlive::Never));
    assert_eq!(ltx.size, Some(1024));
    assert_eq!(
        model(&c, "tts-fast").keep_alive,
        Some(KeepAlive::After(Duration::ZERO))
    );

    assert_eq!(c.pools["gpu0"].budget, Budget::Bytes(16 << 30));
    assert_eq!(c.pools["half"].budget, Budget::Percent(50.0));
    let plugins: Vec<&Path> = c.plugins.paths.iter().map(|p| p.path.as_path()).collect();
    assert_eq!(
        plugins,
        [
            Path::new("/etc/mc/plugins/libmine.so"),
            Path::new("/abs/libother.so")
        ]
    );
    assert_eq!(
        (c.plugins.paths[0].at.line, c.plugins.paths[0].at.column),
        (40, 10)
    );
}

#[test]
fn keep_alive_is_inherited_unless_the_model_opts_out() {
    let c = parse(FULL).unwrap();
    let policy = |id| c.policy(model(&c, id));
    assert_eq!(
        policy("flux-schnell").keep_alive,
        Some(Duration::from_secs(600))
    );
    assert_eq!(policy("kokoro").keep_alive, Some(Duration::from_secs(1800)));
    assert_eq!(policy("ltx").keep_alive, None);
    assert_eq!(policy("tts-fast").keep_alive, Some(Duration::ZERO));
    let p = policy("flux-schnell");
    assert!(p.pin);
    assert_eq!(p.size, Some(12 << 30));
    assert_eq!(p.pool.as_deref(), Some("gpu0"));
}

#[test]
fn an_empty_file_has_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.cache.budget, None);
    assert_eq!(
        c.cache.load_timeout,
        modelcache_registry::config::DEFAULT_LOAD_TIMEOUT
    );
    assert_eq!(c.cache.keep_alive, KeepAlive::Never);
    assert!(!c.cache.allow_oversized);
    assert_eq!(c.cache.eviction, modelcache_core::EvictionPolicy::Lru);
    assert!(c.models.is_empty() && c.pools.is_empty() && c.plugins.paths.is_empty());
    let c = parse("[models.a]\nbackend = \"flux\"\npath = \"a\"\n").unwrap();
    assert_eq!(c.policy(model(&c, "a")).keep_alive, None);
}

#[test]
fn relative_paths_resolve_against_the_files_folder() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("conf");
    std::fs::create_dir(&sub).unwrap();
    let file = sub.join("models.toml");
    std::fs::write(
        &file,
        "[models.a]\nbackend = \"flux\"\npath = \"weights/a\"\n\
         [models.b]\nbackend = \"flux\"\npath = \"../b\"\n",
    )
    .unwrap();
    // The working directory is not the file's folder.
    assert_ne!(std::env::current_dir().unwrap(), sub);
    let c = Config::from_file(&file).unwrap();
    assert_eq!(model(&c, "a").path, sub.join("weights/a"));
    assert_eq!(model(&c, "b").path, sub.join("../b"));
}

#[test]
fn home_and_variables_are_expanded() {
    // Variables that are set when cargo runs tests; nothing is written to the environment.
    let home = std::env::var("HOME").unwrap();
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let c = parse(
        "[models.a]\nbackend = \"flux\"\npath = \"~/models/a\"\n\
         [models.b]\nbackend = \"flux\"\npath = \"${CARGO_MANIFEST_DIR}/b\"\n\
         [models.c]\nbackend = \"flux\"\npath = \"$CARGO_MANIFEST_DIR/c\"\n",
    )
    .unwrap();
    assert_eq!(model(&c, "a").path, PathBuf::from(home).join("models/a"));
    assert_eq!(model(&c, "b").path, Path::new(&manifest).join("b"));
    assert_eq!(model(&c, "c").path, Path::new(&manifest).join("c"));
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn an_unknown_key_gives_line_column_and_what_was_expected() {
    let e = error("[models.flux-schnell]\nbackend = \"flux\"\npath = \"x\"\npinned = true\n");
    assert_eq!(
        e,
        "/etc/mc/models.toml:4:1: in [models.flux-schnell]: unknown key `pinned`; did you mean \
         `pin`? (known: `backend`, `path`, `pin`, `keep_alive`, `size`, `options`, `pool`, `uses`, `device`, `demote`)"
    );

    let e = error("[cahce]\nbudget = 0\n");
    assert_eq!(
        e,
        "/etc/mc/models.toml:1:2: unknown table `cahce`; did you mean `cache`? \
         (known: `cache`, `models`, `pools`, `devices`, `plugins`)"
    );

    let e = error("[cache]\nbudget = 0\nkeepalive = \"1m\"\n");
    assert!(
        e.starts_with("/etc/mc/models.toml:3:1: in [cache]: unknown key `keepalive`; did you mean `keep_alive`?"),
        "{e}"
    );

    let e = error("[pools.gpu0]\nbudget = 0\nsize = 1\n");
    assert!(
        e.contains(":3:1: in [pools.gpu0]: unknown key `size`"),
        "{e}"
    );
    let e = error("[plugins]\npath = []\n");
    assert!(
        e.contains(":2:1: in [plugins]: unknown key `path`; did you mean `paths`?"),
        "{e}"
    );
    let e = error("budget = \"1GiB\"\n[cache]\n");
    assert!(
        e.starts_with("/etc/mc/models.toml:1:1: `budget` is outside every table"),
        "{e}"
    );
}

#[test]
fn a_missing_key_is_named() {
    let e = error("[models.a]\npath = \"x\"\n");
    assert_eq!(
        e,
        "/etc/mc/models.toml:1:1: in [models.a]: missing key `backend`"
    );
    let e = error("[pools.gpu0]\n");
    assert_eq!(
        e,
        "/etc/mc/models.toml:1:1: in [pools.gpu0]: missing key `budget`"
    );
}

#[test]
fn every_problem_is_reported_in_one_pass_each_located() {
    let text = "[cache]\nbudget = \"-5GiB\"\nbugdet = 3\nload_timeout = \"2 fortnights\"\n\
                [models.a]\nbackend = \"flux\"\npath = \"a\"\nsize = \"99999999999999999999GiB\"\npinn = true\n\
                [models.b]\nbackend = \"flux\"\npath = \"b\"\n\
                [models.c]\npath = \"c\"\npool = \"gpu\"\n";
    let e = parse(text).unwrap_err();
    let lines: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "/etc/mc/models.toml:2:10: in [cache]: `budget`: invalid budget \"-5GiB\": a size cannot be negative",
            "/etc/mc/models.toml:3:1: in [cache]: unknown key `bugdet`; did you mean `budget`? \
             (known: `budget`, `load_timeout`, `keep_alive`, `allow_oversized`, `eviction`)",
            "/etc/mc/models.toml:4:16: in [cache]: `load_timeout`: invalid duration \"2 fortnights\": \
             unknown unit \"fortnights\"; use ns, us, ms, s, m, h or d \
             (write e.g. \"90s\", \"2m\", \"1h 30m\", \"0s\")",
            "/etc/mc/models.toml:8:8: in [models.a]: `size`: invalid size \"99999999999999999999GiB\": \
             too large: the most is 18446744073709551615 bytes (16 EiB)",
            "/etc/mc/models.toml:9:1: in [models.a]: unknown key `pinn`; did you mean `pin`? \
             (known: `backend`, `path`, `pin`, `keep_alive`, `size`, `options`, `pool`, `uses`, `device`, `demote`)",
            "/etc/mc/models.toml:13:1: in [models.c]: missing key `backend`",
            "/etc/mc/models.toml:15:8: unknown pool \"gpu\" for model \"c\"; known: none",
        ]
    );
    assert!(
        e.to_string()
            .starts_with("7 problems in /etc/mc/models.toml:\n  /etc/mc/models.toml:2:10")
    );
    let models: Vec<Option<&str>> = e.problems().iter().map(ConfigError::model).collect();
    assert_eq!(
        models,
        [None, None, None, Some("a"), Some("a"), Some("c"), Some("c")]
    );

    // Leniently: the models without a problem, defaults for bad values, and the problems.
    let (config, problems) = Config::parse_lenient(text, "/etc/mc/models.toml").unwrap();
    assert_eq!(problems.len(), 7);
    assert_eq!(config.models.keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(config.cache.budget, None);
    assert_eq!(
        config.cache.load_timeout,
        modelcache_registry::config::DEFAULT_LOAD_TIMEOUT
    );
    // A syntax error stops the parse: nothing can be read past it.
    assert!(Config::parse_lenient("[cache\n", "/etc/mc/models.toml").is_err());
}

#[test]
fn a_bad_size_says_which_value_and_why() {
    let e = error("[models.a]\nbackend = \"flux\"\npath = \"x\"\nsize = \"12 parsecs\"\n");
    assert!(
        e.starts_with("/etc/mc/models.toml:4:8: in [models.a]: `size`: "),
        "{e}"
    );
    assert!(
        e.contains("\"12 parsecs\"") && e.contains("unknown unit"),
        "{e}"
    );
    let e = error("[models.a]\nbackend = \"flux\"\npath = \"x\"\nsize = \"80%\"\n");
    assert!(e.contains("not a share of memory"), "{e}");
    let e = error("[cache]\nbudget = \"lots\"\n");
    assert!(
        e.contains(":2:10: in [cache]: `budget`: ") && e.contains("\"lots\""),
        "{e}"
    );
    let e = error("[pools.gpu0]\nbudget = \"150%\"\n");
    assert!(e.contains("`budget`") && e.contains("at most 100"), "{e}");
}

#[test]
fn a_bad_duration_says_which_value_and_why() {
    let e = error("[cache]\nload_timeout = \"2 fortnights\"\n");
    assert!(
        e.starts_with("/etc/mc/models.toml:2:16: in [cache]: `load_timeout`: "),
        "{e}"
    );
    assert!(e.contains("\"2 fortnights\""), "{e}");
    let e = error("[models.a]\nbackend = \"flux\"\npath = \"x\"\nkeep_alive = \"forever\"\n");
    assert!(
        e.contains("`keep_alive`") && e.contains("\"forever\"") && e.contains("never"),
        "{e}"
    );
    let e = error("[cache]\nkeep_alive = 30\n");
    assert!(e.contains("`keep_alive`") && e.contains("\"30m\""), "{e}");
}

#[test]
fn wrong_kinds_of_values_are_errors() {
    let e = error("[models.a]\nbackend = \"flux\"\npath = \"x\"\npin = \"yes\"\n");
    assert!(e.contains(":4:7:") && e.contains("`pin`"), "{e}");
    let e = error("[models.a]\nbackend = \"flux\"\npath = \"x\"\noptions = 3\n");
    assert!(e.contains(":4:11:") && e.contains("`options`"), "{e}");
    let e = error("[cache\n");
    assert!(
        e.starts_with("/etc/mc/models.toml:1:7: invalid table header; expected"),
        "{e}"
    );
}

#[test]
fn an_unknown_pool_is_an_error_naming_the_known_ones() {
    let e = error(
        "[models.a]\nbackend = \"flux\"\npath = \"x\"\npool = \"gpu1\"\n[pools.gpu0]\nbudget = 1\n",
    );
    assert_eq!(
        e,
        "/etc/mc/models.toml:4:8: unknown pool \"gpu1\" for model \"a\"; known: gpu0"
    );
}

#[test]
fn an_unset_variable_in_a_path_is_named() {
    let e = error("[models.a]\nbackend = \"flux\"\npath = \"$MODELCACHE_TEST_SURELY_UNSET/a\"\n");
    assert!(
        e.starts_with("/etc/mc/models.toml:3:8: model \"a\": path "),
        "{e}"
    );
    assert!(e.contains("MODELCACHE_TEST_SURELY_UNSET is not set"), "{e}");
    let e = error("[plugins]\npaths = [\"$MODELCACHE_TEST_SURELY_UNSET/p.so\"]\n");
    assert!(e.contains(":2:10: path") && e.contains("not set"), "{e}");
}

#[test]
fn an_unreadable_file_is_named() {
    let e = Config::from_file("/nonexistent/models.toml").unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(e.to_string().contains("/nonexistent/models.toml"));
}

#[test]
fn the_budget_comes_from_the_override_else_the_file() {
    let c = parse("[cache]\nbudget = \"1GiB\"\n").unwrap();
    assert_eq!(c.budget_bytes(None).unwrap(), 1 << 30);
    assert_eq!(c.budget_bytes(Some("512MiB")).unwrap(), 512 << 20);
    assert_eq!(c.budget_bytes(Some("0")).unwrap(), 0);
    let e = c.budget_bytes(Some("many")).unwrap_err().to_string();
    assert!(
        e.contains("MODELCACHE_BUDGET") && e.contains("\"many\""),
        "{e}"
    );

    let none = parse("").unwrap();
    let e = none.budget_bytes(None).unwrap_err();
    assert!(matches!(e, ConfigError::NoBudget { .. }), "{e}");
    assert!(e.to_string().contains("MODELCACHE_BUDGET"));
    assert_eq!(none.budget_bytes(Some("2GB")).unwrap(), 2_000_000_000);
}

#[test]
fn an_unknown_eviction_policy_is_a_located_error_listing_the_known_ones() {
    let e = parse("[cache]\nbudget = \"1GiB\"\neviction = \"mru\"\n").unwrap_err();
    let lines: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("/etc/mc/models.toml:3:12: in [cache]: `eviction`:")
            && lines[0].contains("\"mru\"")
            && lines[0].contains("shortest-keep-alive"),
        "{}",
        lines[0]
    );
}
