//! Hostile files through the real backends and the cache: a checkpoint swapped for a huge one
//! between the hint and the load, the same swap racing 200 loads, and FIFOs or links out of the
//! folder where a backend reads a file. Every outcome is a success or a typed error naming the
//! file; nothing aborts (a 100 GiB allocation), hangs (a FIFO) or reads outside the folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::faulty::Faulty;
use common::models::{balanced, names};
use modelcache_backend::{Backend, BackendError, BackendExt, ModelSource, NoProgress};
use modelcache_core::{CacheError, ModelCache, ModelPolicy};
use modelcache_reliability::race::{Outcome, SwapFixture, swap_race};
use modelcache_weights::WeightsError;

const GIB: u64 = 1 << 30;

fn weights_error(error: &CacheError) -> &WeightsError {
    let CacheError::Load { source, .. } = error else {
        panic!("{error:?}");
    };
    let BackendError::Checkpoint { source, .. } = &**source else {
        panic!("{source:?}");
    };
    source.downcast_ref::<WeightsError>().unwrap()
}

/// The open reads the real voice pack and the cache reserves its bytes; then the file is
/// replaced by one whose header claims 100 GiB. The load of the opened plan finds the file is
/// not the one it opened and fails as changed, allocating nothing for it (before the fix the
/// load sized its buffers from the new header, allocated 100 GiB and the process aborted).
/// The next request opens the model afresh.
#[test]
fn a_checkpoint_swapped_for_a_huge_one_after_the_hint_is_changed_not_an_abort() {
    let fixture = std::sync::Arc::new(SwapFixture::new().unwrap());
    let victim = fixture.target.clone();
    let f = std::sync::Arc::clone(&fixture);
    let loader = Faulty::new(fixture.loader()).after_hint(move || {
        f.swap(true).unwrap();
        Ok(())
    });
    let cache = ModelCache::new(GIB);
    cache
        .register("kokoro", loader.into_arc(), ModelPolicy::default())
        .unwrap();
    let error = cache.request("kokoro", &NoProgress).unwrap_err();
    names(&error, "kokoro", &victim);
    assert!(
        matches!(weights_error(&error), WeightsError::Changed { .. }),
        "{error}"
    );
    assert_eq!(balanced(&cache).charged, 0);

    // The huge version is still there: the next hint sees it, and it does not fit.
    let error = cache.request("kokoro", &NoProgress).unwrap_err();
    assert!(matches!(error, CacheError::TooLarge { .. }), "{error}");
    fixture.swap(false).unwrap();
    cache.request("kokoro", &NoProgress).unwrap();
    balanced(&cache);
}

/// 200 loads while the voice pack is swapped back and forth as fast as another thread can:
/// each is a success or one of the typed errors this race can cause (the hint saw the huge
/// version; the load saw a file other than the one sized), and nothing stays charged.
/// `cargo run -p modelcache-reliability --release --example swap_race` runs 1,000 loads with a
/// swap every 0.5 ms and prints the counts.
#[test]
fn loads_racing_a_swapped_checkpoint_end_in_successes_or_typed_errors() {
    let fixture = SwapFixture::new().unwrap();
    let report = swap_race(&fixture, 200, None, GIB).unwrap();
    assert!(report.unexpected.is_empty(), "{report:?}");
    let allowed = [Outcome::Loaded, Outcome::TooLarge, Outcome::Changed];
    assert!(
        report.outcomes.keys().all(|o| allowed.contains(o)),
        "{report:?}"
    );
    assert_eq!(report.outcomes.values().sum::<usize>(), 200);
}

fn mkfifo(path: &Path) {
    modelcache_testkit::mkfifo(path).unwrap();
}

/// Opens and loads `backend` on `path`, and checks each fails naming `file` and saying it is a
/// FIFO (each used to block forever in `open`).
fn refuses_fifo<B: Backend>(backend: &B, path: &Path, file: &Path) {
    let options = B::Options::default();
    let source = ModelSource::new("m", path, &options);
    let errors = [
        backend.open(&source).err(),
        backend.open_and_load(&source, &NoProgress).err(),
    ];
    for e in errors {
        let e = e.unwrap_or_else(|| panic!("{} was accepted", file.display()));
        let text = e.to_string();
        assert!(
            text.contains(&*file.to_string_lossy()) && text.contains("FIFO"),
            "{text}"
        );
    }
}

#[cfg(unix)]
#[test]
fn fifos_where_backends_read_files_are_refused_not_waited_on() {
    use modelcache_testkit::{
        FluxSpec, KokoroSpec, LtxSpec, write_flux_diffusers, write_kokoro_mlx, write_ltx_diffusers,
    };
    let dir = tempfile::tempdir().unwrap();

    let kokoro = dir.path().join("kokoro");
    write_kokoro_mlx(&kokoro, &KokoroSpec::tiny()).unwrap();
    mkfifo(&kokoro.join("config.json"));
    refuses_fifo(
        &modelcache_kokoro::BACKEND,
        &kokoro,
        &kokoro.join("config.json"),
    );

    let flux = dir.path().join("flux");
    write_flux_diffusers(&flux, &FluxSpec::tiny()).unwrap();
    mkfifo(&flux.join("vae/config.json"));
    refuses_fifo(
        &modelcache_flux::BACKEND,
        &flux,
        &flux.join("vae/config.json"),
    );

    let ltx = dir.path().join("ltx");
    write_ltx_diffusers(&ltx, &LtxSpec::tiny()).unwrap();
    mkfifo(&ltx.join("transformer/config.json"));
    refuses_fifo(
        &modelcache_ltx::BACKEND,
        &ltx,
        &ltx.join("transformer/config.json"),
    );

    // An LTX model path that is itself a FIFO named like a single file.
    let single = dir.path().join("ltx-video.safetensors");
    mkfifo(&single);
    refuses_fifo(&modelcache_ltx::BACKEND, &single, &single);
}

/// A voice pack that links out of the model folder is refused before it is read, by hint and
/// load alike; the model folder itself may be a link.
#[cfg(unix)]
#[test]
fn files_linking_out_of_the_model_folder_are_refused() {
    use std::os::unix::fs::symlink;
    let fixture = SwapFixture::new().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let moved = elsewhere.path().join("af_heart.safetensors");
    std::fs::rename(&fixture.target, &moved).unwrap();
    symlink(&moved, &fixture.target).unwrap();
    let cache = ModelCache::new(GIB);
    cache
        .register("kokoro", fixture.loader(), ModelPolicy::default())
        .unwrap();
    let error = cache.request("kokoro", &NoProgress).unwrap_err();
    names(&error, "kokoro", &fixture.target);
    assert!(
        matches!(weights_error(&error), WeightsError::LinkOutside { .. }),
        "{error}"
    );

    // The same link inside the folder is followed.
    std::fs::remove_file(&fixture.target).unwrap();
    let inside = fixture.model.join("voices/real-heart.bin");
    std::fs::rename(&moved, &inside).unwrap();
    symlink("real-heart.bin", &fixture.target).unwrap();
    cache.request("kokoro", &NoProgress).unwrap();
    balanced(&cache);
}

/// The fuzz harness's special-file and swap modes (bits 6-7 of a case's options), on every
/// file of every plugin's fixture: a FIFO in place of any file is refused or unread, never
/// waited on; a file swapped for its own header plus a huge claim after the hint never makes a
/// load hold more than the hint.
#[cfg(unix)]
#[test]
fn every_file_of_every_fixture_as_a_fifo_or_swapped_after_the_hint() {
    use modelcache_reliability::{Case, Failure, Fixture, Mode, Plugin};
    for plugin in Plugin::ALL {
        let fixture = Fixture::tiny(plugin).unwrap();
        for file in 0..fixture.files().len() {
            let huge =
                br#"{"x":{"dtype":"U8","shape":[107374182400],"data_offsets":[0,107374182400]}}"#;
            let mut swapped = (huge.len() as u64).to_le_bytes().to_vec();
            swapped.extend_from_slice(huge);
            for (options, bytes) in [(0x80u8, &b""[..]), (0x40, &swapped[..])] {
                let case = Case {
                    file,
                    options,
                    bytes,
                };
                assert!(matches!(case.mode(), Mode::Fifo | Mode::SwapAfterHint));
                match fixture.check(&case) {
                    Ok(_) => {}
                    Err(Failure::Violation(v)) => panic!("{plugin:?} file {file}: {v}"),
                    Err(Failure::Harness(e)) => panic!("harness: {e}"),
                }
            }
        }
        // Restored: the pristine fixture loads, hint equal to the loaded size.
        let first = Case {
            file: 0,
            options: 0,
            bytes: &fixture.seed(0, 0).unwrap()[2..],
        };
        let outcome = fixture.check(&first).unwrap();
        assert!(
            matches!(outcome, modelcache_reliability::Outcome::Loaded { .. }),
            "{plugin:?}: {outcome:?}"
        );
    }
}
