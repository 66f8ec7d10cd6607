//! The command line, run as a user runs it, on generated tiny checkpoints in a temp folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{BUNDLED, run, truncate_kokoro_weights, workspace};

#[test]
fn check_passes_on_the_bundled_config() {
    let (dir, _) = workspace(BUNDLED);
    let (code, out, err) = run(dir.path(), &["check"]);
    assert_eq!(code, 0, "{out}\n{err}");
    for id in ["flux-schnell", "flux-mflux-4bit", "ltx-video", "kokoro"] {
        assert!(out.contains(id), "{out}");
    }
    assert!(out.contains("all 4 models OK"), "{out}");
}

#[test]
fn check_reports_a_missing_folder_a_corrupt_file_and_an_unknown_backend_together() {
    let config = format!(
        "{BUNDLED}\n[models.gone]\nbackend = \"ltx\"\npath = \"models/nowhere\"\n\n\
         [models.typo]\nbackend = \"fluxx\"\npath = \"models/generated/flux-schnell\"\n"
    );
    let (dir, _) = workspace(&config);
    truncate_kokoro_weights(dir.path());
    let (code, out, err) = run(dir.path(), &["check"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("3 problem(s)"), "{err}");
    assert!(
        err.contains("\"gone\"") && err.contains("nowhere"),
        "missing folder: {err}"
    );
    assert!(
        err.contains("\"kokoro\"") && err.contains("kokoro-v1_0.safetensors"),
        "corrupt file: {err}"
    );
    assert!(
        err.contains("unknown backend \"fluxx\" for model \"typo\"; known: flux, kokoro, ltx"),
        "{err}"
    );
    assert!(err.contains("models.toml:"), "locations: {err}");
}

#[test]
fn ls_lists_models_and_budgets() {
    let (dir, _) = workspace(BUNDLED);
    let (code, out, err) = run(dir.path(), &["ls"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("budget 160.00 MiB") && out.contains("video 96.00 MiB"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("kokoro") && l.contains("yes")),
        "kokoro is pinned: {out}"
    );
}

#[test]
fn plan_says_what_fits_without_loading() {
    let config = BUNDLED.replace("budget = \"160MiB\"", "budget = \"1MiB\"");
    let (dir, _) = workspace(&config);
    let (code, out, _) = run(dir.path(), &["plan", "kokoro"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("load; evicts nothing") && out.contains("fits"),
        "{out}"
    );
    // Kokoro is pinned in the bundled config: once loaded it holds its room for good.
    let (code, out, _) = run(dir.path(), &["plan", "kokoro", "ltx-video"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("would fail") && out.contains("kokoro") && out.contains("pinned"),
        "{out}"
    );
}

#[test]
fn load_reports_measured_size_and_hint_error() {
    let (dir, _) = workspace(BUNDLED);
    let (code, out, err) = run(dir.path(), &["load", "kokoro", "flux-schnell"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let row = out
        .lines()
        .find(|l| l.trim_start().starts_with("kokoro"))
        .unwrap();
    assert!(row.contains("+0.00%") && row.contains("loaded"), "{out}");
    assert!(out.contains("charged"), "{out}");
}

#[test]
fn bench_json_measures_every_model_and_the_trace() {
    let config = BUNDLED
        .replace("budget = \"160MiB\"", "budget = \"1500KiB\"")
        .replace("96MiB", "1MiB");
    let (dir, _) = workspace(&config);
    let args = [
        "bench",
        "--json",
        "--requests",
        "60",
        "--clients",
        "3",
        "--hit-samples",
        "20",
        "--load-runs",
        "1",
        "--hold",
        "0s",
    ];
    let (code, out, err) = run(dir.path(), &args);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 4);
    for m in models {
        assert!(m["measured_bytes"].as_u64().unwrap() > 0);
        assert!(m["hint_error_pct"].as_f64().unwrap().abs() <= 1.0, "{m}");
        assert_eq!(m["hit"]["count"], 20);
    }
    let t = &v["trace"];
    assert_eq!(
        t["hits"].as_u64().unwrap() + t["misses"].as_u64().unwrap(),
        60
    );
    assert_eq!(t["errors"], 0, "{t}");
    assert!(
        t["evictions"].as_u64().unwrap() > 0,
        "a 1500 KiB budget evicts: {t}"
    );
    assert!(t["peak_charged"].as_u64().unwrap() <= 1500 << 10);
}

#[test]
fn errors_are_clear() {
    // Exit codes: 3 for a configuration that cannot be read or parsed, 2 for a usage error.
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(dir.path(), &["ls"]);
    assert_eq!(code, 3);
    assert!(
        err.contains("models.toml") && err.contains("--config"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("models.toml"),
        "[cache]\nbudget = \"1GiB\"\nbugdet = 3\n",
    )
    .unwrap();
    let (code, _, err) = run(dir.path(), &["ls"]);
    assert_eq!(code, 3);
    assert!(
        err.contains("models.toml:3:1") && err.contains("bugdet"),
        "{err}"
    );

    let (dir, _) = workspace(BUNDLED);
    let (code, _, err) = run(dir.path(), &["load", "sdxl"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown model \"sdxl\"") && err.contains("kokoro"),
        "{err}"
    );
}

#[test]
fn the_bundled_fixtures_are_generated_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    // A tiny copy of the bundled config: only kokoro, so generation stays quick in debug builds.
    let config = "[cache]\nbudget = \"1GiB\"\n[models.kokoro]\nbackend = \"kokoro\"\npath = \"models/generated/kokoro\"\n";
    std::fs::write(dir.path().join("models.toml"), config).unwrap();
    let (code, out, err) = run(dir.path(), &["check"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("Generating the bundled checkpoints"), "{err}");
    let (_, _, err) = run(dir.path(), &["check"]);
    assert!(!err.contains("Generating"), "generated once: {err}");
}
