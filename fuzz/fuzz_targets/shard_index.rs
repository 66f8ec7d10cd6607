//! A sharded checkpoint's `*.safetensors.index.json` replaced by the fuzzer, in a folder that
//! holds real shards (a tiny Flux diffusers transformer): `ShardIndex::read`,
//! `Checkpoint::open_index` and `Checkpoint::open_dir` return Ok or an error naming a file of
//! the folder, never panic. (The weights crate reads indexes from files only, so this goes
//! through the file system.)
#![no_main]

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelcache_reliability::inventory::names_file;
use modelcache_testkit::{FluxSpec, write_flux_diffusers};
use modelcache_weights::{Checkpoint, ShardIndex};

struct Folder {
    _dir: tempfile::TempDir,
    transformer: PathBuf,
    index: PathBuf,
}

static FOLDER: OnceLock<Folder> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let folder = FOLDER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        write_flux_diffusers(dir.path(), &FluxSpec::tiny()).expect("the fixture is written");
        let transformer = dir.path().join("transformer");
        let index = transformer.join("diffusion_pytorch_model.safetensors.index.json");
        Folder {
            _dir: dir,
            transformer,
            index,
        }
    });
    std::fs::write(&folder.index, data).expect("the index is written");
    let check = |r: Result<(), modelcache_weights::WeightsError>| {
        if let Err(Err(v)) = r.map_err(|e| names_file(&e, &folder.transformer)) {
            panic!("{v}");
        }
    };
    match ShardIndex::read(&folder.index) {
        Ok(index) => {
            // Shards stay in the index's folder: one plain component. (`ShardIndex` accepts
            // "x.safetensors/" and "x.safetensors/." as that component; opening them then fails
            // with "shard ... does not exist", naming it: see tests/parsers.rs.)
            for shard in index.shards() {
                let mut parts = Path::new(shard).components();
                assert!(
                    matches!(
                        (parts.next(), parts.next()),
                        (Some(Component::Normal(_)), None)
                    ),
                    "shard {shard:?} leaves the folder"
                );
            }
        }
        Err(e) => check(Err(e)),
    }
    check(Checkpoint::open_index(&folder.index).map(|c| {
        assert!(
            c.files()
                .iter()
                .all(|f| f.path().starts_with(&folder.transformer))
        );
    }));
    check(Checkpoint::open_dir(&folder.transformer).map(drop));
});
