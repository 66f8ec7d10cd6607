//! The fixture bundle the project's bundled `models.toml` points at, written all-or-nothing.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::bert::{BertSpec, write_bert};
use crate::flux::{FluxSpec, MfluxSpec, write_flux_mflux, write_flux_repo};
use crate::kokoro::{KokoroSpec, write_kokoro_mlx};
use crate::ltx::{LtxSpec, write_ltx_diffusers, write_ltx_single_file};
use crate::report::FixtureReport;

/// Name of the marker file at the bundle root.
pub const MARKER_FILE: &str = ".modelcache-fixtures.json";

/// Bumped whenever a generator's output changes for the same seed and scale, so old bundles read as stale.
pub const FORMAT_VERSION: u64 = 2;

/// The model folders of a bundle, in writing order.
pub const BUNDLE_MODELS: [&str; 6] = [
    "flux-schnell",
    "ltx-video",
    "kokoro",
    "flux-mflux-4bit",
    "ltx-diffusers",
    "minilm",
];

/// What [`write_bundle`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleReport {
    /// The bundle root.
    pub root: PathBuf,
    /// Seed used.
    pub seed: u64,
    /// Per-model target size used, if any.
    pub scale: Option<u64>,
    /// One report per model folder, paths under `root`.
    pub models: Vec<(String, FixtureReport)>,
}

impl BundleReport {
    /// Bytes of every file written (the marker aside).
    pub fn file_bytes(&self) -> u64 {
        self.models.iter().map(|(_, r)| r.file_bytes).sum()
    }

    /// The report of one model folder.
    pub fn model(&self, name: &str) -> Option<&FixtureReport> {
        self.models.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }
}

fn sibling(root: &Path, tag: &str) -> io::Result<PathBuf> {
    let name = root.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bundle root {} has no name", root.display()),
        )
    })?;
    let mut name = name.to_os_string();
    name.push(format!(".{tag}-{}", std::process::id()));
    Ok(root.with_file_name(name))
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn write_models(
    dir: &Path,
    seed: u64,
    scale: Option<u64>,
) -> io::Result<Vec<(String, FixtureReport)>> {
    let mut flux = FluxSpec::tiny().with_seed(seed);
    flux.scale = scale;
    let mut ltx = LtxSpec::tiny().with_seed(seed);
    ltx.scale = scale;
    let mut kokoro = KokoroSpec::tiny().with_seed(seed);
    kokoro.scale = scale;
    let mut mflux = MfluxSpec::tiny().with_seed(seed);
    mflux.flux.scale = scale;
    let bert = BertSpec::tiny().with_seed(seed);
    let bert = scale.map_or(bert.clone(), |s| bert.with_scale(s));
    let [a, b, c, d, e, f] = BUNDLE_MODELS;
    Ok(vec![
        (a.to_owned(), write_flux_repo(&dir.join(a), &flux)?),
        (b.to_owned(), write_ltx_single_file(&dir.join(b), &ltx)?),
        (c.to_owned(), write_kokoro_mlx(&dir.join(c), &kokoro)?),
        (d.to_owned(), write_flux_mflux(&dir.join(d), &mflux)?),
        (e.to_owned(), write_ltx_diffusers(&dir.join(e), &ltx)?),
        (f.to_owned(), write_bert(&dir.join(f), &bert)?),
    ])
}

fn marker(seed: u64, scale: Option<u64>, models: &[(String, FixtureReport)]) -> Value {
    let mut m = Map::new();
    for (name, r) in models {
        m.insert(name.clone(), json!({"file_bytes": r.file_bytes, "tensor_bytes": r.tensor_bytes(), "tensors": r.tensor_count()}));
    }
    json!({
        "generator": "modelcache-testkit",
        "generator_version": env!("CARGO_PKG_VERSION"),
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "scale": scale,
        "models": m,
    })
}

/// Writes the fixture bundle under `root`, replacing any bundle there:
///
/// - `flux-schnell/`: a FLUX.1-schnell Hub repo (BFL single files + diffusers tree),
/// - `ltx-video/`: the LTX-Video single file,
/// - `kokoro/`: Kokoro in the MLX layout with three voices,
/// - `flux-mflux-4bit/`: an mflux 4-bit tree,
/// - `ltx-diffusers/`: the LTX-Video diffusers tree,
/// - `minilm/`: a BERT sentence-embedding folder in the Hugging Face `transformers` layout,
///
/// and the marker [`MARKER_FILE`] (seed, scale, format version, sizes). `scale` is the target size of *each* model
/// folder; `None` writes the tiny presets (about 5.5 MB in all).
///
/// Everything is written into the sibling `<root>.tmp-<pid>` and renamed into place at the end, so an interrupted
/// run never leaves a bundle with a marker; the previous bundle, if any, is removed only after the new one is
/// complete.
///
/// # Errors
///
/// Any I/O error; the temporary folder is removed on failure.
pub fn write_bundle(root: &Path, seed: u64, scale: Option<u64>) -> io::Result<BundleReport> {
    let tmp = sibling(root, "tmp")?;
    remove_if_present(&tmp)?;
    let result = (|| {
        let models = write_models(&tmp, seed, scale)?;
        let text = crate::json::pretty_sorted(&marker(seed, scale, &models));
        fs::write(tmp.join(MARKER_FILE), text)?;
        Ok::<_, io::Error>(models)
    })();
    let models = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let old = sibling(root, "old")?;
    if root.exists() {
        remove_if_present(&old)?;
        fs::rename(root, &old)?;
    }
    if let Err(e) = fs::rename(&tmp, root) {
        let _ = fs::rename(&old, root);
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    remove_if_present(&old)?;
    let models = models
        .into_iter()
        .map(|(n, r)| (n, relocate(r, &tmp, root)))
        .collect();
    Ok(BundleReport {
        root: root.to_path_buf(),
        seed,
        scale,
        models,
    })
}

fn relocate(mut r: FixtureReport, from: &Path, to: &Path) -> FixtureReport {
    let move_path = |p: &mut PathBuf| {
        if let Ok(rest) = p.strip_prefix(from) {
            *p = to.join(rest);
        }
    };
    move_path(&mut r.dir);
    r.files.iter_mut().for_each(move_path);
    for c in &mut r.components {
        c.files.iter_mut().for_each(move_path);
    }
    r
}

/// Whether `root` holds a complete bundle written with this `seed`, `scale` and the current [`FORMAT_VERSION`]
/// (so [`write_bundle`] can be skipped).
pub fn bundle_is_current(root: &Path, seed: u64, scale: Option<u64>) -> bool {
    let Ok(text) = fs::read_to_string(root.join(MARKER_FILE)) else {
        return false;
    };
    let Ok(v) = serde_json::from_str::<Value>(&text) else {
        return false;
    };
    v["format_version"] == json!(FORMAT_VERSION)
        && v["seed"] == json!(seed)
        && v["scale"] == json!(scale)
        && BUNDLE_MODELS.iter().all(|m| root.join(m).is_dir())
}
