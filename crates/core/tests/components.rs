//! Components: models made of other registered models (one T5 for Flux and LTX), loaded
//! once, charged once, held while any model that uses them is resident.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};

use common::{Model, counting, gated};
use modelcache_core::{CacheError, ModelCache, ModelPolicy, StepOutcome};

const MIB: u64 = 1 << 20;

/// T5 (10 MiB) used by flux (4 MiB) and ltx (3 MiB) as their text encoder.
fn pipelines(budget: u64) -> (ModelCache, [Arc<std::sync::atomic::AtomicUsize>; 3]) {
    let cache = ModelCache::new(budget);
    let t5 = counting(&cache, "t5", 10 * MIB, ModelPolicy::default());
    let flux = counting(
        &cache,
        "flux",
        4 * MIB,
        ModelPolicy::default().using("text_encoder_2", "t5"),
    );
    let ltx = counting(
        &cache,
        "ltx",
        3 * MIB,
        ModelPolicy::default().using("text_encoder", "t5"),
    );
    (cache, [t5, flux, ltx])
}

#[test]
fn a_shared_component_is_loaded_once_and_charged_once() {
    let (cache, [t5, flux, ltx]) = pipelines(100 * MIB);
    let f = cache.get::<Model>("flux").unwrap();
    let l = cache.get::<Model>("ltx").unwrap();
    assert_eq!(t5.load(Ordering::SeqCst), 1);
    assert_eq!(
        (flux.load(Ordering::SeqCst), ltx.load(Ordering::SeqCst)),
        (1, 1)
    );
    let stats = cache.stats();
    assert_eq!(stats.charged, 17 * MIB, "T5 charged once");
    assert_eq!(stats.shared_bytes_saved, 10 * MIB);
    let exported = modelcache_core::metrics::render(&cache);
    assert!(
        exported.contains(&format!("\nmodelcache_shared_saved_bytes {}\n", 10 * MIB)),
        "{exported}"
    );
    // Both pipelines hand over the same T5.
    let a = f.component::<Model>("text_encoder_2").unwrap();
    let b = l.component::<Model>("text_encoder").unwrap();
    assert!(modelcache_core::Handle::ptr_eq(&a, &b));
    assert_eq!(a.lock().id, "t5");
    let t5_entry = cache.entries().into_iter().find(|e| e.id == "t5").unwrap();
    let mut users = t5_entry.used_by.clone();
    users.sort();
    assert_eq!(users, ["flux", "ltx"]);
    let flux_entry = cache
        .entries()
        .into_iter()
        .find(|e| e.id == "flux")
        .unwrap();
    assert_eq!(
        flux_entry.uses,
        [("text_encoder_2".to_owned(), "t5".to_owned())]
    );
    let err = f.component::<Model>("vae").unwrap_err();
    assert!(matches!(err, CacheError::NoSuchComponent { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "model \"flux\" has no component \"vae\"; it has text_encoder_2"
    );
    assert!(matches!(
        f.component::<String>("text_encoder_2"),
        Err(CacheError::WrongType { .. })
    ));
}

#[test]
fn a_pipeline_whose_component_is_resident_loads_and_reserves_only_the_rest() {
    let (cache, [t5, _, _]) = pipelines(100 * MIB);
    drop(cache.get::<Model>("t5").unwrap());
    assert_eq!(cache.stats().charged, 10 * MIB);
    drop(cache.get::<Model>("flux").unwrap());
    assert_eq!(t5.load(Ordering::SeqCst), 1, "the resident T5 is used");
    assert_eq!(cache.stats().charged, 14 * MIB);
}

#[test]
fn a_component_is_never_evicted_from_under_a_resident_pipeline() {
    // Room for T5 + flux (14 MiB) and 6 MiB more, not for a 7 MiB model.
    let (cache, _) = pipelines(20 * MIB);
    let f = cache.get::<Model>("flux").unwrap();
    counting(&cache, "other", 7 * MIB, ModelPolicy::default());
    // T5 is idle as far as callers go (nobody holds a handle to it), but flux holds it: the
    // 7 MiB model cannot evict it, and since flux is in use the request must wait.
    let plan = cache.plan_holding(&["other"]).unwrap();
    assert!(!plan.fits(), "{plan:?}");
    assert!(cache.contains("t5"));
    drop(f);
}

#[test]
fn a_component_goes_with_its_last_idle_user_when_room_is_needed() {
    // 17 MiB resident (T5 + flux + ltx), all idle. A 15 MiB request needs T5 gone, which
    // needs both pipelines gone: admission evicts the three together.
    let (cache, [t5, _, _]) = pipelines(20 * MIB);
    drop(cache.get::<Model>("flux").unwrap());
    drop(cache.get::<Model>("ltx").unwrap());
    assert_eq!(cache.stats().charged, 17 * MIB);
    let plan = cache.plan(&["big"]);
    assert!(plan.is_err(), "big is not registered yet");
    counting(&cache, "big", 15 * MIB, ModelPolicy::default());
    let plan = cache.plan(&["big"]).unwrap();
    let mut evicts: Vec<String> = plan.evictions().map(|v| v.id.clone()).collect();
    evicts.sort();
    assert_eq!(evicts, ["flux", "ltx", "t5"], "{plan:?}");
    let big = cache.get::<Model>("big").unwrap();
    assert!(!cache.contains("t5") && !cache.contains("flux") && !cache.contains("ltx"));
    assert_eq!(cache.stats().charged, 15 * MIB);
    drop(big);
    // And a component whose users are gone is an ordinary idle model again.
    drop(cache.get::<Model>("flux").unwrap());
    assert_eq!(t5.load(Ordering::SeqCst), 2);
}

#[test]
fn evicting_one_user_keeps_the_component_for_the_other() {
    // 17 MiB resident; a 6 MiB request needs 3 MiB: evicting ltx (least recently used)
    // alone makes room.
    let (cache, _) = pipelines(20 * MIB);
    drop(cache.get::<Model>("ltx").unwrap());
    drop(cache.get::<Model>("flux").unwrap());
    counting(&cache, "small", 6 * MIB, ModelPolicy::default());
    drop(cache.get::<Model>("small").unwrap());
    assert!(cache.contains("t5") && cache.contains("flux"));
    assert!(!cache.contains("ltx"));
    let t5 = cache.entries().into_iter().find(|e| e.id == "t5").unwrap();
    assert_eq!(t5.used_by, ["flux"]);
    assert_eq!(cache.stats().shared_bytes_saved, 0);
}

#[test]
fn invalidating_a_component_invalidates_its_users_and_they_reload_with_the_new_one() {
    let (cache, [t5, flux, ltx]) = pipelines(100 * MIB);
    drop(cache.get::<Model>("flux").unwrap());
    drop(cache.get::<Model>("ltx").unwrap());
    assert!(cache.invalidate("t5"));
    assert!(!cache.contains("flux") && !cache.contains("ltx") && !cache.contains("t5"));
    assert_eq!(cache.stats().charged, 0);
    let f = cache.get::<Model>("flux").unwrap();
    assert_eq!(
        f.component::<Model>("text_encoder_2")
            .unwrap()
            .lock()
            .generation,
        2
    );
    assert_eq!(t5.load(Ordering::SeqCst), 2);
    assert_eq!(flux.load(Ordering::SeqCst), 2);
    assert_eq!(ltx.load(Ordering::SeqCst), 1);
}

#[test]
fn a_held_pipeline_keeps_its_invalidated_component_charged_until_it_is_dropped() {
    let (cache, _) = pipelines(100 * MIB);
    let f = cache.get::<Model>("flux").unwrap();
    cache.invalidate("t5");
    // The caller still uses flux and, through it, the old T5: both stay charged.
    assert_eq!(cache.stats().charged, 14 * MIB);
    assert_eq!(
        f.component::<Model>("text_encoder_2").unwrap().lock().id,
        "t5"
    );
    drop(f);
    assert_eq!(cache.stats().charged, 0);
}

#[test]
fn missing_components_and_cycles_are_refused_at_registration() {
    let cache = ModelCache::new(100 * MIB);
    let err = cache
        .register(
            "flux",
            common::loader("flux", MIB),
            ModelPolicy::default().using("text_encoder_2", "t5"),
        )
        .unwrap_err();
    assert!(
        matches!(&err, CacheError::UnknownComponent { id, role, component }
            if id == "flux" && role == "text_encoder_2" && component == "t5"),
        "{err}"
    );
    assert!(err.to_string().contains("register it first"), "{err}");
    let err = cache
        .register(
            "me",
            common::loader("me", MIB),
            ModelPolicy::default().using("part", "me"),
        )
        .unwrap_err();
    assert!(err.to_string().contains("cannot use itself"), "{err}");
    counting(&cache, "a", MIB, ModelPolicy::default());
    counting(&cache, "b", MIB, ModelPolicy::default().using("x", "a"));
    counting(&cache, "c", MIB, ModelPolicy::default().using("y", "b"));
    // Redefining a so that it uses c would close a -> c -> b -> a.
    let err = cache
        .register(
            "a",
            common::loader("a", MIB),
            ModelPolicy::default().using("z", "c"),
        )
        .unwrap_err();
    match &err {
        CacheError::ComponentCycle { cycle, .. } => assert_eq!(cycle, &["a", "c", "b", "a"]),
        other => panic!("{other}"),
    }
}

#[test]
fn a_failed_component_fails_its_user_naming_both() {
    let cache = ModelCache::new(100 * MIB);
    let gate = gated(&cache, "t5", MIB, MIB, ModelPolicy::default());
    counting(
        &cache,
        "flux",
        MIB,
        ModelPolicy::default().using("text_encoder_2", "t5"),
    );
    let c = cache.clone();
    let request = std::thread::spawn(move || c.get::<Model>("flux").map(|_| ()));
    gate.started.recv().unwrap();
    gate.release.send(Err("bad shard".into())).unwrap();
    let err = request.join().unwrap().unwrap_err();
    assert!(
        matches!(&err, CacheError::Component { id, component, .. } if id == "flux" && component == "t5"),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("flux") && text.contains("t5") && text.contains("bad shard"));
    assert_eq!(cache.stats().charged, 0);
}

#[test]
fn sixteen_threads_asking_for_flux_and_ltx_load_the_shared_t5_once() {
    let cache = ModelCache::new(100 * MIB);
    let gate = gated(&cache, "t5", 10 * MIB, 10 * MIB, ModelPolicy::default());
    let flux = counting(
        &cache,
        "flux",
        4 * MIB,
        ModelPolicy::default().using("text_encoder_2", "t5"),
    );
    let ltx = counting(
        &cache,
        "ltx",
        3 * MIB,
        ModelPolicy::default().using("text_encoder", "t5"),
    );
    let start = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let (cache, start) = (cache.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let id = if i % 2 == 0 { "flux" } else { "ltx" };
                let h = cache.get::<Model>(id).unwrap();
                let role = if i % 2 == 0 {
                    "text_encoder_2"
                } else {
                    "text_encoder"
                };
                let t5 = h.component::<Model>(role).unwrap();
                t5.lock().generation
            })
        })
        .collect();
    // The T5 load starts once; every request waits on it (no sleep: the gate orders it).
    gate.started.recv().unwrap();
    gate.release.send(Ok(())).unwrap();
    let generations: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(generations.iter().all(|&g| g == 1), "{generations:?}");
    assert_eq!(gate.runs.load(Ordering::SeqCst), 1, "T5 loaded once");
    assert_eq!(flux.load(Ordering::SeqCst), 1);
    assert_eq!(ltx.load(Ordering::SeqCst), 1);
    let stats = cache.stats();
    assert_eq!(stats.charged, 17 * MIB);
    assert_eq!(stats.shared_bytes_saved, 10 * MIB);
    assert_eq!(stats.overruns, 0);
}

#[test]
fn a_plan_says_what_loading_a_pipeline_adds_and_what_is_already_resident() {
    let (cache, _) = pipelines(100 * MIB);
    let plan = cache.plan(&["flux", "ltx"]).unwrap();
    let steps: Vec<(&str, Option<&str>, bool)> = plan
        .steps
        .iter()
        .map(|s| {
            (
                s.id.as_str(),
                s.component_of.as_deref(),
                matches!(s.outcome, StepOutcome::Resident),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("t5", Some("flux"), false),
            ("flux", None, false),
            ("t5", Some("ltx"), true),
            ("ltx", None, false),
        ]
    );
    assert_eq!(plan.steps.last().unwrap().charged_after, 17 * MIB);
    // Nothing was loaded.
    assert_eq!(cache.stats().charged, 0);
}

#[test]
fn budget_zero_loads_the_component_with_every_request_and_keeps_nothing() {
    let (cache, [t5, flux, _]) = pipelines(0);
    let f = cache.get::<Model>("flux").unwrap();
    assert_eq!(
        f.component::<Model>("text_encoder_2").unwrap().lock().id,
        "t5"
    );
    drop(f);
    drop(cache.get::<Model>("flux").unwrap());
    assert_eq!(t5.load(Ordering::SeqCst), 2);
    assert_eq!(flux.load(Ordering::SeqCst), 2);
    assert_eq!(cache.stats().charged, 0);
}

#[cfg(feature = "tokio")]
#[test]
fn async_requests_share_the_component_too() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (cache, [t5, _, _]) = pipelines(100 * MIB);
    runtime.block_on(async {
        let (f, l) = tokio::join!(
            cache.get_async::<Model>("flux"),
            cache.get_async::<Model>("ltx")
        );
        let (f, l) = (f.unwrap(), l.unwrap());
        let a = f.component::<Model>("text_encoder_2").unwrap();
        let b = l.component::<Model>("text_encoder").unwrap();
        assert!(modelcache_core::Handle::ptr_eq(&a, &b));
    });
    assert_eq!(t5.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().charged, 17 * MIB);
}
