//! What a runnable FLUX.1 pipeline costs on top of the tensor load: for the ~1 GiB BFL and
//! diffusers fixtures (transformer and VAE, loaded as F32 by both), page cache warm,
//! - `tensors`: the `flux` backend's open and load (what `backend = "flux"` caches);
//! - `pipeline`: the `flux-pipeline` backend's open, load and build (what
//!   `backend = "flux-pipeline"` caches: candle-transformers' `Flux` and `AutoEncoder`).
//!
//! The difference is the build: for BFL the tensors are handed over as they are; for diffusers
//! the split projections are fused and names converted first.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "support/fixtures.rs"]
mod fixtures;
#[path = "support/timed.rs"]
mod timed;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group};
use modelcache_backend::{BackendExt, ModelSource, NoProgress};
use modelcache_flux::{BACKEND, FluxOptions, LoadDtype, PIPELINE_BACKEND};
use timed::timed;

fn pipeline_build(c: &mut Criterion) {
    for name in ["flux-bfl", "flux-diffusers"] {
        let dir = fixtures::ensure(name).unwrap();
        // F32 for both: the pipeline runs on the CPU, where candle has no BF16 matmul.
        let options = FluxOptions::default().with_dtype(LoadDtype::F32);
        let source = ModelSource::new("bench", &dir, &options);
        let bytes = BACKEND.memory_hint(&source).unwrap();
        let mut group = c.benchmark_group(format!("pipeline_build/{name}"));
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .throughput(Throughput::Bytes(bytes));
        group.bench_function("tensors", |b| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    BACKEND.open_and_load(&source, &NoProgress).unwrap()
                })
            });
        });
        group.bench_function("pipeline", |b| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    PIPELINE_BACKEND
                        .open_and_load(&source, &NoProgress)
                        .unwrap()
                })
            });
        });
        group.finish();
    }
}

criterion_group!(benches, pipeline_build);

/// With fresh memory for every buffer, as `load_1gib` (see `timed::with_fresh_memory`).
fn main() {
    timed::with_fresh_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
