//! Running the command line as a user runs it, on generated tiny checkpoints in a temp folder.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub const BUNDLED: &str = include_str!("../../models.toml");

/// A folder holding the bundled models.toml and tiny checkpoints where it expects them.
pub fn workspace(config: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("models/generated");
    modelcache(dir.path())
        .args(["fixtures", "--scale", "tiny", "--out"])
        .arg(&out)
        .assert()
        .success();
    let file = dir.path().join("models.toml");
    std::fs::write(&file, config).unwrap();
    (dir, file)
}

pub fn modelcache(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("modelcache").unwrap();
    cmd.current_dir(dir)
        .env_remove("MODELCACHE_BUDGET")
        .env_remove("MODELCACHE_CONFIG");
    cmd
}

pub fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = modelcache(dir).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Cuts the last 10 bytes off the bundled Kokoro weights in workspace `dir`; returns the file.
pub fn truncate_kokoro_weights(dir: &Path) -> PathBuf {
    let weights = dir.join("models/generated/kokoro/kokoro-v1_0.safetensors");
    let len = std::fs::metadata(&weights).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&weights)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    weights
}
