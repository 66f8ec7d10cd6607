//! The command line, run as a user runs it, on generated tiny checkpoints in a temp folder.
//! One test per message a user meets, asserting on the text they see.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{BUNDLED, run, truncate_kokoro_weights, workspace};

/// The bundled config with budgets the tiny checkpoints fill (they are about 0.4 to 0.9 MiB
/// each): two or three models fit, so a sequence of four evicts.
fn small() -> String {
    BUNDLED
        .replace("budget = \"160MiB\"", "budget = \"1500KiB\"")
        .replace("96MiB", "1MiB")
}

/// `bench` with a short trace: `requests` from `clients`, few samples, one load per model.
fn bench_args<'a>(json: bool, requests: &'a str, clients: &'a str) -> Vec<&'a str> {
    let mut args = vec!["bench"];
    if json {
        args.push("--json");
    }
    args.extend([
        "--requests",
        requests,
        "--clients",
        clients,
        "--hit-samples",
        "20",
        "--load-runs",
        "1",
        "--hold",
        "0s",
    ]);
    args
}

/// The line of table `text` for `model` that says `marker`.
fn row<'a>(text: &'a str, model: &str, marker: &str) -> &'a str {
    lines_with(text, model)
        .into_iter()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no row for {model} saying {marker}: {text}"))
}

/// The lines of `text` that mention `needle`.
fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn check_passes_on_the_bundled_config() {
    let (dir, _) = workspace(BUNDLED);
    let (code, out, err) = run(dir.path(), &["check"]);
    assert_eq!(code, 0, "{out}\n{err}");
    for id in [
        "flux-schnell",
        "flux-mflux-4bit",
        "ltx-video",
        "kokoro",
        "minilm",
    ] {
        assert!(out.contains(id), "{out}");
    }
    assert!(out.contains("all 6 models OK"), "{out}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn check_reports_a_missing_folder_a_corrupt_file_and_an_unknown_backend_together() {
    let config = format!(
        "{BUNDLED}\n[models.gone]\nbackend = \"ltx\"\npath = \"models/nowhere\"\n\n\
         [models.typo]\nbackend = \"fluxx\"\npath = \"models/generated/flux-schnell\"\n"
    );
    let (dir, _) = workspace(&config);
    truncate_kokoro_weights(dir.path());
    let (code, out, err) = run(dir.path(), &["check"]);
    // A configuration problem (the unknown backend) is the most serious: exit 3.
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(err.starts_with("error: 3 problems:\n"), "{err}");
    let gone = lines_with(&err, "\"gone\"");
    assert!(
        gone.len() == 1 && gone[0].contains("models/nowhere): the path does not exist"),
        "missing folder: {err}"
    );
    assert!(
        err.contains("hint: put the checkpoint there, or change `path` in [models.gone]"),
        "{err}"
    );
    assert!(
        err.contains("\"kokoro\"") && err.contains("kokoro-v1_0.safetensors"),
        "corrupt file: {err}"
    );
    assert!(
        err.contains("unknown backend \"fluxx\" for model \"typo\"; known: flux, flux-pipeline, kokoro, ltx, safetensors"),
        "{err}"
    );
    assert!(out.contains("8 models (1 left out"), "{out}");
    assert!(err.contains("models.toml:"), "locations: {err}");
}

/// Every config problem in one run, each located, in the file's order; the models without
/// one are still checked; exit 3, as the README says.
#[test]
fn check_reports_every_config_problem_in_one_run() {
    let config = BUNDLED
        .replace(
            "load_timeout = \"2m\"",
            "load_timeout = \"-2m\"\nbugdet = 4",
        )
        .replace(
            "keep_alive = \"10m\"",
            "keep_alive = \"10 fortnights\"\npinn = true",
        )
        .replace(
            "options = { voices = [\"af_heart\", \"am_adam\"] }",
            "options = { voices = \"af_heart\" }",
        )
        .replace(
            "[pools.video]\nbudget = \"96MiB\"",
            "[pools.video]\nbudget = \"-5GiB\"",
        );
    let (dir, _) = workspace(&config);
    let (code, out, err) = run(dir.path(), &["check"]);
    assert_eq!(code, 3, "{out}\n{err}");
    let problems: Vec<&str> = err.lines().filter(|l| l.starts_with("  - ")).collect();
    let expect = [
        ":9:16: in [cache]: `load_timeout`: invalid duration \"-2m\": a duration cannot be negative",
        ":10:1: in [cache]: unknown key `bugdet`; did you mean `budget`?",
        ":24:14: in [models.flux-mflux-4bit]: `keep_alive`: invalid duration \"10 fortnights\": \
         unknown unit \"fortnights\"",
        ":25:1: in [models.flux-mflux-4bit]: unknown key `pinn`; did you mean `pin`?",
        "invalid options for backend \"kokoro\": model \"kokoro\": expected \"all\" or a list \
         of voice names, found \"af_heart\" (write [\"af_heart\"] for one voice); in `voices`",
        "in [pools.video]: `budget`: invalid budget \"-5GiB\": a size cannot be negative",
    ];
    assert_eq!(problems.len(), expect.len(), "{err}");
    for (line, part) in problems.iter().zip(expect) {
        assert!(line.contains(part), "{line:?} lacks {part:?}\n{err}");
    }
    // The pool whose budget is invalid is checked as unlimited, and said to be.
    assert!(out.contains("pools: video unlimited"), "{out}");
    // The models without a problem are inspected all the same.
    assert!(
        lines_with(&out, "flux-schnell")
            .iter()
            .any(|l| l.contains("diffusers")),
        "{out}"
    );
    assert!(
        !err.contains("\n\n"),
        "no blank lines in a message: {err:?}"
    );
}

#[test]
fn ls_lists_models_and_budgets() {
    let (dir, _) = workspace(BUNDLED);
    let (code, out, err) = run(dir.path(), &["ls"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("budget 160.00 MiB") && out.contains("video 96.00 MiB"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("kokoro") && l.contains("yes")),
        "kokoro is pinned: {out}"
    );
}

/// The sequence the issue reported: `plan` said "does not fit" where `load` evicted twice.
/// Now both say the same: which step evicts which model.
#[test]
fn plan_shows_the_evictions_load_makes() {
    let (dir, _) = workspace(&small());
    let ids = ["flux-schnell", "flux-mflux-4bit", "ltx-video", "kokoro"];
    let args: Vec<&str> = ["plan"].into_iter().chain(ids).collect();
    let (code, plan, err) = run(dir.path(), &args);
    assert_eq!(code, 0, "{plan}\n{err}");
    // ltx-video's T5 is the one flux-schnell loaded: a hit, kept through the evictions.
    assert!(
        row(&plan, "t5-xxl (for ltx-video)", "").contains("hit: resident"),
        "{plan}"
    );
    assert!(
        row(&plan, "   3  ltx-video", "loads")
            .contains("evicts flux-schnell (755.07 KiB), flux-mflux-4bit (537.82 KiB)"),
        "{plan}"
    );
    assert!(
        !row(&plan, "  kokoro", "loads").contains("evicts"),
        "{plan}"
    );
    assert!(
        plan.contains("fits with each model idle after its step"),
        "{plan}"
    );
    assert!(plan.contains("2 eviction(s)"), "{plan}");

    let args: Vec<&str> = ["load"].into_iter().chain(ids).collect();
    let (code, load, err) = run(dir.path(), &args);
    assert_eq!(code, 0, "{load}\n{err}");
    let ltx = row(&load, "ltx-video", "loaded");
    assert!(
        ltx.contains("flux-schnell") && ltx.contains("flux-mflux-4bit"),
        "{load}"
    );
    assert!(load.contains("2 evictions"), "{load}");

    // With --hold, every model is kept in use: the third would wait, and the plan says for
    // whom and how long.
    let args: Vec<&str> = ["plan", "--hold"].into_iter().chain(ids).collect();
    let (code, plan, err) = run(dir.path(), &args);
    assert_eq!(code, 1, "{plan}\n{err}");
    assert!(
        plan.contains("does not fit with every model kept in use (--hold)"),
        "{plan}"
    );
    assert!(
        err.contains(
            "step 3: model \"ltx-video\" would wait for room in the budget, held by \
             flux-schnell (755.07 KiB, in use), flux-mflux-4bit (537.82 KiB, in use), t5-xxl \
             (74.31 KiB, in use), for up to `load_timeout` (2m), then fail"
        ),
        "{err}"
    );
}

#[test]
fn plan_of_a_repeated_id_is_a_hit() {
    let (dir, _) = workspace(BUNDLED);
    let (code, out, err) = run(dir.path(), &["plan", "ltx-video", "ltx-video"]);
    assert_eq!(code, 0, "{out}\n{err}");
    // Each request of ltx-video has a step for its component t5-xxl first.
    let (components, steps): (Vec<&str>, Vec<&str>) = lines_with(&out, "ltx-video")
        .into_iter()
        .partition(|l| l.contains("t5-xxl (for ltx-video)"));
    assert!(
        steps[0].contains("loads") && components[0].contains("loads"),
        "{out}"
    );
    assert!(steps[1].contains("hit: resident"), "{out}");
    assert!(components[1].contains("hit: resident"), "{out}");
}

/// With `budget = 0` (retain nothing), `check`, `plan` and `load` agree: every model is
/// served, loaded for each request and not kept.
#[test]
fn check_plan_and_load_agree_at_budget_zero() {
    let (dir, _) = workspace(&BUNDLED.replace("budget = \"160MiB\"", "budget = 0"));
    let (code, out, err) = run(dir.path(), &["check"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(lines_with(&out, "yes, not kept").len(), 6, "{out}");
    let (code, out, err) = run(dir.path(), &["plan", "kokoro", "kokoro"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        lines_with(&out, "loads; not kept (the budget is 0)").len(),
        2,
        "{out}"
    );
    let (code, out, err) = run(dir.path(), &["load", "kokoro", "kokoro"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(lines_with(&out, "loaded, not kept").len(), 2, "{out}");
}

#[test]
fn plan_names_the_pinned_model_in_the_way_and_the_key_to_change() {
    let config = BUNDLED.replace("budget = \"160MiB\"", "budget = \"1MiB\"");
    let (dir, _) = workspace(&config);
    let (code, out, _) = run(dir.path(), &["plan", "kokoro"]);
    assert_eq!(code, 0, "{out}");
    // Kokoro is pinned in the bundled config: once loaded it holds its room for good.
    let (code, out, err) = run(dir.path(), &["plan", "kokoro", "ltx-video"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("fails (below)"), "{out}");
    assert!(
        err.contains("held by: kokoro (364.16 KiB, pinned)")
            && err.contains(
                "hint: pinned models are never evicted: set `pin = false` in \
                 [models.kokoro], or raise `budget` in [cache]"
            ),
        "{err}"
    );
}

#[test]
fn load_reports_measured_size_and_hint_error() {
    let (dir, _) = workspace(BUNDLED);
    let (code, out, err) = run(dir.path(), &["load", "kokoro", "flux-schnell"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let row = out
        .lines()
        .find(|l| l.trim_start().starts_with("kokoro"))
        .unwrap();
    assert!(row.contains("+0.00%") && row.contains("loaded"), "{out}");
    assert!(out.contains("charged"), "{out}");
}

/// A failed load is said once: no log line before it (with or without -v), no colour when
/// not on a terminal, and no `caused by:` repeating the message.
#[test]
fn a_failed_load_is_reported_once_without_colour() {
    let (dir, _) = workspace(BUNDLED);
    truncate_kokoro_weights(dir.path());
    for args in [&["load", "kokoro"][..], &["-v", "load", "kokoro"]] {
        let (code, _, err) = run(dir.path(), args);
        assert_eq!(code, 1, "{err}");
        assert!(!err.contains('\u{1b}'), "colour escapes: {err:?}");
        assert!(!err.contains("WARN"), "{err}");
        assert!(!err.contains("caused by"), "{err}");
        assert_eq!(err.matches("kokoro-v1_0.safetensors").count(), 1, "{err}");
        assert!(
            err.starts_with("error: model \"kokoro\" (backend \"kokoro\"): "),
            "{err}"
        );
    }
}

/// `load A B` loads what it can: a model with bad options, and one whose checkpoint is
/// broken, are each reported beside the other, and the third is loaded.
#[test]
fn load_loads_what_it_can_and_reports_each_failure() {
    let config = BUNDLED.replace(
        "options = { components = [\"transformer\", \"vae\"] }",
        "options = { components = [\"transformer\", \"vae\"], colour = 1 }",
    );
    let (dir, _) = workspace(&config);
    truncate_kokoro_weights(dir.path());
    let (code, out, err) = run(dir.path(), &["load", "flux-schnell", "kokoro", "ltx-video"]);
    assert_eq!(
        code, 3,
        "a configuration problem is among them: {out}\n{err}"
    );
    assert!(
        lines_with(&out, "ltx-video")
            .iter()
            .any(|l| l.contains("loaded")),
        "{out}"
    );
    assert!(err.starts_with("error: 2 problems:\n"), "{err}");
    assert!(
        err.contains(
            "invalid options for backend \"flux\": model \"flux-schnell\": unknown \
             field `colour`"
        ),
        "{err}"
    );
    assert!(
        err.contains("  - model \"kokoro\" (backend \"kokoro\"): ")
            && err.contains("kokoro-v1_0.safetensors"),
        "{err}"
    );
    // plan says the same: that step is not planned, so the sequence does not fit.
    let (code, out, _) = run(dir.path(), &["plan", "flux-schnell", "ltx-video"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        row(&out, "flux-schnell", "not planned").contains("its configuration has a problem"),
        "{out}"
    );
    assert!(
        out.contains(", 1 not planned (a configuration problem)"),
        "{out}"
    );
}

/// Sizes in human units with the exact bytes, and the key to change named.
#[test]
fn an_oversized_model_names_the_keys_to_change() {
    let config = BUNDLED.replacen("pin = true", "pin = true\nsize = \"200MiB\"", 1);
    let (dir, _) = workspace(&config);
    let (code, out, err) = run(dir.path(), &["load", "kokoro"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "nothing loaded, no empty table: {out}");
    assert_eq!(
        err,
        "error: model \"kokoro\" needs 200.00 MiB (209,715,200 bytes), more than the whole of \
         the cache budget, 160.00 MiB (167,772,160 bytes); allow a lone oversized model to load \
         it anyway\n  hint: raise `budget` in [cache] to at least 200.00 MiB (209,715,200 \
         bytes), or set `allow_oversized = true` in [cache] to admit a lone model larger than \
         its budget; or lower `size` in [models.kokoro], if it says more than the model needs\n"
    );
    let (code, out, err) = run(dir.path(), &["check"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        lines_with(&out, "kokoro")[0].contains(" no "),
        "fits: no: {out}"
    );
    assert!(err.contains("`allow_oversized = true`"), "{err}");
}

#[test]
fn a_configured_size_too_small_is_named_as_the_reason() {
    let config = BUNDLED.replacen("pin = true", "pin = true\nsize = \"100KiB\"", 1);
    let (dir, _) = workspace(&config);
    let (code, _, err) = run(dir.path(), &["load", "kokoro"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "needs 364.16 KiB (372,896 bytes), more than its configured `size`, \
             100.00 KiB (102,400 bytes), which is all a load of it may allocate; raise `size` \
             or remove it"
        ),
        "{err}"
    );
    assert!(
        !err.contains("changed since"),
        "the file did not change: {err}"
    );
    let (code, _, err) = run(dir.path(), &["check"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("more than its configured `size`"), "{err}");
}

/// Sizes and durations say which mistake it is.
#[test]
fn bad_sizes_and_durations_give_the_right_reason() {
    let cases = [
        (
            "\"-5GiB\"",
            "invalid budget \"-5GiB\": a size cannot be negative",
        ),
        ("-5", "invalid budget -5: a size cannot be negative"),
        (
            "\"99999999999999999999GiB\"",
            "invalid budget \"99999999999999999999GiB\": too large: the most is \
             18446744073709551615 bytes (16 EiB)",
        ),
        (
            "\"12 parsecs\"",
            "invalid budget \"12 parsecs\": unknown unit \"parsecs\"; use B, KB, MB, GB, TB, \
             KiB, MiB, GiB or TiB, or a share such as 80%",
        ),
    ];
    for (value, message) in cases {
        let config = BUNDLED.replace("budget = \"160MiB\"", &format!("budget = {value}"));
        let (dir, _) = workspace(&config);
        let (code, _, err) = run(dir.path(), &["ls"]);
        assert_eq!(code, 3, "{err}");
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: ")
                && first.contains(":8:10: in [cache]: `budget`: ")
                && first.ends_with(message),
            "{value}: {err}"
        );
        // check goes on, without a budget, and says it once (not also "no budget").
        let (code, out, err) = run(dir.path(), &["check"]);
        assert_eq!(code, 3, "{err}");
        assert!(
            out.contains("budget unknown (see the problems below)"),
            "{out}"
        );
        assert!(
            err.starts_with("error: /") && !err.contains("no budget"),
            "{err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(dir.path(), &["fixtures", "--scale", "5 parsecs"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "invalid size \"5 parsecs\": unknown unit \"parsecs\"; use B, KB, MB, GB, \
             TB, KiB, MiB, GiB or TiB; or `tiny`"
        ) && !err.contains('%'),
        "{err}"
    );
    let (code, _, err) = run(dir.path(), &["fixtures", "--scale", "5%"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a size is bytes"), "{err}");
    let (code, _, err) = run(dir.path(), &["bench", "--hold", "5 fortnights"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown unit \"fortnights\""), "{err}");
    let (code, _, err) = run(dir.path(), &["bench", "--hold=-5ms"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a duration cannot be negative"), "{err}");
}

/// Every numeric flag of `bench` is checked, with a message saying the range.
#[test]
fn bench_flags_out_of_range_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value, says) in [
        ("--clients", "0", "0 is not in 1..=256"),
        ("--requests", "0", "0 is not in 1..=10000000"),
        ("--load-runs", "0", "0 is not in 1..=1000"),
        ("--hit-samples", "-3", "unexpected argument"),
        ("--skew", "nan", "not in 0..=10"),
        ("--skew", "lots", "\"lots\" is not a number"),
        ("--hold", "2h", "longer than 60s"),
    ] {
        let (code, _, err) = run(dir.path(), &["bench", flag, value]);
        assert_eq!(code, 2, "{flag} {value}: {err}");
        assert!(err.contains(says), "{flag} {value}: {err}");
    }
}

#[test]
fn bench_json_measures_every_model_and_the_trace() {
    let config = BUNDLED
        .replace("budget = \"160MiB\"", "budget = \"1500KiB\"")
        .replace("96MiB", "1MiB");
    let (dir, _) = workspace(&config);
    let (code, out, err) = run(dir.path(), &bench_args(true, "60", "3"));
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 6);
    // flux-schnell and ltx-video share t5-xxl: without sharing, each holds its own copy.
    let measured = |id: &str| {
        models.iter().find(|m| m["id"] == id).unwrap()["measured_bytes"]
            .as_u64()
            .unwrap()
    };
    let (flux, ltx, t5) = (
        measured("flux-schnell"),
        measured("ltx-video"),
        measured("t5-xxl"),
    );
    assert_eq!(v["sharing"]["with"], flux + ltx + t5);
    assert_eq!(v["sharing"]["without"], flux + ltx + 2 * t5);
    for m in models {
        assert!(m["measured_bytes"].as_u64().unwrap() > 0);
        assert!(m["hint_error_pct"].as_f64().unwrap().abs() <= 1.0, "{m}");
        assert_eq!(m["hit"]["count"], 20);
    }
    let t = &v["trace"];
    let count = |k: &str| t[k].as_u64().unwrap();
    assert_eq!(count("hits") + count("loaded") + count("joined"), 60);
    assert_eq!(t["errors"], 0, "{t}");
    assert!(count("evictions") > 0, "a 1500 KiB budget evicts: {t}");
    assert!(count("peak_charged") <= 1500 << 10);
    // The reference workload on a device at each of its budgets, unloaded and demoted.
    let tiers = v["tiers"].as_array().unwrap();
    assert_eq!(tiers.len(), 3, "{tiers:?}");
    for run in tiers {
        assert_eq!(run["unload"]["promotions"], 0, "{run}");
        assert!(run["demote"]["promotions"].as_u64().unwrap() > 0, "{run}");
    }
    if cfg!(target_os = "linux") {
        let m = &v["memory"];
        assert!(
            m["peak"].as_u64().unwrap() >= m["before_loads"].as_u64().unwrap(),
            "{m}"
        );
    }
}

/// The tables have keys, an empty sample is `-` (not `0 ns`), and the peak resident memory
/// is shown beside the budget with what the difference is.
#[test]
fn bench_explains_its_tables() {
    // A budget of 0 keeps nothing: there are no hits to time.
    let config = BUNDLED.replace("budget = \"160MiB\"", "budget = 0");
    let (dir, _) = workspace(&config);
    let (code, out, err) = run(dir.path(), &bench_args(false, "8", "2"));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!out.contains("0 ns"), "no fake zeros: {out}");
    let kokoro = lines_with(&out, "  kokoro")[0];
    assert!(kokoro.trim_end().ends_with("-        -"), "{out}");
    let hit: Vec<&str> = out
        .lines()
        .find(|l| l.trim_start().starts_with("hit ") && !l.contains("request"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(hit, ["hit", "0", "-", "-", "-"], "{out}");
    for key in [
        "requests      = hits + loaded + joined + failed",
        "joined        requests that found the model loading for another request",
        "waits         requests that waited for room",
        "the lookup alone",
        "it includes waiting for the cache's lock",
    ] {
        assert!(out.contains(key), "{key:?}: {out}");
    }
    if cfg!(target_os = "linux") {
        assert!(out.contains("Memory: peak resident "), "{out}");
        assert!(out.contains("beside a budget of 0 B"), "{out}");
        assert!(out.contains("memory the budget does not count"), "{out}");
    }
}

/// A model that cannot be measured is reported; the others are measured and replayed.
#[test]
fn bench_measures_what_it_can() {
    let (dir, _) = workspace(&small());
    truncate_kokoro_weights(dir.path());
    let (code, out, err) = run(dir.path(), &bench_args(false, "20", "2"));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        lines_with(&out, "  kokoro")[0].contains("failed (below)"),
        "{out}"
    );
    assert!(
        lines_with(&out, "  ltx-video")[0].contains("ltx"),
        "measured: {out}"
    );
    assert!(out.contains("Trace: 20 requests"), "{out}");
    let problem = lines_with(&err, "error:");
    assert!(
        problem.len() == 1 && problem[0].contains("model \"kokoro\""),
        "{err}"
    );
}

#[test]
fn errors_are_clear() {
    // Exit codes: 3 for a configuration that cannot be read or has errors, 2 for a usage error.
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(dir.path(), &["ls"]);
    assert_eq!(code, 3);
    assert!(
        err.contains("models.toml") && err.contains("--config"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("models.toml"),
        "[cache]\nbudget = \"1GiB\"\nbugdet = 3\n",
    )
    .unwrap();
    let (code, _, err) = run(dir.path(), &["ls"]);
    assert_eq!(code, 3);
    assert!(
        err.contains("models.toml:3:1") && err.contains("bugdet"),
        "{err}"
    );
    assert!(
        err.ends_with(
            "note: a problem outside the model tables stops every command but `check`, which \
             lists every problem, the models' own included\n"
        ),
        "{err}"
    );
    let (code, _, err) = run(dir.path(), &["--config", "elsewhere.toml", "ls"]);
    assert_eq!(code, 3);
    assert!(
        err.contains("cannot read elsewhere.toml")
            && err.contains("hint: check the file given by --config (or MODELCACHE_CONFIG)"),
        "{err}"
    );

    let (dir, _) = workspace(BUNDLED);
    let (code, _, err) = run(dir.path(), &["load", "sdxl"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown model \"sdxl\"") && err.contains("kokoro"),
        "{err}"
    );
}

#[test]
fn the_bundled_fixtures_are_generated_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    // A tiny copy of the bundled config: only kokoro, so generation stays quick in debug builds.
    let config = "[cache]\nbudget = \"1GiB\"\n[models.kokoro]\nbackend = \"kokoro\"\npath = \"models/generated/kokoro\"\n";
    std::fs::write(dir.path().join("models.toml"), config).unwrap();
    let (code, out, err) = run(dir.path(), &["check"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("Generating the bundled checkpoints"), "{err}");
    let (_, _, err) = run(dir.path(), &["check"]);
    assert!(!err.contains("Generating"), "generated once: {err}");
}

/// A Hugging Face folder with the generic backend: `check` validates it from headers and
/// `load` charges its exact size, sharded or not, with the options applied.
#[test]
fn check_and_load_work_on_a_hugging_face_folder() {
    use modelcache_testkit::{BertSpec, write_bert};
    let dir = tempfile::tempdir().unwrap();
    write_bert(&dir.path().join("models/minilm"), &BertSpec::tiny()).unwrap();
    let sharded = BertSpec::tiny().sharded(64 * 1024).with_seed(3);
    write_bert(&dir.path().join("models/sharded"), &sharded).unwrap();
    let config = r#"
[cache]
budget = "64MiB"

[models.minilm]
backend = "safetensors"
path = "models/minilm"
options = { dtype = "f16", skip = ["pooler."] }

[models.sharded]
backend = "safetensors"
path = "models/sharded/model.safetensors.index.json"
"#;
    std::fs::write(dir.path().join("models.toml"), config).unwrap();
    let (code, out, err) = run(dir.path(), &["check"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("all 2 models OK"), "{out}");
    let sharded: Vec<&str> = row(&out, "sharded", "safetensors")
        .split_whitespace()
        .collect();
    assert_eq!(
        sharded[..4],
        ["sharded", "safetensors", "sharded", "2"],
        "{out}"
    );
    let (code, out, err) = run(dir.path(), &["load", "minilm", "sharded"]);
    assert_eq!(code, 0, "{out}\n{err}");
    for id in ["minilm", "sharded"] {
        let row = row(&out, id, "loaded");
        assert!(row.contains("+0.00%"), "{out}");
    }

    // A typo in an option is named with the model and the key.
    let bad = config.replace("skip = ", "skips = ");
    std::fs::write(dir.path().join("models.toml"), bad).unwrap();
    let (code, out, err) = run(dir.path(), &["check"]);
    assert_ne!(code, 0, "{out}\n{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("minilm") && all.contains("skips"), "{all}");
}

/// `bench --metrics FILE` writes the cache's Prometheus exposition after the run: the models
/// the trace left resident, with their backend, and the load counters agreeing with the
/// load-duration histogram.
#[test]
fn bench_writes_metrics() {
    let (dir, _) = workspace(&small());
    let file = dir.path().join("metrics.prom");
    let mut args = bench_args(true, "40", "2");
    args.extend(["--metrics", "metrics.prom"]);
    let (code, out, err) = run(dir.path(), &args);
    assert_eq!(code, 0, "{out}\n{err}");
    let text = std::fs::read_to_string(&file).unwrap();
    let sample = |name: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.split([' ', '{']).next() == Some(name))
            .unwrap_or_else(|| panic!("no {name}: {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(sample("modelcache_loads_total") > 0.0, "{text}");
    assert_eq!(
        sample("modelcache_loads_total"),
        sample("modelcache_load_duration_seconds_count")
    );
    assert!(
        text.contains("modelcache_evictions_total{reason=\"capacity\"}"),
        "{text}"
    );
    let resident: Vec<&str> = lines_with(&text, "modelcache_model_resident_bytes{");
    assert!(!resident.is_empty(), "{text}");
    assert!(
        resident.iter().all(|l| l.contains("device=\"cpu\"")),
        "{text}"
    );
    assert!(
        text.contains("modelcache_budget_bytes{scope=\"global\"} 1536000\n"),
        "{text}"
    );
    assert!(
        text.contains("modelcache_budget_bytes{scope=\"pool\",pool=\"video\"} 1048576\n"),
        "{text}"
    );
}

/// A metrics file that cannot be written is a usage error found before the run.
#[test]
fn bench_metrics_to_an_unwritable_path_fails_at_once() {
    let (dir, _) = workspace(&small());
    let mut args = bench_args(false, "8", "1");
    args.extend(["--metrics", "no/such/folder/metrics.prom"]);
    let (code, out, err) = run(dir.path(), &args);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("writing the metrics to no/such/folder/metrics.prom"),
        "{err}"
    );
    assert!(!err.contains("measuring"), "nothing ran: {err}");
}

/// `backend = "flux-pipeline"` on the bundled Flux folder: `check` validates it as `flux` does,
/// `load` builds candle-transformers' pipeline and charges exactly what it holds; an mflux tree
/// is refused at `check`, with the reason.
#[test]
fn check_and_load_a_runnable_flux_pipeline() {
    let config = format!(
        "{BUNDLED}\n[models.flux-runnable]\nbackend = \"flux-pipeline\"\n\
         path = \"models/generated/flux-schnell\"\noptions = {{ dtype = \"f32\" }}\n\n\
         [models.mflux-runnable]\nbackend = \"flux-pipeline\"\npath = \"models/generated/flux-mflux-4bit\"\n"
    );
    let (dir, _) = workspace(&config);
    let (code, out, err) = run(dir.path(), &["check"]);
    assert_ne!(code, 0, "{out}\n{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("flux-runnable"), "{all}");
    let mflux = lines_with(&all, "mflux-runnable");
    assert!(mflux.iter().any(|l| l.contains("mflux tree")), "{all}");
    let (code, out, err) = run(dir.path(), &["load", "flux-runnable"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let row = row(&out, "flux-runnable", "loaded");
    assert!(row.contains("+0.00%"), "{out}");
}

/// A `uses` problem leaves its model out with a located error; the other models are served.
#[test]
fn a_bad_use_is_located_and_leaves_only_its_model_out() {
    let config = format!(
        "{BUNDLED}\n[models.voice]\nbackend = \"kokoro\"\npath = \"models/generated/kokoro\"\n\
         uses = {{ text_encoder = \"minilm\" }}\n\n\
         [models.typo]\nbackend = \"kokoro\"\npath = \"models/generated/kokoro\"\n\
         uses = {{ text_encoder = \"minilmm\" }}\n"
    );
    let lines = config.lines().count();
    let (dir, _) = workspace(&config);
    let (code, out, err) = run(dir.path(), &["check"]);
    assert_eq!(code, 3, "{out}\n{err}");
    let problems: Vec<&str> = err.lines().filter(|l| l.starts_with("  - ")).collect();
    assert_eq!(problems.len(), 2, "{err}");
    assert!(
        problems[0].contains(&format!(
            ":{}:10: model \"voice\" uses \"minilm\" as text_encoder, but backend \"kokoro\" \
             takes no components",
            lines - 5
        )),
        "{err}"
    );
    assert!(
        problems[1].contains(&format!(
            ":{lines}:25: model \"typo\" uses \"minilmm\" as text_encoder, but no \
             [models.minilmm] is configured; did you mean \"minilm\"?"
        )),
        "{err}"
    );
    assert!(
        out.contains("(2 left out: see the problems below)"),
        "{out}"
    );
    assert!(row(&out, "minilm", "safetensors").contains("yes"), "{out}");
    // Left out, they share nothing.
    assert!(
        !out.contains("voice uses") && !out.contains("typo uses"),
        "{out}"
    );
}

/// The bundled config shares one T5: flux-schnell finds it in its own folder, ltx-video names
/// it. `check` and `ls` say so; `check` and `bench` count what it saves.
#[test]
fn check_ls_and_bench_show_the_t5_that_flux_and_ltx_share() {
    let (dir, _) = workspace(BUNDLED);
    let (code, out, err) = run(dir.path(), &["check"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("all 6 models OK"), "{out}");
    let t5 = std::fs::canonicalize(
        dir.path()
            .join("models/generated/flux-schnell/text_encoder_2"),
    )
    .unwrap();
    for line in [
        "Shared components:".to_owned(),
        format!(
            "  flux-schnell uses t5-xxl as text_encoder_2 (found: its text_encoder_2 folder is \
             {}, the path of t5-xxl)",
            t5.display()
        ),
        "  ltx-video uses t5-xxl as text_encoder".to_owned(),
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?}: {out}");
    }
    let used = row(&out, "t5-xxl used by", "flux-schnell, ltx-video");
    assert!(
        used.contains(": loaded and charged once, saves ") && used.ends_with("x 1 more users)"),
        "{out}"
    );
    let (code, out, err) = run(dir.path(), &["ls"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.lines()
            .any(|l| l == "  t5-xxl used by flux-schnell, ltx-video"),
        "{out}"
    );
    assert!(
        out.contains("  ltx-video uses t5-xxl as text_encoder"),
        "{out}"
    );
    let (code, out, err) = run(dir.path(), &bench_args(false, "8", "2"));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("Sharing: the models that share components are charged "),
        "{out}"
    );
}

/// A use of a model left out for its own problem says so, beside that problem.
#[test]
fn a_use_of_a_model_left_out_points_at_its_problem() {
    let config = format!(
        "{BUNDLED}\n[models.enc]\nbackend = \"safetensors\"\npath = \"models/generated/minilm\"\n\
         pinn = true\n\n\
         [models.voice]\nbackend = \"kokoro\"\npath = \"models/generated/kokoro\"\n\
         uses = {{ text_encoder = \"enc\" }}\n"
    );
    let (dir, _) = workspace(&config);
    let (code, out, err) = run(dir.path(), &["check"]);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(err.contains("unknown key `pinn`"), "{err}");
    assert!(
        err.contains(
            "model \"voice\" uses \"enc\" as text_encoder, but no [models.enc] is configured"
        ),
        "{err}"
    );
    assert!(
        err.contains("[models.enc] is in the file but left out: see its own problem"),
        "{err}"
    );
}
