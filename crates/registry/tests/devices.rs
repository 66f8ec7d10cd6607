//! Devices in models.toml: `[devices.NAME] budget`, a model's `device` and `demote`, checked
//! where they are written and handed to the backends and the cache.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use modelcache_backend::{Backend, BackendError, Inspection, LoadProgress, ModelSource};
use modelcache_core::ModelCache;
use modelcache_registry::{Backends, CheckProblem, Config, ConfigError, Registry, RegistryError};

use common::{at, position};

const FILE: &str = "/etc/mc/models.toml";
const HEAD: &str = "[cache]\nbudget = \"1MiB\"\n[devices.\"cuda:0\"]\nbudget = \"2MiB\"\n";

/// The devices each open was asked for, in order.
type Opened = Arc<Mutex<Vec<Option<String>>>>;

/// A backend that records the device each open was asked for; `moves` says whether it can
/// demote.
struct Placed {
    name: &'static str,
    moves: bool,
    opened_on: Opened,
}

impl Backend for Placed {
    type Options = ();
    type Model = String;
    type Plan = String;

    fn name(&self) -> &str {
        self.name
    }

    fn open(
        &self,
        src: &ModelSource<'_, ()>,
    ) -> Result<modelcache_backend::Opened<String>, BackendError> {
        self.opened_on
            .lock()
            .unwrap()
            .push(src.device.map(str::to_owned));
        let place = src.device.unwrap_or("host").to_owned();
        Ok(modelcache_backend::Opened::new(
            place,
            Inspection::of_bytes(1 << 20),
        ))
    }

    fn load(&self, place: String, _: u64, _: &dyn LoadProgress) -> Result<String, BackendError> {
        Ok(place)
    }

    fn moves(&self) -> bool {
        self.moves
    }

    fn demote(&self, _: &String) -> Result<String, BackendError> {
        Ok("host".into())
    }

    fn promote(&self, _: &String, device: &str) -> Result<String, BackendError> {
        Ok(device.to_owned())
    }
}

fn backends(opened_on: &Opened) -> Backends {
    Backends::new()
        .with(Placed {
            name: "movable",
            moves: true,
            opened_on: Arc::clone(opened_on),
        })
        .with(Placed {
            name: "fixed",
            moves: false,
            opened_on: Arc::clone(opened_on),
        })
}

fn build(text: &str) -> Result<(Registry, Opened), RegistryError> {
    let config = Config::parse(text, FILE).unwrap();
    let opened_on = Arc::new(Mutex::new(Vec::new()));
    let registry =
        Registry::build_with(&backends(&opened_on), &config, ModelCache::builder(), None)?;
    Ok((registry, opened_on))
}

fn model(id: &str, rest: &str) -> String {
    format!("[models.{id}]\nbackend = \"movable\"\npath = \"{id}\"\n{rest}")
}

#[test]
fn devices_reach_the_cache_and_models_load_onto_their_device() {
    let text = format!(
        "{HEAD}{}{}",
        model("a", "device = \"cuda:0\"\ndemote = true\n"),
        model("b", "device = \"cuda:0\"\ndemote = true\n")
    );
    let (registry, opened_on) = build(&text).unwrap();
    assert_eq!(registry.devices(), [("cuda:0".to_owned(), 2 << 20)]);
    let policy = &registry.model("a").unwrap().policy;
    assert_eq!(
        (policy.device.as_deref(), policy.demote),
        (Some("cuda:0"), true)
    );
    let cache = registry.cache();
    assert_eq!(*cache.get::<String>("a").unwrap().lock(), "cuda:0");
    assert_eq!(*cache.get::<String>("b").unwrap().lock(), "cuda:0");
    assert_eq!(opened_on.lock().unwrap()[0].as_deref(), Some("cuda:0"));
    // Two models of 1 MiB on a device of 2 MiB, none in host memory.
    let stats = cache.stats();
    assert_eq!(stats.charged, 0);
    let device = stats.pools.iter().find(|p| p.device).unwrap();
    assert_eq!((device.name.as_str(), device.charged), ("cuda:0", 2 << 20));
}

#[test]
fn an_unknown_device_is_located_and_lists_the_known_ones() {
    let text = format!("{HEAD}{}", model("a", "device = \"cuda:1\"\n"));
    let e = Config::parse(&text, FILE).unwrap_err();
    assert!(matches!(e, ConfigError::UnknownDevice { .. }), "{e:?}");
    assert_eq!(e.model(), Some("a"));
    // At the value, as an unknown pool is.
    assert_eq!(at(&e), position(&text, "\"cuda:1\""));
    let message = e.to_string();
    assert!(
        message.contains("unknown device \"cuda:1\"") && message.contains("cuda:0"),
        "{message}"
    );
}

#[test]
fn placements_that_cannot_work_are_located_problems() {
    let text = format!(
        "{HEAD}[pools.gpu]\nbudget = \"1MiB\"\n{}{}",
        model("both", "pool = \"gpu\"\ndevice = \"cuda:0\"\n"),
        model("hostonly", "demote = true\n")
    );
    let e = Config::parse(&text, FILE).unwrap_err();
    let ConfigError::Several { problems, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].to_string().contains("leave `pool` out"),
        "{}",
        problems[0]
    );
    assert_eq!(at(&problems[0]), position(&text, "\"gpu\""));
    assert!(
        problems[1].to_string().contains("no device"),
        "{}",
        problems[1]
    );
    let (line, column) = position(&text, "demote = true");
    assert_eq!(at(&problems[1]), (line, column + "demote = ".len()));
}

#[test]
fn a_device_and_a_pool_cannot_share_a_name() {
    let text = "[cache]\nbudget = \"1MiB\"\n[pools.gpu]\nbudget = \"1MiB\"\n[devices.gpu]\nbudget = \"1MiB\"\n";
    let e = Config::parse(text, FILE).unwrap_err();
    assert!(e.to_string().contains("both a pool and a device"), "{e}");
}

#[test]
fn demote_on_a_backend_that_cannot_move_is_refused_when_the_registry_is_built() {
    let text = format!(
        "{HEAD}[models.a]\nbackend = \"fixed\"\npath = \"a\"\ndevice = \"cuda:0\"\ndemote = true\n"
    );
    let e = build(&text).map(|_| ()).unwrap_err();
    let message = e.to_string();
    assert!(message.contains("cannot move models"), "{message}");
    assert!(
        message.contains("\"fixed\""),
        "names the backend: {message}"
    );
    // Without demote, the same backend serves a model on the device.
    let text =
        format!("{HEAD}[models.a]\nbackend = \"fixed\"\npath = \"a\"\ndevice = \"cuda:0\"\n");
    let (registry, _) = build(&text).unwrap();
    assert_eq!(
        *registry.cache().get::<String>("a").unwrap().lock(),
        "cuda:0"
    );
}

#[test]
fn check_compares_a_model_on_a_device_with_that_device_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().display();
    // 3 MiB: more than the device's 2 MiB and the 1 MiB of host memory, which it never uses.
    let text = format!(
        "{HEAD}[models.big]\nbackend = \"movable\"\npath = \"{path}\"\ndevice = \"cuda:0\"\nsize = \"3MiB\"\n"
    );
    let (registry, _) = build(&text).unwrap();
    let report = registry.check();
    let problem = report.models[0].problem.as_ref().unwrap();
    assert!(
        matches!(problem, CheckProblem::TooLarge { budget, pool: Some(d), device: true } if *budget == 2 << 20 && d == "cuda:0"),
        "{problem:?}"
    );
    let text = problem.to_string();
    assert!(
        text.starts_with("larger than device \"cuda:0\", 2"),
        "{text}"
    );
}
