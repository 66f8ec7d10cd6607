//! Dynamic plugins end to end: cargo builds the example plugin as a cdylib, the config lists
//! it under `[plugins]`, and a model it provides is loaded and served. Loaded that way, it
//! passes the conformance suite's contract checks, the same ones its linked-in form passes. A
//! build that declares another contract version is refused.
//!
//! The plugin is built by a nested `cargo build` with the same cargo, workspace, target
//! directory (cargo resolves it from the same environment and config) and profile as this test.
//! The outer `cargo test` no longer holds the build lock while tests run, so this cannot
//! deadlock. Both variants are written to the same file name, so builds from this file are
//! serialized by a mutex and each result is copied out before the next build; a copy is also
//! checked to be the variant asked for (and rebuilt if not), which keeps test runners that run
//! tests in separate processes from mixing them up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use modelcache_backend::DynBackend;
use modelcache_conformance::{Case, DynSuite};
use modelcache_core::ModelCache;
use modelcache_registry::plugin::{RUSTC_VERSION, library_file_name};
use modelcache_registry::{Backends, Config, Origin, PluginError, Registry, RegistryError};

const PACKAGE: &str = "modelcache-example-plugin";
const LIBRARY: &str = "modelcache_example_plugin";

static BUILD: Mutex<()> = Mutex::new(());

/// The contract version the `pretend-mismatch` build declares.
const PRETEND: &str = "0.0.0-pretend";

/// Builds the example plugin with `features` and copies the library into `dest`.
fn build_plugin(features: &[&str], dest: &Path) -> PathBuf {
    let _one_build_at_a_time = BUILD.lock().unwrap_or_else(PoisonError::into_inner);
    let pretend = features.contains(&"pretend-mismatch");
    for _ in 0..3 {
        let copy = build_and_copy(features, dest);
        let bytes = std::fs::read(&copy).unwrap();
        if String::from_utf8_lossy(&bytes).contains(PRETEND) == pretend {
            return copy;
        }
        // Another process built the other variant between our build and our copy.
    }
    panic!("could not build {PACKAGE} with features {features:?}");
}

fn build_and_copy(features: &[&str], dest: &Path) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // This test runs from <target>/<profile dir>/deps/.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let mut cargo = Command::new(env!("CARGO"));
    cargo.current_dir(&workspace).args([
        "build",
        "--package",
        PACKAGE,
        "--lib",
        "--message-format=json-render-diagnostics",
    ]);
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cargo.arg("--release");
        }
        Some(custom) => {
            cargo.args(["--profile", custom]);
        }
    }
    if !features.is_empty() {
        cargo.args(["--features", &features.join(",")]);
    }
    let out = cargo.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo build of {PACKAGE} failed:\n{stderr}"
    );
    let built = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == LIBRARY)
        .flat_map(|msg| msg["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .find(|f| f.file_name() == Some(library_file_name(LIBRARY).as_os_str()))
        .unwrap_or_else(|| panic!("cargo built no {LIBRARY} cdylib:\n{stderr}"));
    std::fs::create_dir_all(dest).unwrap();
    let copy = dest.join(library_file_name(LIBRARY));
    std::fs::copy(&built, &copy).unwrap();
    copy
}

/// A folder with a checkpoint for the example backend.
fn checkpoint(dir: &Path, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("model.txt"), text).unwrap();
}

/// The example backend, from its library built and loaded once per test process.
fn dynamic_example() -> Arc<dyn DynBackend> {
    static BACKEND: OnceLock<Arc<dyn DynBackend>> = OnceLock::new();
    let backend = BACKEND.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let library = build_plugin(&[], dir.path());
        let mut backends = Backends::new();
        // SAFETY: the example plugin, built just now by the same cargo from this workspace.
        #[allow(unsafe_code)]
        unsafe { backends.load_plugin(&library) }.unwrap();
        // The library stays mapped (plugins are never unloaded); its file may go.
        Arc::clone(backends.backend("example").unwrap())
    });
    Arc::clone(backend)
}

/// The example plugin's conformance cases, as models.toml would configure them.
fn dynamic_suite() -> DynSuite<String> {
    let text = |text: &'static str| {
        move |dir: &Path| {
            let model = dir.join("hello");
            checkpoint(&model, text);
            Ok(model)
        }
    };
    DynSuite::new(dynamic_example())
        .case(Case::new("text", text("hello, world")))
        .case(
            Case::new("text-repeated-uppercase", text("hi "))
                .options(|| toml::from_str("uppercase = true\nrepeat = 4").unwrap()),
        )
}

// The line a plugin's own tests write, here for its dynamic library.
modelcache_conformance::contract_tests!(dynamic_suite());

#[test]
fn a_plugin_loads_through_the_config_and_serves_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let library = build_plugin(&[], &dir.path().join("plugins"));
    checkpoint(&dir.path().join("models/hello"), "hello");
    let file = dir.path().join("models.toml");
    let lib_name = library_file_name(LIBRARY).into_string().unwrap();
    std::fs::write(
        &file,
        format!(
            "[cache]\nbudget = \"1MiB\"\n\n[plugins]\npaths = [\"plugins/{lib_name}\"]\n\n\
             [models.hello]\nbackend = \"example\"\npath = \"models/hello\"\n\
             options = {{ uppercase = true, repeat = 2 }}\n"
        ),
    )
    .unwrap();
    let config = Config::from_file(&file).unwrap();
    assert_eq!(config.plugins.paths[0].path, library);

    let mut backends = Backends::new();
    // SAFETY: the example plugin, built just now by the same cargo from this workspace.
    #[allow(unsafe_code)]
    let loaded = unsafe { backends.load_plugins(&config) }.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].backends, ["example"]);
    assert_eq!(
        loaded[0].contract_version,
        modelcache_backend::CONTRACT_VERSION
    );
    assert_eq!(loaded[0].rustc_version, RUSTC_VERSION);
    assert_eq!(
        backends.origin("example"),
        Some(&Origin::Plugin(library.clone()))
    );

    let registry = Registry::build_with(&backends, &config, ModelCache::builder(), None).unwrap();
    assert!(registry.check().is_ok(), "{}", registry.check());
    let hello = registry.get::<String>("hello").unwrap();
    assert_eq!(*hello.lock(), "HELLOHELLO");
    assert_eq!(hello.backend(), "example");
    assert!(hello.bytes() >= 10);
    assert!(registry.get::<Vec<u8>>("hello").is_err());

    // The plugin's options type checks options when the config is loaded.
    let bad = Config::parse(
        "[cache]\nbudget = 0\n\
         [models.m]\nbackend = \"example\"\npath = \"m\"\noptions = { repeat = 0 }\n",
        &file,
    )
    .unwrap();
    let e = Registry::build_with(&backends, &bad, ModelCache::builder(), None).unwrap_err();
    assert!(e.to_string().contains("`repeat` is 0"), "{e}");
    let bad = Config::parse(
        "[cache]\nbudget = 0\n\
         [models.m]\nbackend = \"example\"\npath = \"m\"\noptions = { shout = true }\n",
        &file,
    )
    .unwrap();
    let e = Registry::build_with(&backends, &bad, ModelCache::builder(), None).unwrap_err();
    assert!(e.to_string().contains("unknown field `shout`"), "{e}");

    // A second copy of the same backend is refused, and names who has it.
    // SAFETY: as above.
    #[allow(unsafe_code)]
    let again = unsafe { backends.load_plugin(&library) }.unwrap_err();
    assert!(matches!(again, PluginError::Conflict { .. }), "{again:?}");
    assert!(again.to_string().contains("already provides"), "{again}");
}

#[test]
fn a_plugin_built_against_another_contract_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let library = build_plugin(&["pretend-mismatch"], &dir.path().join("mismatched"));
    let mut backends = Backends::new();
    // SAFETY: the example plugin, built just now by the same cargo from this workspace; the
    // loader refuses it before calling any Rust-ABI function.
    #[allow(unsafe_code)]
    let e = unsafe { backends.load_plugin(&library) }.unwrap_err();
    let PluginError::Version {
        component,
        plugin,
        host,
        ..
    } = &e
    else {
        panic!("expected a version mismatch, got {e:?}");
    };
    assert_eq!(
        (*component, plugin.as_str()),
        ("modelcache-backend", PRETEND)
    );
    assert_eq!(host, modelcache_backend::CONTRACT_VERSION);
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("{PRETEND:?}"))
            && msg.contains(&format!("\"{}\"", modelcache_backend::CONTRACT_VERSION)),
        "{msg}"
    );
    assert!(backends.names().is_empty());

    // Listed in a config, the refusal also says where it is listed.
    let config = Config::parse(
        &format!("[plugins]\npaths = [{:?}]\n", library.to_str().unwrap()),
        dir.path().join("models.toml"),
    )
    .unwrap();
    // SAFETY: as above.
    #[allow(unsafe_code)]
    let e = unsafe { backends.load_plugins(&config) }.unwrap_err();
    assert!(matches!(e, RegistryError::Plugin { .. }), "{e:?}");
    assert!(e.to_string().contains("models.toml:2:10: plugin "), "{e}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_library_that_is_not_a_plugin_is_refused() {
    let candidates = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib/aarch64-linux-gnu/libm.so.6",
        "/usr/lib64/libm.so.6",
        "/lib64/libm.so.6",
        "/usr/lib/libm.so.6",
    ];
    let Some(libm) = candidates.iter().map(Path::new).find(|p| p.exists()) else {
        eprintln!("no libm found at a usual path; nothing to test");
        return;
    };
    let mut backends = Backends::new();
    // SAFETY: the C math library; loading it runs no code that matters, and it exports none
    // of the plugin symbols, which is what is tested.
    #[allow(unsafe_code)]
    let e = unsafe { backends.load_plugin(libm) }.unwrap_err();
    assert!(
        matches!(
            e,
            PluginError::NotAPlugin {
                symbol: "modelcache_plugin_abi",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("not a modelcache plugin"), "{e}");
}
