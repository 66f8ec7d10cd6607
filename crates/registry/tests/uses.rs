//! Components: `uses` checked when models.toml is read and when the registry is built, uses found
//! on disk, and what the registry hands the backends and the cache.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use modelcache_backend::{
    Backend, BackendError, Component, Inspection, LoadProgress, ModelSource, Opened,
};
use modelcache_core::ModelCache;
use modelcache_registry::{Backends, Config, ConfigError, Registry, RegistryError, UseOrigin};

use common::{FakeOptions, at, position, write_config};

const FILE: &str = "/etc/mc/models.toml";

/// A pipeline that can take parts from other entries: `flux` (two text encoders) or `ltx` (one).
struct Pipe {
    name: &'static str,
    roles: &'static [&'static str],
}

/// What a [`Pipe`] was given.
#[derive(Debug, Clone)]
struct PipeModel {
    components: Vec<Component>,
}

impl Backend for Pipe {
    type Options = FakeOptions;
    type Model = PipeModel;
    type Plan = PipeModel;

    fn name(&self) -> &str {
        self.name
    }

    fn components(&self) -> &[&str] {
        self.roles
    }

    fn open(&self, src: &ModelSource<'_, FakeOptions>) -> Result<Opened<PipeModel>, BackendError> {
        let model = PipeModel {
            components: src.components.to_vec(),
        };
        Ok(Opened::new(model, Inspection::of_bytes(src.options.bytes)))
    }

    fn load(&self, m: PipeModel, _: u64, _: &dyn LoadProgress) -> Result<PipeModel, BackendError> {
        Ok(m)
    }
}

/// `flux` and `ltx` pipelines, and `safetensors` (a plain model, which takes no components);
/// none of them reads its path, so a `get` loads whatever the config names.
fn backends() -> Backends {
    Backends::new()
        .with(Pipe {
            name: "flux",
            roles: &["text_encoder", "text_encoder_2"],
        })
        .with(Pipe {
            name: "ltx",
            roles: &["text_encoder"],
        })
        .with(Pipe {
            name: "safetensors",
            roles: &[],
        })
}

fn build(config: &Config) -> Result<Registry, RegistryError> {
    Registry::build_with(&backends(), config, ModelCache::builder(), None)
}

fn parse_error(text: &str) -> ConfigError {
    Config::parse(text, FILE).unwrap_err()
}

const HEAD: &str = "[cache]\nbudget = \"1MiB\"\n";

#[test]
fn uses_is_read_in_the_order_written_and_reaches_the_policy() {
    let text = format!(
        "{HEAD}[models.t5]\nbackend = \"safetensors\"\npath = \"t5\"\n\
         [models.clip]\nbackend = \"safetensors\"\npath = \"clip\"\n\
         [models.flux]\nbackend = \"flux\"\npath = \"flux\"\n\
         uses = {{ text_encoder_2 = \"t5\", text_encoder = \"clip\" }}\n"
    );
    let config = Config::parse(&text, FILE).unwrap();
    let flux = &config.models["flux"];
    let uses: Vec<(&str, &str)> = flux
        .uses
        .iter()
        .map(|u| (u.role.as_str(), u.id.as_str()))
        .collect();
    assert_eq!(uses, [("text_encoder_2", "t5"), ("text_encoder", "clip")]);
    assert_eq!(
        (flux.uses[0].at.line, flux.uses[0].at.column),
        position(&text, "\"t5\", text")
    );
    let policy = config.policy(flux);
    assert_eq!(
        policy.uses,
        [
            ("text_encoder_2".to_owned(), "t5".to_owned()),
            ("text_encoder".to_owned(), "clip".to_owned())
        ]
    );
}

#[test]
fn a_use_of_an_unconfigured_model_is_located_and_suggests_the_likely_one() {
    let text = format!(
        "{HEAD}[models.t5-xxl]\nbackend = \"safetensors\"\npath = \"t5\"\n\
         [models.flux]\nbackend = \"flux\"\npath = \"flux\"\nuses = {{ text_encoder_2 = \"t5-xl\" }}\n"
    );
    let e = parse_error(&text);
    assert!(matches!(e, ConfigError::UnknownComponent { .. }), "{e:?}");
    assert_eq!(e.model(), Some("flux"));
    assert_eq!(at(&e), position(&text, "\"t5-xl\""));
    assert_eq!(
        e.to_string(),
        format!(
            "{FILE}:{}:{}: model \"flux\" uses \"t5-xl\" as text_encoder_2, but no \
             [models.t5-xl] is configured; did you mean \"t5-xxl\"?",
            at(&e).0,
            at(&e).1
        )
    );
    // Nothing close: the configured IDs are listed.
    let text = text.replace("t5-xl\"", "umt5\"");
    let msg = parse_error(&text).to_string();
    assert!(msg.ends_with("configured: flux, t5-xxl"), "{msg}");
}

#[test]
fn a_use_of_a_model_with_problems_of_its_own_reports_only_those() {
    // The component is configured, with a typo in its table: that is the one problem.
    let text = format!(
        "{HEAD}[models.t5]\nbackend = \"safetensors\"\npath = \"t5\"\npinn = true\n\
         [models.flux]\nbackend = \"flux\"\npath = \"flux\"\nuses = {{ text_encoder_2 = \"t5\" }}\n"
    );
    let e = parse_error(&text);
    assert!(e.to_string().contains("unknown key `pinn`"), "{e}");
    assert_eq!(e.problems().len(), 1, "{e}");
}

#[test]
fn a_model_using_itself_is_located_at_its_own_id() {
    let text = format!(
        "{HEAD}[models.flux]\nbackend = \"flux\"\npath = \"flux\"\nuses = {{ text_encoder = \"flux\" }}\n"
    );
    let e = parse_error(&text);
    assert!(matches!(e, ConfigError::UsesItself { .. }), "{e:?}");
    assert_eq!(at(&e), position(&text, "\"flux\" }"));
    assert!(
        e.to_string()
            .contains("model \"flux\" uses itself as text_encoder"),
        "{e}"
    );
}

#[test]
fn a_cycle_is_named_whole_at_each_of_its_models_and_they_are_left_out() {
    let text = format!(
        "{HEAD}[models.a]\nbackend = \"flux\"\npath = \"a\"\nuses = {{ text_encoder = \"b\" }}\n\
         [models.b]\nbackend = \"flux\"\npath = \"b\"\nuses = {{ text_encoder = \"c\" }}\n\
         [models.c]\nbackend = \"flux\"\npath = \"c\"\nuses = {{ text_encoder = \"a\" }}\n\
         [models.free]\nbackend = \"flux\"\npath = \"free\"\n"
    );
    let (config, problems) = Config::parse_lenient(&text, FILE).unwrap();
    let found: Vec<(Option<&str>, (usize, usize), String)> = problems
        .iter()
        .map(|p| (p.model(), at(p), p.to_string()))
        .collect();
    assert_eq!(found.len(), 3, "{found:?}");
    for ((model, place, msg), (id, cycle, value)) in found.iter().zip([
        ("a", "a -> b -> c -> a", "\"b\""),
        ("b", "b -> c -> a -> b", "\"c\""),
        ("c", "c -> a -> b -> c", "\"a\""),
    ]) {
        assert_eq!(*model, Some(id));
        assert_eq!(*place, position(&text, &format!("{value} }}")), "{msg}");
        assert!(
            msg.contains(&format!("model \"{id}\" is in a cycle of uses, {cycle}")),
            "{msg}"
        );
    }
    let kept: Vec<&str> = config.models.keys().map(String::as_str).collect();
    assert_eq!(kept, ["free"]);
}

#[test]
fn every_problem_of_uses_is_gathered_with_the_others_in_file_order() {
    let text = format!(
        "{HEAD}[models.a]\nbackend = \"flux\"\npath = \"a\"\nuses = {{ text_encoder = \"nope\" }}\n\
         [models.b]\nbackend = \"flux\"\npath = \"b\"\nuses = \"t5\"\n\
         [models.c]\nbackend = \"flux\"\npath = \"c\"\nuses = {{ text_encoder = 5 }}\n\
         [models.d]\nbackend = \"flux\"\npath = \"d\"\nuses = {{ text_encoder = \"d\" }}\n"
    );
    let e = parse_error(&text);
    let lines: Vec<usize> = e.problems().iter().map(|p| at(p).0).collect();
    assert_eq!(lines, [6, 10, 14, 18], "{e}");
    let msgs: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
    assert!(
        msgs[0].contains("no [models.nope] is configured"),
        "{}",
        msgs[0]
    );
    assert!(
        msgs[1].contains("`uses`: expected a table such as { text_encoder_2 = \"t5-xxl\" }"),
        "{}",
        msgs[1]
    );
    assert!(
        msgs[2].contains("in [models.c.uses]: `text_encoder`"),
        "{}",
        msgs[2]
    );
    assert!(msgs[3].contains("uses itself"), "{}", msgs[3]);
}

#[test]
fn a_role_the_backend_does_not_take_names_the_ones_it_does() {
    let text = format!(
        "{HEAD}[models.t5]\nbackend = \"safetensors\"\npath = \"t5\"\n\
         [models.ltx]\nbackend = \"ltx\"\npath = \"ltx\"\nuses = {{ text_encoder_2 = \"t5\" }}\n"
    );
    let config = Config::parse(&text, FILE).unwrap();
    let e = build(&config).unwrap_err();
    let RegistryError::Config(e) = e else {
        panic!("{e:?}")
    };
    assert!(matches!(e, ConfigError::UnknownRole { .. }), "{e:?}");
    assert_eq!(e.model(), Some("ltx"));
    assert_eq!(at(&e), position(&text, "text_encoder_2 ="));
    assert!(
        e.to_string().ends_with(
            "model \"ltx\" uses \"t5\" as text_encoder_2, but backend \"ltx\" takes only \
             text_encoder"
        ),
        "{e}"
    );
    // A backend that takes none says so.
    let text = format!(
        "{HEAD}[models.t5]\nbackend = \"safetensors\"\npath = \"t5\"\n\
         [models.plain]\nbackend = \"safetensors\"\npath = \"p\"\nuses = {{ text_encoder = \"t5\" }}\n"
    );
    let e = build(&Config::parse(&text, FILE).unwrap()).unwrap_err();
    assert!(e.to_string().ends_with("takes no components"), "{e}");
}

#[test]
fn a_use_of_a_model_no_longer_configured_is_refused_when_built() {
    // A program that edits the parsed config (the CLI leaves out models with problems).
    let text = format!(
        "{HEAD}[models.t5]\nbackend = \"safetensors\"\npath = \"t5\"\n\
         [models.flux]\nbackend = \"flux\"\npath = \"flux\"\nuses = {{ text_encoder_2 = \"t5\" }}\n"
    );
    let mut config = Config::parse(&text, FILE).unwrap();
    config.models.remove("t5");
    let e = build(&config).unwrap_err();
    assert!(
        matches!(&e, RegistryError::Config(ConfigError::UnknownComponent { model, .. }) if model == "flux"),
        "{e:?}"
    );
}

#[test]
fn written_uses_reach_the_backend_and_the_cache_components_first() {
    // The pipeline is written before its components: they are registered first all the same.
    let text = format!(
        "{HEAD}[models.flux]\nbackend = \"flux\"\npath = \"flux\"\n\
         uses = {{ text_encoder_2 = \"t5\", text_encoder = \"clip\" }}\n\
         [models.ltx]\nbackend = \"ltx\"\npath = \"ltx\"\nuses = {{ text_encoder = \"t5\" }}\n\
         [models.t5]\nbackend = \"safetensors\"\npath = \"t5\"\noptions = {{ bytes = 300 }}\n\
         [models.clip]\nbackend = \"safetensors\"\npath = \"clip\"\n"
    );
    let registry = build(&Config::parse(&text, FILE).unwrap()).unwrap();
    let flux = registry.model("flux").unwrap();
    let given = flux.loader().components();
    assert_eq!(
        given,
        [
            Component {
                role: "text_encoder_2".into(),
                id: "t5".into(),
                path: Path::new("/etc/mc/t5").into(),
                backend: "safetensors".into(),
            },
            Component {
                role: "text_encoder".into(),
                id: "clip".into(),
                path: Path::new("/etc/mc/clip").into(),
                backend: "safetensors".into(),
            },
        ]
    );
    assert!(flux.uses.iter().all(|u| u.origin == UseOrigin::Written));
    // What the backend's open saw.
    let loaded = registry.get::<PipeModel>("flux").unwrap();
    assert_eq!(loaded.lock().components, given);
    // The cache loaded t5 first and hands it over: the same instance ltx gets.
    let t5 = loaded.component::<PipeModel>("text_encoder_2").unwrap();
    let ltx = registry.get::<PipeModel>("ltx").unwrap();
    assert!(modelcache_core::Handle::ptr_eq(
        &t5,
        &ltx.component("text_encoder").unwrap()
    ));
    assert_eq!(
        flux.policy.uses,
        [
            ("text_encoder_2".to_owned(), "t5".to_owned()),
            ("text_encoder".to_owned(), "clip".to_owned())
        ]
    );
    assert_eq!(registry.used_by("t5"), ["flux", "ltx"]);
    assert_eq!(registry.used_by("clip"), ["flux"]);
    assert!(registry.used_by("flux").is_empty());
    assert_eq!(registry.cache().registered(), ["clip", "flux", "ltx", "t5"]);
}

/// `root/flux/text_encoder_2` (a real folder), and the config `text` in `root`.
fn on_disk(root: &Path, text: &str, folders: &[&str]) -> Registry {
    let file = write_config(root, &format!("{HEAD}{text}"), folders);
    build(&Config::from_file(file).unwrap()).unwrap()
}

#[test]
fn a_component_whose_path_is_inside_the_pipeline_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let registry = on_disk(
        dir.path(),
        "[models.flux]\nbackend = \"flux\"\npath = \"flux\"\n\
         [models.t5-xxl]\nbackend = \"safetensors\"\npath = \"flux/text_encoder_2/\"\n\
         options = { bytes = 300 }\n",
        &["flux/text_encoder_2", "flux/text_encoder"],
    );
    let flux = registry.model("flux").unwrap();
    let folder = std::fs::canonicalize(dir.path().join("flux/text_encoder_2")).unwrap();
    assert_eq!(flux.uses.len(), 1, "{:?}", flux.uses);
    assert_eq!(flux.uses[0].role, "text_encoder_2");
    assert_eq!(flux.uses[0].id, "t5-xxl");
    assert_eq!(flux.uses[0].origin, UseOrigin::SameFolder(folder));
    assert_eq!(flux.loader().components()[0].id, "t5-xxl");
    assert_eq!(
        flux.loader().components()[0].path,
        dir.path().join("flux/text_encoder_2/")
    );
    assert_eq!(registry.used_by("t5-xxl"), ["flux"]);
    // The component's own folder has no `text_encoder_2` and its backend takes no roles.
    assert!(registry.model("t5-xxl").unwrap().uses.is_empty());

    // `check` charges each model its own hint and says what sharing saves (one user: nothing).
    let report = registry.check();
    assert_eq!(report.shared.len(), 1);
    assert_eq!(report.shared[0].saved(), Some(0));
}

#[cfg(unix)]
#[test]
fn pipelines_whose_folders_link_to_one_component_share_it_and_check_counts_the_saving() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let text = "[models.flux]\nbackend = \"flux\"\npath = \"flux\"\n\
                [models.ltx]\nbackend = \"ltx\"\npath = \"ltx\"\n\
                [models.t5]\nbackend = \"safetensors\"\npath = \"encoders/t5\"\n\
                options = { bytes = 300 }\n";
    std::fs::create_dir_all(root.join("encoders/t5")).unwrap();
    std::fs::create_dir_all(root.join("flux")).unwrap();
    std::fs::create_dir_all(root.join("ltx")).unwrap();
    std::os::unix::fs::symlink(root.join("encoders/t5"), root.join("flux/text_encoder_2")).unwrap();
    std::os::unix::fs::symlink("../encoders/t5", root.join("ltx/text_encoder")).unwrap();
    let registry = on_disk(root, text, &[]);
    let uses = |id: &str| {
        let m = registry.model(id).unwrap();
        m.uses
            .iter()
            .map(|u| (u.role.clone(), u.id.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        uses("flux"),
        [("text_encoder_2".to_owned(), "t5".to_owned())]
    );
    assert_eq!(uses("ltx"), [("text_encoder".to_owned(), "t5".to_owned())]);
    assert_eq!(registry.used_by("t5"), ["flux", "ltx"]);

    let report = registry.check();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.shared.len(), 1);
    assert_eq!(report.shared[0].id, "t5");
    assert_eq!(report.shared[0].bytes, Some(300));
    assert_eq!(report.shared[0].saved(), Some(300));
    assert_eq!(report.bytes_saved(), 300);
    // With sharing: flux, ltx (1000 each) and t5 once; without, each pipeline its own t5.
    let hints = |id: &str| report.models.iter().find(|r| r.id == id)?.bytes;
    let bytes = registry.sharing_bytes(hints).unwrap();
    assert_eq!((bytes.with, bytes.without), (2300, 2600));
    assert_eq!(registry.sharing_bytes(|_| None), None);
    assert!(
        report
            .to_string()
            .contains("shared t5 used by flux, ltx: saves 300 B"),
        "{report}"
    );
}

#[cfg(unix)]
#[test]
fn a_written_use_beats_the_one_on_disk_and_ambiguity_finds_none() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("flux/text_encoder_2")).unwrap();
    std::fs::create_dir_all(root.join("flux/text_encoder")).unwrap();
    std::fs::create_dir_all(root.join("other-t5")).unwrap();
    let registry = on_disk(
        root,
        "[models.flux]\nbackend = \"flux\"\npath = \"flux\"\n\
         uses = { text_encoder_2 = \"other-t5\" }\n\
         [models.t5]\nbackend = \"safetensors\"\npath = \"flux/text_encoder_2\"\n\
         [models.other-t5]\nbackend = \"safetensors\"\npath = \"other-t5\"\n\
         [models.clip-a]\nbackend = \"safetensors\"\npath = \"flux/text_encoder\"\n\
         [models.clip-b]\nbackend = \"safetensors\"\npath = \"flux/text_encoder\"\n\
         options = { dtype = \"bf16\" }\n",
        &[],
    );
    let flux = registry.model("flux").unwrap();
    // text_encoder_2 as written; text_encoder is two entries' folder, so neither is picked.
    assert_eq!(flux.uses.len(), 1, "{:?}", flux.uses);
    assert_eq!(flux.uses[0].id, "other-t5");
    assert_eq!(flux.uses[0].origin, UseOrigin::Written);
    assert!(registry.used_by("t5").is_empty());
    assert!(registry.used_by("clip-a").is_empty());
}

#[test]
fn copies_in_different_folders_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for f in ["flux/text_encoder_2", "t5"] {
        std::fs::create_dir_all(root.join(f)).unwrap();
        std::fs::write(root.join(f).join("model.safetensors"), b"same bytes").unwrap();
    }
    let registry = on_disk(
        root,
        "[models.flux]\nbackend = \"flux\"\npath = \"flux\"\n\
         [models.t5]\nbackend = \"safetensors\"\npath = \"t5\"\n",
        &[],
    );
    assert!(registry.model("flux").unwrap().uses.is_empty());
}
