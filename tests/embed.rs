//! The embedding example on a generated BERT folder: one L2-normalised vector per input, the
//! same text gives the same vector, and padding a batch does not change a text's embedding.
#![allow(clippy::unwrap_used)]

#[path = "../examples/embed.rs"]
mod embed;

use std::path::Path;

use modelcache_testkit::{BertSpec, write_bert};

fn embed(dir: &Path, texts: &[&str]) -> Vec<(String, Vec<f64>)> {
    let args = embed::Args {
        config: dir.join("models.toml"),
        model: "minilm".to_owned(),
        tokenizer: None,
        texts: texts.iter().map(|t| (*t).to_owned()).collect(),
    };
    let mut out = Vec::new();
    embed::run(&args, &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = v["text"].as_str().unwrap().to_owned();
            let e = v["embedding"].as_array().unwrap();
            (text, e.iter().map(|x| x.as_f64().unwrap()).collect())
        })
        .collect()
}

fn folder(options: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_bert(&dir.path().join("models/minilm"), &BertSpec::tiny()).unwrap();
    let config = format!(
        "[cache]\nbudget = \"64MiB\"\n\n[models.minilm]\nbackend = \"safetensors\"\n\
         path = \"models/minilm\"\noptions = {options}\n"
    );
    std::fs::write(dir.path().join("models.toml"), config).unwrap();
    dir
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn one_normalised_vector_per_input() {
    let dir = folder("{ skip = [\"pooler.\"] }");
    let texts = [
        "the cat sat on the mat.",
        "hello world!",
        "the cat sat on the mat.",
    ];
    let out = embed(dir.path(), &texts);
    assert_eq!(out.len(), 3);
    for ((text, e), want) in out.iter().zip(texts) {
        assert_eq!(text, want);
        assert_eq!(e.len(), 32);
        assert!(e.iter().all(|x| x.is_finite()), "{e:?}");
        let norm: f64 = e.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    }
    assert!(distance(&out[0].1, &out[2].1) < 1e-6);
    assert!(
        distance(&out[0].1, &out[1].1) > 1e-3,
        "different texts, same vector"
    );
}

#[test]
fn padding_does_not_change_an_embedding() {
    let dir = folder("{}");
    let alone = embed(dir.path(), &["hello"]);
    let batched = embed(
        dir.path(),
        &["hello", "the model is loaded once and the cache is fast"],
    );
    assert!(distance(&alone[0].1, &batched[0].1) < 1e-5);
}

#[test]
fn converted_to_f16_the_vectors_stay_close() {
    let f32 = embed(folder("{}").path(), &["the dog runs"]);
    let f16 = embed(folder("{ dtype = \"f16\" }").path(), &["the dog runs"]);
    let d = distance(&f32[0].1, &f16[0].1);
    assert!(d < 2e-2 && d > 0.0, "{d}");
}
