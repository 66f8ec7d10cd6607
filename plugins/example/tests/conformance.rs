//! The example backend passes the contract half of the conformance suite with one line, as any
//! backend written against modelcache-backend alone does. (Its checkpoint is a text file, so
//! the safetensors half, corruptions of safetensors headers, does not apply.)

use std::path::Path;

use modelcache_conformance::{Case, Suite};
use modelcache_example_plugin::{ExampleBackend, ExampleOptions, MODEL_FILE};

fn write(dir: &Path, text: &str) -> std::io::Result<std::path::PathBuf> {
    let model = dir.join("hello");
    std::fs::create_dir(&model)?;
    std::fs::write(model.join(MODEL_FILE), text)?;
    Ok(model)
}

fn suite() -> Suite<ExampleBackend> {
    Suite::new(ExampleBackend)
        .case(Case::new("text", |dir| write(dir, "hello, world")))
        .case(
            Case::new("text-repeated", |dir| write(dir, "hi ")).options(|| ExampleOptions {
                uppercase: false,
                repeat: 4,
            }),
        )
}

modelcache_conformance::contract_tests!(suite());
