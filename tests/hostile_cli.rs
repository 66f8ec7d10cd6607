//! The command line on hostile checkpoints and configs: it never aborts, hangs or panics, it
//! prints no string from a file raw, and its exit code says what kind of failure it was.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{BUNDLED, run, truncate_kokoro_weights, workspace};

const GIB: u64 = 1 << 30;

/// Replaces voice pack `voice` of the bundled Kokoro model with one whose single tensor
/// `voice` is about `bytes` long (more rows, same row width), written sparse: no disk.
fn huge_voice(dir: &Path, voice: &str, bytes: u64) {
    let path = dir.join(format!(
        "models/generated/kokoro/voices/{voice}.safetensors"
    ));
    let original = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(original[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&original[8..8 + n]).unwrap();
    let dtype = header["voice"]["dtype"].as_str().unwrap().to_owned();
    let shape: Vec<u64> = serde_json::from_value(header["voice"]["shape"].clone()).unwrap();
    let row_bytes = shape[1] * shape[2] * if dtype == "F32" { 4 } else { 2 };
    let rows = bytes / row_bytes;
    let data = rows * row_bytes;
    let mut json = format!(
        "{{\"voice\":{{\"dtype\":\"{dtype}\",\"shape\":[{rows},{},{}],\"data_offsets\":[0,{data}]}}}}",
        shape[1], shape[2]
    );
    while json.len() % 8 != 0 {
        json.push(' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    std::fs::write(&path, &out).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(out.len() as u64 + data).unwrap();
}

/// Runs the command line with its address space capped at 4 GiB (`ulimit -v`), so that an
/// allocation of 100 GiB fails the same way on every machine.
fn run_capped(dir: &Path, args: &str) -> (Option<i32>, String) {
    let bin = assert_cmd::cargo::cargo_bin("modelcache");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v 4194304 && exec \"$0\" {args}"))
        .arg(bin)
        .current_dir(dir)
        .env("RAYON_NUM_THREADS", "2")
        .env("MALLOC_ARENA_MAX", "2")
        .env_remove("MODELCACHE_BUDGET")
        .env_remove("MODELCACHE_CONFIG")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A voice pack whose header claims 100 GiB, loaded with its address space capped:
/// * with `allow_oversized`, a lone model larger than the budget is admitted and the load
///   allocates what the hint said: memory that cannot be had is an error and exit code 1,
///   not SIGABRT ("memory allocation of 107374182400 bytes failed");
/// * with a configured `size`, that is what the cache reserves and so what the load may
///   allocate: refused before anything is allocated (it used to abort the same way), the
///   error naming the file and the `size` key.
#[cfg(unix)]
#[test]
fn a_100_gib_tensor_fails_with_an_error_not_an_abort() {
    let cases = [
        (
            (
                "keep_alive = \"30m\"",
                "keep_alive = \"30m\"\nallow_oversized = true",
            ),
            ["cannot allocate", "af_heart.safetensors"],
        ),
        (
            (
                "[models.kokoro]\nbackend = \"kokoro\"",
                "[models.kokoro]\nbackend = \"kokoro\"\nsize = \"64MiB\"",
            ),
            ["more than its configured `size`", "af_heart.safetensors"],
        ),
    ];
    for ((from, to), expected) in cases {
        let (dir, _) = workspace(&BUNDLED.replacen(from, to, 1));
        huge_voice(dir.path(), "af_heart", 100 * GIB);
        let (code, err) = run_capped(dir.path(), "load kokoro");
        assert_eq!(code, Some(1), "{to}: {err}");
        assert!(expected.iter().all(|e| err.contains(e)), "{to}: {err}");
    }
}

/// An index entry that clears the screen and prints a fake verdict is shown escaped: no
/// escape character reaches the terminal and no line of the output is the fake one.
#[test]
fn strings_from_checkpoints_are_escaped_when_printed() {
    let (dir, _) = workspace(BUNDLED);
    let index = dir.path().join(
        "models/generated/flux-schnell/transformer/diffusion_pytorch_model.safetensors.index.json",
    );
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap();
    let fake = "\u{1b}[2J\u{1b}[H\nall 5 models OK\n";
    value["weight_map"][format!("x{fake}")] = format!("{fake}.safetensors").into();
    std::fs::write(&index, serde_json::to_vec(&value).unwrap()).unwrap();

    for args in [
        &["check"][..],
        &["load", "flux-schnell"],
        &["plan", "flux-schnell"],
    ] {
        let (code, out, err) = run(dir.path(), args);
        assert_eq!(code, 1, "{args:?}: {out}\n{err}");
        for text in [&out, &err] {
            assert!(!text.contains('\u{1b}'), "{args:?}: raw escape: {text}");
            assert!(
                !text.lines().any(|l| l.trim() == "all 5 models OK"),
                "{args:?}: {text}"
            );
        }
        assert!(err.contains("\\u{1b}[2J"), "{args:?}: shown escaped: {err}");
    }
}

/// A cell longer than a formatter width (65,535) used to panic in the table code.
#[test]
fn a_model_id_of_70000_characters_is_listed() {
    let id = "m".repeat(70_000);
    let config = format!(
        "{BUNDLED}\n[models.{id}]\nbackend = \"ltx\"\npath = \"models/generated/ltx-video\"\n"
    );
    let (dir, _) = workspace(&config);
    let (code, out, err) = run(dir.path(), &["ls"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&id));
    let (code, out, err) = run(dir.path(), &["plan", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&id) && out.contains("fits"), "{err}");
}

/// Exit codes: 1 for a model that does not load, 2 for a usage error, 3 for a configuration
/// that cannot be read (load errors used to share 2 with usage errors).
#[test]
fn exit_codes_say_what_failed() {
    let (dir, file) = workspace(BUNDLED);
    truncate_kokoro_weights(dir.path());
    let (code, _, err) = run(dir.path(), &["load", "kokoro"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("kokoro-v1_0.safetensors"), "{err}");
    let (code, _, err) = run(dir.path(), &["load", "sdxl"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = run(dir.path(), &["load", "--no-such-flag"]);
    assert_eq!(code, 2);
    std::fs::write(&file, "[cache\n").unwrap();
    let (code, _, err) = run(dir.path(), &["load", "kokoro"]);
    assert_eq!(code, 3, "{err}");
}

/// A `config.json` that is a FIFO: `check` says so and finishes (it used to wait forever in
/// `open`), and so does a models.toml that is one.
#[cfg(unix)]
#[test]
fn fifos_are_reported_not_waited_on() {
    let (dir, file) = workspace(BUNDLED);
    let config = dir.path().join("models/generated/kokoro/config.json");
    std::fs::remove_file(&config).unwrap();
    modelcache_testkit::mkfifo(&config).unwrap();
    let (code, out, err) = run(dir.path(), &["check"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("config.json") && err.contains("FIFO"), "{err}");

    std::fs::remove_file(&file).unwrap();
    modelcache_testkit::mkfifo(&file).unwrap();
    let (code, _, err) = run(dir.path(), &["ls"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("FIFO"), "{err}");
}
