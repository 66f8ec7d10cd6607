//! The example backend linked in: registered in one line, configured in models.toml, served.
//! And its plugin entry points, called in-process as the loader would call them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use modelcache_core::ModelCache;
use modelcache_example_plugin::{ExampleBackend, MODEL_FILE};
use modelcache_registry::{Backends, Config, Registry};

#[test]
fn registers_in_one_line_and_serves_a_configured_model() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("hello")).unwrap();
    std::fs::write(dir.path().join("hello").join(MODEL_FILE), "hi ").unwrap();
    let file = dir.path().join("models.toml");
    std::fs::write(
        &file,
        "[cache]\nbudget = \"1MiB\"\n\
         [models.hello]\nbackend = \"example\"\npath = \"hello\"\noptions = { repeat = 3 }\n\
         [models.missing]\nbackend = \"example\"\npath = \"nowhere\"\n",
    )
    .unwrap();
    let config = Config::from_file(&file).unwrap();

    let backends = Backends::new().with(ExampleBackend);
    let registry = Registry::build_with(&backends, &config, ModelCache::builder(), None).unwrap();

    let report = registry.check();
    let problems: Vec<&str> = report.problems().map(|m| m.id.as_str()).collect();
    assert_eq!(problems, ["missing"]);
    assert_eq!(registry.cache().plan(&["hello"]).unwrap().steps[0].bytes, 9);
    let hello = registry.get::<String>("hello").unwrap();
    assert_eq!(*hello.lock(), "hi hi hi ");
    assert!(registry.get::<String>("missing").is_err());
}

#[cfg(not(feature = "pretend-mismatch"))]
#[test]
fn the_entry_points_declare_and_register_the_backend() {
    use modelcache_backend::plugin::{ABI_VERSION, RUSTC_VERSION, RawStr};

    // SAFETY: the declaration's strings point at this crate's static data.
    #[allow(unsafe_code)]
    fn text(raw: RawStr) -> String {
        let bytes = unsafe { std::slice::from_raw_parts(raw.ptr, raw.len) };
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    assert_eq!(
        modelcache_example_plugin::modelcache_plugin_abi(),
        ABI_VERSION
    );
    let decl = modelcache_example_plugin::modelcache_plugin_declare();
    assert_eq!(decl.abi_version, ABI_VERSION);
    assert_eq!(
        text(decl.contract_version),
        modelcache_backend::CONTRACT_VERSION
    );
    assert_eq!(text(decl.rustc_version), RUSTC_VERSION);
    assert_eq!(decl.backend_count, 1);
    assert_eq!(text((decl.backend_name)(0)), "example");
    assert_eq!(text((decl.backend_name)(1)), "");

    let mut names = Vec::new();
    modelcache_example_plugin::modelcache_plugin_register(&mut |b| names.push(b.name().to_owned()));
    assert_eq!(names, ["example"]);
}
