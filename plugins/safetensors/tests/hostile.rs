//! A hostile reviewer's cases: checkpoints from the internet are hostile input. Each test
//! asserts the promised behaviour (a clear typed error naming the file and what is wrong, no
//! panic, no hang, no unbounded allocation, a hint equal to the loaded bytes).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{load, open_err, source};
use modelcache_backend::{Backend, BackendError, BackendExt, NoProgress};
use modelcache_safetensors::{BACKEND, LoadDtype, SafetensorsOptions};
use modelcache_testkit::{BertSpec, mkfifo, write_bert};
use modelcache_weights::candle_core::DType;
use modelcache_weights::{Dtype, TensorData, WeightsError, write_safetensors};

/// The `WeightsError` inside a backend error, if it carries one.
fn weights(e: &BackendError) -> Option<&WeightsError> {
    match e {
        BackendError::Checkpoint { source, .. } => source.downcast_ref::<WeightsError>(),
        _ => None,
    }
}

/// A file of the named tensors, each `U8`/`F32`... with zeroed data.
fn write(path: &Path, tensors: &[(&str, Dtype, &[usize])]) {
    let datas: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, d, s)| {
            let n: u64 = s.iter().map(|&x| x as u64).product();
            vec![0u8; usize::try_from(d.bytes_for(n).unwrap()).unwrap()]
        })
        .collect();
    write_safetensors(
        path,
        tensors
            .iter()
            .zip(&datas)
            .map(|((n, d, s), data)| TensorData::new(n, *d, s, data)),
        None,
    )
    .unwrap();
}

/// A file written byte by byte: `header` JSON and `data` zero bytes after it.
fn raw(path: &Path, header: &str, data: usize) {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.resize(bytes.len() + data, 0);
    std::fs::write(path, bytes).unwrap();
}

fn bert(dir: &Path) -> PathBuf {
    write_bert(dir, &BertSpec::tiny()).unwrap();
    dir.to_path_buf()
}

// ---------------------------------------------------------------------------------------------
// prefix and skip

/// BUG: a tensor named exactly the prefix is handed over under the empty name `""`.
#[test]
fn a_tensor_named_exactly_the_prefix_is_refused_not_renamed_to_the_empty_string() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.safetensors");
    write(
        &file,
        &[("a.", Dtype::F32, &[2]), ("a.x", Dtype::F32, &[2])],
    );
    let options = SafetensorsOptions::default().with_prefix("a.");
    let err = open_err(dir.path(), &options);
    let text = err.to_string();
    assert!(matches!(err, BackendError::Invalid { .. }), "{err:?}");
    assert!(
        text.contains("model.safetensors") && text.contains("\"a.\"") && text.contains("empty"),
        "{text}"
    );
}

/// Not a bug: every kept name starts with the prefix, so stripping it cannot make two names
/// collide; a stored name equal to a stripped one is simply not selected.
#[test]
fn stripping_the_prefix_never_produces_duplicate_names() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.safetensors");
    write(
        &file,
        &[
            ("a.x", Dtype::F32, &[2]),
            ("x", Dtype::F32, &[3]),
            ("a.y", Dtype::BF16, &[4]),
        ],
    );
    let options = SafetensorsOptions::default().with_prefix("a.");
    let (hint, model) = load(dir.path(), &options).unwrap();
    assert_eq!(hint, 8 + 8);
    assert_eq!(model.len(), 2);
    assert_eq!(model.tensor("x").unwrap().dims(), [2], "the a.x tensor");
    assert!(model.tensor("y").is_some() && model.tensor("a.x").is_none());
}

/// Not a bug: unicode prefixes strip on character boundaries.
#[test]
fn unicode_names_and_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.safetensors");
    write(
        &file,
        &[
            ("模型.权重", Dtype::F32, &[2]),
            ("模型.é\u{301}", Dtype::F32, &[1]),
            ("other", Dtype::F32, &[1]),
        ],
    );
    let options = SafetensorsOptions::default().with_prefix("模型.");
    let (hint, model) = load(&file, &options).unwrap();
    assert_eq!(hint, 12);
    assert!(model.tensor("权重").is_some() && model.tensor("é\u{301}").is_some());
}

/// BUG: with both options, a `skip` that drops everything the `prefix` kept is reported as
/// "no tensor name starts with the `prefix`", which is false and sends the user to the
/// wrong option.
#[test]
fn a_skip_that_drops_everything_the_prefix_kept_blames_the_skip() {
    let dir = tempfile::tempdir().unwrap();
    bert(dir.path());
    let options = SafetensorsOptions::default()
        .with_prefix("embeddings.")
        .skipping(["embeddings."]);
    let text = open_err(dir.path(), &options).to_string();
    assert!(text.contains("`skip`"), "{text}");
    assert!(!text.contains("no tensor name starts with"), "{text}");
}

/// BUG: a checkpoint that holds no tensor at all (an index whose `weight_map` is empty, a file
/// whose header is `{}`) is reported as "no tensor is left after the `skip` option" although
/// no option was given.
#[test]
fn a_checkpoint_without_tensors_says_so_and_does_not_blame_an_option_never_given() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    let index = dir.path().join("model.safetensors.index.json");
    std::fs::write(&index, r#"{"metadata":{},"weight_map":{}}"#).unwrap();
    let options = SafetensorsOptions::default();
    for path in [dir.path(), index.as_path()] {
        let text = open_err(path, &options).to_string();
        assert!(text.contains("model.safetensors.index.json"), "{text}");
        assert!(!text.contains("`skip`"), "{text}");
        assert!(text.contains("no tensor"), "{text}");
    }
    let file = dir.path().join("empty.safetensors");
    raw(&file, "{}      ", 0);
    let text = open_err(&file, &options).to_string();
    assert!(text.contains("empty.safetensors"), "{text}");
    assert!(!text.contains("`skip`"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// dtypes

/// Not a bug: the dtype option converts floats only; integers, bools and 8-bit floats keep
/// their stored type and size, F64 converts, and the hint is exact for each.
#[test]
fn the_dtype_option_on_integers_bools_f8_and_f64() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.safetensors");
    write(
        &file,
        &[
            ("ids", Dtype::I64, &[3]),
            ("mask", Dtype::BOOL, &[5]),
            ("q", Dtype::U8, &[7]),
            ("codes", Dtype::U32, &[2]),
            ("f8", Dtype::F8_E4M3, &[4]),
            ("f64", Dtype::F64, &[2]),
            ("h", Dtype::F16, &[2]),
        ],
    );
    for (dtype, float_bytes, candle) in [
        (LoadDtype::F16, 2, DType::F16),
        (LoadDtype::Bf16, 2, DType::BF16),
        (LoadDtype::F32, 4, DType::F32),
    ] {
        let options = SafetensorsOptions::default().with_dtype(dtype);
        let (hint, model) = load(dir.path(), &options).unwrap();
        assert_eq!(hint, 24 + 5 + 7 + 8 + 4 + 4 * float_bytes, "{dtype}");
        assert_eq!(model.tensor("ids").unwrap().dtype(), DType::I64);
        assert_eq!(model.tensor("mask").unwrap().dtype(), DType::U8);
        assert_eq!(model.tensor("codes").unwrap().dtype(), DType::U32);
        assert_eq!(model.tensor("f8").unwrap().dtype(), DType::F8E4M3);
        assert_eq!(model.tensor("f64").unwrap().dtype(), candle);
        assert_eq!(model.tensor("h").unwrap().dtype(), candle);
    }
}

/// Not a bug: a dtype candle cannot hold is refused at open, naming the file and the tensor,
/// and `skip` leaves it out.
#[test]
fn dtypes_candle_cannot_hold_are_refused_by_name_and_can_be_skipped() {
    for bad in [
        Dtype::I8,
        Dtype::U16,
        Dtype::U64,
        Dtype::F8_E5M2,
        Dtype::F8_E4M3FNUZ,
        Dtype::F8_E5M2FNUZ,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.safetensors");
        write(&file, &[("odd.t", bad, &[2]), ("w", Dtype::F32, &[2])]);
        let err = open_err(dir.path(), &SafetensorsOptions::default());
        let text = err.to_string();
        assert!(matches!(err, BackendError::Invalid { .. }), "{err:?}");
        assert!(
            text.contains("model.safetensors")
                && text.contains("odd.t")
                && text.contains(bad.as_str()),
            "{text}"
        );
        let (hint, model) = load(
            dir.path(),
            &SafetensorsOptions::default().skipping(["odd."]),
        )
        .unwrap();
        assert_eq!((hint, model.len()), (8, 1));
    }
}

/// Not a bug: packed sub-byte floats (F4, F6) load as their packed bytes, charged exactly.
#[test]
fn packed_sub_byte_floats_are_charged_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.safetensors");
    write(
        &file,
        &[
            ("f4", Dtype::F4, &[10]),
            ("f6", Dtype::F6_E2M3, &[4]),
            ("e8", Dtype::F8_E8M0, &[3]),
        ],
    );
    let (hint, _) = load(
        &file,
        &SafetensorsOptions::default().with_dtype(LoadDtype::F32),
    )
    .unwrap();
    assert_eq!(hint, 5 + 3 + 3);
}

// ---------------------------------------------------------------------------------------------
// shapes and offsets

/// Not a bug: zero-size tensors load, are charged 0, and keep their shape.
#[test]
fn zero_size_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.safetensors");
    write(
        &file,
        &[("e", Dtype::F32, &[0, 3]), ("w", Dtype::BF16, &[2])],
    );
    let (hint, model) = load(
        &file,
        &SafetensorsOptions::default().with_dtype(LoadDtype::F16),
    )
    .unwrap();
    assert_eq!(hint, 4);
    assert_eq!(model.tensor("e").unwrap().dims(), [0, 3]);
}

/// BUG: a zero-size tensor whose other dimensions multiply past `usize::MAX` passes the header
/// checks (its element count is 0) and then panics inside candle, which computes the strides
/// with unchecked multiplication (`attempt to multiply with overflow`).
#[test]
fn a_zero_size_tensor_with_absurd_dimensions_is_refused_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.safetensors");
    raw(
        &file,
        r#"{"e":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}"#,
        0,
    );
    let options = SafetensorsOptions::default();
    let result = std::panic::catch_unwind(|| {
        BACKEND
            .open_and_load(&source(&file, &options), &NoProgress)
            .map(|_| ())
    });
    let err = match result {
        Err(_) => panic!("the load panicked"),
        Ok(Ok(())) => panic!("a tensor of shape [0, 2^32, 2^32] loaded"),
        Ok(Err(e)) => e,
    };
    let text = err.to_string();
    assert!(
        text.contains("model.safetensors") && text.contains("`e`"),
        "{text}"
    );
}

/// Not a bug: offsets at `u64::MAX`, overflowing shapes and offsets past the data are header
/// errors naming the file.
#[test]
fn offsets_and_shapes_at_the_limits_are_header_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.safetensors");
    let max = u64::MAX;
    for header in [
        format!(r#"{{"a":{{"dtype":"U8","shape":[1],"data_offsets":[{max},{max}]}}}}"#),
        format!(r#"{{"a":{{"dtype":"U8","shape":[1],"data_offsets":[0,{max}]}}}}"#),
        format!(r#"{{"a":{{"dtype":"U8","shape":[{max}],"data_offsets":[0,{max}]}}}}"#),
        format!(r#"{{"a":{{"dtype":"F64","shape":[{max}],"data_offsets":[0,8]}}}}"#),
        r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551615,0]}}"#.to_owned(),
        r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551616]}}"#.to_owned(),
        r#"{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}"#.to_owned(),
        r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#.to_owned(),
    ] {
        raw(&file, &header, 1);
        let err = open_err(&file, &SafetensorsOptions::default());
        assert!(weights(&err).is_some(), "{header}: {err:?}");
        assert!(
            err.to_string().contains("model.safetensors"),
            "{header}: {err}"
        );
    }
    // A header length of u64::MAX: refused before anything is allocated.
    let mut bytes = u64::MAX.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    std::fs::write(&file, bytes).unwrap();
    let err = open_err(&file, &SafetensorsOptions::default());
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// special files, links, and config.json

/// Not a bug: FIFOs where the weights, the index or the config belong are refused by name at
/// once (a FIFO with no writer would block an `open` forever).
#[test]
fn fifos_never_hang() {
    let dir = tempfile::tempdir().unwrap();
    bert(dir.path());
    let options = SafetensorsOptions::default();
    let config = dir.path().join("config.json");
    mkfifo(&config).unwrap();
    let err = open_err(dir.path(), &options);
    assert!(err.to_string().contains("config.json"), "{err}");

    let fifo = dir.path().join("x.safetensors");
    mkfifo(&fifo).unwrap();
    let err = open_err(&fifo, &options);
    assert!(
        matches!(weights(&err), Some(WeightsError::NotRegularFile { .. })),
        "{err:?}"
    );

    let index = dir.path().join("x.safetensors.index.json");
    mkfifo(&index).unwrap();
    let err = open_err(&index, &options);
    assert!(
        err.to_string().contains("x.safetensors.index.json"),
        "{err}"
    );

    let other = tempfile::tempdir().unwrap();
    mkfifo(&other.path().join("model.safetensors")).unwrap();
    let err = open_err(other.path(), &options);
    assert!(
        matches!(weights(&err), Some(WeightsError::NotRegularFile { .. })),
        "{err:?}"
    );
}

/// Not a bug: a huge, deeply nested or non-UTF-8 config.json is an error naming it, not an
/// allocation of its size or a stack overflow.
#[test]
fn hostile_config_json() {
    let dir = tempfile::tempdir().unwrap();
    bert(dir.path());
    let config = dir.path().join("config.json");
    let options = SafetensorsOptions::default();
    let nested = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let huge = std::fs::File::create(&config).unwrap();
    huge.set_len(1 << 40).unwrap(); // sparse: 1 TiB of zeros
    drop(huge);
    let err = open_err(dir.path(), &options);
    assert!(err.to_string().contains("config.json"), "{err}");
    for text in [
        nested.as_bytes(),
        b"{\"a\": \"\xff\xfe\"}",
        b"\xef\xbb\xbf{}",
        b"",
    ] {
        std::fs::write(&config, text).unwrap();
        let err = open_err(dir.path(), &options);
        assert!(err.to_string().contains("config.json"), "{err}");
    }
}

/// Not a bug: links out of the model folder are refused, for weights and config alike.
#[cfg(unix)]
#[test]
fn links_out_of_the_folder_are_refused() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    bert(outside.path());
    let dir = tempfile::tempdir().unwrap();
    symlink(
        outside.path().join("model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    let options = SafetensorsOptions::default();
    let err = open_err(dir.path(), &options);
    assert!(
        matches!(weights(&err), Some(WeightsError::LinkOutside { .. })),
        "{err:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("model.safetensors"),
        &[("w", Dtype::F32, &[1])],
    );
    symlink(
        outside.path().join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let err = open_err(dir.path(), &options);
    assert!(err.to_string().contains("config.json"), "{err}");
}

/// Not a bug: an index naming a shard outside its folder (`..`, absolute, a sub-folder) is
/// refused naming the index before any shard is opened.
#[test]
fn an_index_cannot_name_shards_outside_its_folder() {
    let outside = tempfile::tempdir().unwrap();
    write(
        &outside.path().join("x.safetensors"),
        &[("w", Dtype::F32, &[1])],
    );
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("m");
    std::fs::create_dir(&sub).unwrap();
    let abs = outside.path().join("x.safetensors");
    for shard in [
        "../x.safetensors",
        abs.to_str().unwrap(),
        "./x.safetensors",
        "",
        "..",
    ] {
        let index = sub.join("model.safetensors.index.json");
        let json = serde_json::json!({"weight_map": {"w": shard}});
        std::fs::write(&index, json.to_string()).unwrap();
        let err = open_err(&sub, &SafetensorsOptions::default());
        let text = err.to_string();
        assert!(
            text.contains("model.safetensors.index.json"),
            "{shard:?}: {text}"
        );
    }
}

/// BUG (minor): a folder where `model.safetensors` is a folder says the weights are missing; a
/// special file where a file belongs is reported as such, never as missing.
#[test]
fn a_folder_named_model_safetensors_is_not_reported_as_missing_weights() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    std::fs::create_dir(dir.path().join("model.safetensors")).unwrap();
    let err = open_err(dir.path(), &SafetensorsOptions::default());
    assert!(!matches!(err, BackendError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// which files a folder is read as

/// Not a bug: a folder with only a variant file reads it.
#[test]
fn a_folder_with_only_a_variant_file_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("model.fp16.safetensors"),
        &[("w", Dtype::F16, &[2])],
    );
    let (hint, _) = load(dir.path(), &SafetensorsOptions::default()).unwrap();
    assert_eq!(hint, 4);
}

/// Not a bug: the variant files `transformers`/`diffusers` write beside the standard ones
/// (`model.safetensors.index.fp16.json` and its `model.fp16-*` shards) do not displace
/// `model.safetensors`. (A lone index with a non-standard name such as
/// `model.fp16.safetensors.index.json` does win, as §3.3 rule 1 says; §11 now says so too.)
#[test]
fn the_standard_single_file_beats_variant_shards() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("model.safetensors"),
        &[("w", Dtype::F32, &[2])],
    );
    write(
        &dir.path().join("model.fp16-00001-of-00001.safetensors"),
        &[("w", Dtype::F16, &[2])],
    );
    std::fs::write(
        dir.path().join("model.safetensors.index.fp16.json"),
        r#"{"weight_map":{"w":"model.fp16-00001-of-00001.safetensors"}}"#,
    )
    .unwrap();
    let (_, model) = load(dir.path(), &SafetensorsOptions::default()).unwrap();
    assert_eq!(model.tensor("w").unwrap().dtype(), DType::F32);
}

// ---------------------------------------------------------------------------------------------
// files that change between open and load

/// Not a bug: a file rewritten, truncated, grown or removed between open and load fails the
/// load naming it, before anything is allocated for it.
#[test]
fn files_changed_between_open_and_load_fail_naming_the_file() {
    let options = SafetensorsOptions::default();
    type Change = fn(&Path);
    let cases: [(&str, Change); 4] = [
        ("rewritten", |f| {
            write(f, &[("w", Dtype::BF16, &[4]), ("v", Dtype::U8, &[0])])
        }),
        ("truncated", |f| {
            let len = std::fs::metadata(f).unwrap().len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(f)
                .unwrap()
                .set_len(len - 1)
                .unwrap();
        }),
        ("grown", |f| {
            let len = std::fs::metadata(f).unwrap().len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(f)
                .unwrap()
                .set_len(len + 1)
                .unwrap();
        }),
        ("removed", |f| std::fs::remove_file(f).unwrap()),
    ];
    for (what, change) in cases {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.safetensors");
        write(&file, &[("w", Dtype::F32, &[2])]);
        let opened = BACKEND.open(&source(dir.path(), &options)).unwrap();
        change(&file);
        let err = BACKEND
            .load(opened.plan, opened.inspection.bytes, &NoProgress)
            .unwrap_err();
        assert!(
            err.to_string().contains("model.safetensors"),
            "{what}: {err}"
        );
    }
}

/// BUG: a dangling (or looping) link named `model.safetensors`, as a Hugging Face snapshot
/// whose blob was deleted leaves, is skipped while listing the folder, so the folder is read
/// as whatever other `.safetensors` file it holds (here a variant), silently.
#[cfg(unix)]
#[test]
fn a_dangling_model_safetensors_link_is_an_error_naming_it_not_skipped() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    symlink("blobs/gone", dir.path().join("model.safetensors")).unwrap();
    write(
        &dir.path().join("model.fp16.safetensors"),
        &[("w", Dtype::F16, &[2])],
    );
    let err = open_err(dir.path(), &SafetensorsOptions::default());
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    assert!(!matches!(err, BackendError::Missing { .. }), "{err:?}");

    let dir = tempfile::tempdir().unwrap();
    symlink("model.safetensors", dir.path().join("model.safetensors")).unwrap();
    let err = open_err(dir.path(), &SafetensorsOptions::default());
    assert!(!matches!(err, BackendError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

/// Not a bug: a folder (or a device) where config.json or the weights file belongs is
/// refused by name.
#[test]
fn folders_and_devices_where_files_belong() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("model.safetensors"),
        &[("w", Dtype::F32, &[1])],
    );
    std::fs::create_dir(dir.path().join("config.json")).unwrap();
    let err = open_err(dir.path(), &SafetensorsOptions::default());
    assert!(err.to_string().contains("config.json"), "{err}");
    let err = open_err(Path::new("/dev/zero"), &SafetensorsOptions::default());
    assert!(
        matches!(weights(&err), Some(WeightsError::NotRegularFile { .. })),
        "{err:?}"
    );
}

/// BUG: `config_as` promises an error "when there is no config.json", but parses an empty
/// object instead, so a config type whose fields all have defaults builds a model with
/// default hyper-parameters, silently.
#[test]
fn config_as_without_a_config_json_is_an_error() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Defaulted {
        #[serde(default)]
        hidden_size: usize,
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("model.safetensors"),
        &[("w", Dtype::F32, &[1])],
    );
    let (_, model) = load(dir.path(), &SafetensorsOptions::default()).unwrap();
    assert!(model.config().is_none());
    let err = model.config_as::<Defaulted>().unwrap_err();
    assert!(err.to_string().contains("config.json"), "{err}");
}

/// Was a gap: a file replaced between open and load by one with the same header and length
/// (other weights, same layout) loaded the new weights. The load now compares the file's
/// identity (device, inode, modification time) with the one it opened.
#[test]
fn a_same_layout_replacement_between_open_and_load_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.safetensors");
    write(&file, &[("w", Dtype::F32, &[2])]);
    let options = SafetensorsOptions::default();
    let opened = BACKEND.open(&source(dir.path(), &options)).unwrap();
    let other = dir.path().join("other");
    let ones = [1u8; 8];
    write_safetensors(
        &other,
        [TensorData::new("w", Dtype::F32, &[2], &ones)],
        None,
    )
    .unwrap();
    std::fs::rename(&other, &file).unwrap();
    let err = BACKEND
        .load(opened.plan, opened.inspection.bytes, &NoProgress)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("model.safetensors") && text.contains("another file"),
        "{text}"
    );

    // Rewritten in place, same bytes but a later modification time: changed too.
    let opened = BACKEND.open(&source(dir.path(), &options)).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::io::Write::write_all(&mut &f, &bytes).unwrap();
    f.set_modified(later).unwrap();
    drop(f);
    let text = BACKEND
        .load(opened.plan, opened.inspection.bytes, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(text.contains("modified since it was opened"), "{text}");
}

/// BUG: tensor names from a hostile header reach error messages unescaped: a name holding a
/// newline or a terminal escape sequence forges log lines or rewrites the terminal. The
/// backend's own messages quote names with `{:?}`; `WeightsError`'s print them raw
/// (`tensor \`{tensor}\``).
#[test]
fn control_characters_in_tensor_names_are_escaped_in_error_messages() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.safetensors");
    let name = r"w\n\u001b[2K\rINFO model loaded";
    let headers = [
        // size mismatch, then an unknown dtype, then a dtype candle cannot hold (backend message)
        format!(r#"{{"{name}":{{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}}}"#),
        format!(r#"{{"{name}":{{"dtype":"F99","shape":[1],"data_offsets":[0,4]}}}}"#),
        format!(r#"{{"{name}":{{"dtype":"I8","shape":[4],"data_offsets":[0,4]}}}}"#),
    ];
    for header in headers {
        raw(&file, &header, 4);
        let text = open_err(&file, &SafetensorsOptions::default()).to_string();
        assert!(text.contains("model.safetensors"), "{text}");
        assert!(!text.chars().any(char::is_control), "{text:?}");
    }
}

/// Was a trap: `skip` entries match the names *before* the prefix is removed, so a `skip`
/// written in the stripped form matched nothing and was silently ignored (the tensors it meant
/// were charged and loaded). Such an entry is now refused, with the form to write.
#[test]
fn skip_matches_stored_names_and_the_stripped_form_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    bert(dir.path());
    let stripped = SafetensorsOptions::default()
        .with_prefix("encoder.layer.0.")
        .skipping(["attention."]);
    let err = open_err(dir.path(), &stripped);
    assert!(matches!(err, BackendError::Options { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("\"encoder.layer.0.attention.\""), "{text}");
    let stored = SafetensorsOptions::default()
        .with_prefix("encoder.layer.0.")
        .skipping(["encoder.layer.0.attention."]);
    let (_, b) = load(dir.path(), &stored).unwrap();
    assert!(b.tensor("attention.self.query.weight").is_none());
    assert!(b.tensor("intermediate.dense.weight").is_some());
    // An entry that matches nothing either way is left alone (a config shared by models).
    let elsewhere = SafetensorsOptions::default()
        .with_prefix("encoder.layer.0.")
        .skipping(["cls."]);
    load(dir.path(), &elsewhere).unwrap();
}

/// Was a gap: a hostile file *name* (a folder read as its `.safetensors` files, as a repo from
/// the internet may be) reached error messages raw. Paths are printed through
/// `modelcache_backend::shown`, control characters escaped.
#[test]
fn control_characters_in_file_names_are_escaped_in_error_messages() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w\n\u{1b}[2KINFO loaded.safetensors");
    std::fs::write(&file, b"not a safetensors file").unwrap();
    let text = open_err(dir.path(), &SafetensorsOptions::default()).to_string();
    assert!(
        text.contains("\\n\\u{1b}[2KINFO loaded.safetensors"),
        "{text:?}"
    );
    assert!(!text.chars().any(char::is_control), "{text:?}");
}
