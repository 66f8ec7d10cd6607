//! Tiers measured: a load onto a device, a demotion to host memory and a promotion back,
//! beside the plain host-to-device copy bandwidth of the same bytes.
//!
//! ```text
//! cargo run --release --example tiers -- --device cpu --mib 256
//! cargo run --release --features cuda --example tiers -- --device cuda:0 --mib 4096   # scripts/gpu-check
//! ```
//!
//! It writes a safetensors checkpoint of `--mib` MiB of F32 tensors (generated, in a temporary
//! folder), registers it twice (`a` and `b`) on `--device` with `demote = true` and a device
//! budget that holds one of them, and then asks for `a`, `b`, `a`: the load of `a`, its
//! demotion when `b` needs the device, and its promotion. With `--device cpu` the "device" is
//! host memory, so the moves are cheap clones: that run checks the path, not the figures.
//! Prints one JSON object with every duration in seconds.

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use modelcache::backend::BackendModel;
use modelcache::core::{CacheEvent, ModelCache, ModelPolicy};
use modelcache::safetensors::{SafetensorsBackend, SafetensorsModel, SafetensorsOptions};
use modelcache_testkit::{Dtype, TensorSpec, write_safetensors};
use modelcache_weights::candle_core::{DType, Device, Tensor};

#[derive(Parser)]
struct Args {
    /// The device: cpu, cuda:N or metal:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// MiB of tensors in the checkpoint.
    #[arg(long, default_value_t = 256)]
    mib: u64,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("model.safetensors");
    // 64 MiB tensors of F32 ([4096, 4096]), and one smaller one for the rest.
    let tensor = 4096 * 4096 * 4;
    let total = args.mib << 20;
    let mut specs = Vec::new();
    let mut left = total;
    while left > 0 {
        let bytes = left.min(tensor);
        let i = specs.len();
        specs.push(TensorSpec::new(
            format!("layers.{i}.weight"),
            Dtype::F32,
            [bytes / 4],
        ));
        left -= bytes;
    }
    write_safetensors(&file, &specs, None, 7)?;

    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let cache = ModelCache::builder()
        .budget(u64::MAX)
        .device(args.device.clone(), total + total / 2)
        .on_event(move |e| {
            if let Ok(mut seen) = seen.lock() {
                seen.push(e.clone());
            }
        })
        .build();
    for id in ["a", "b"] {
        let loader = BackendModel::new(
            Arc::new(SafetensorsBackend),
            id,
            &file,
            SafetensorsOptions::default(),
        )
        .on_device(Some(args.device.clone()));
        let policy = ModelPolicy::default()
            .on_device(args.device.clone())
            .demoting(true);
        cache.register(id, Arc::new(loader), policy)?;
    }
    let timed = |id: &str| -> Result<Duration, Box<dyn Error>> {
        let started = Instant::now();
        drop(cache.get::<SafetensorsModel>(id)?);
        Ok(started.elapsed())
    };
    let load = timed("a")?;
    let b_request = timed("b")?;
    let a_again = timed("a")?;
    let stats = cache.stats();
    let moved = |demoted: bool| -> Option<f64> {
        let events = events.lock().ok()?;
        events.iter().find_map(|e| match e {
            CacheEvent::Demoted { id, elapsed, .. } if demoted && id == "a" => {
                Some(elapsed.as_secs_f64())
            }
            CacheEvent::Promoted { id, elapsed, .. } if !demoted && id == "a" => {
                Some(elapsed.as_secs_f64())
            }
            _ => None,
        })
    };

    // The same bytes copied host to device with candle alone.
    let device = modelcache_weights::parse_device(&args.device)?;
    let host = Tensor::zeros((total / 4) as usize, DType::F32, &Device::Cpu)?;
    let started = Instant::now();
    let on_device = host.to_device(&device)?;
    device.synchronize()?;
    let copy = started.elapsed().as_secs_f64();
    drop(on_device);

    let gb = total as f64 / 1e9;
    let rate = |secs: f64| if secs > 0.0 { gb / secs } else { f64::INFINITY };
    let (demote, promote) = (moved(true), moved(false));
    println!(
        "{}",
        serde_json::json!({
            "device": args.device,
            "bytes": total,
            "load_s": load.as_secs_f64(),
            "load_gb_per_s": rate(load.as_secs_f64()),
            "request_b_with_demotion_s": b_request.as_secs_f64(),
            "demote_s": demote,
            "request_a_with_promotion_s": a_again.as_secs_f64(),
            "promote_s": promote,
            "promote_gb_per_s": promote.map(rate),
            "host_to_device_copy_s": copy,
            "host_to_device_gb_per_s": rate(copy),
            "loads": stats.loads,
            "demotions": stats.demotions,
            "promotions": stats.promotions,
            "promotion_failures": stats.promotion_failures,
        })
    );
    if stats.promotions != 1 || stats.demotions < 1 {
        return Err(format!(
            "expected a demotion and a promotion, got {} and {} (failures: {} and {})",
            stats.demotions, stats.promotions, stats.demotion_failures, stats.promotion_failures
        )
        .into());
    }
    Ok(())
}
