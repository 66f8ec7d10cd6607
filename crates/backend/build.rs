//! Records the compiler's version, so that a dynamic plugin and the program loading it can
//! check that the same compiler built both (Rust has no stable ABI).

use std::process::Command;

fn main() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = Command::new(&rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|v| !v.is_empty());
    match version {
        Some(version) => println!("cargo:rustc-env=MODELCACHE_RUSTC_VERSION={version}"),
        None => {
            // Without it no plugin could be checked; refuse to build rather than guess.
            eprintln!("`{} --version` failed", rustc.to_string_lossy());
            std::process::exit(1);
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC");
}
