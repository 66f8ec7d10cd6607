//! BFL single-file transformer keys (`flux1-*.safetensors`, docs/checkpoint-layouts.md §5.3).

use crate::{Dtype, KeyTable};

use super::FluxConfig;

/// Every key and shape of a BFL Flux transformer, BF16, without prefix (docs/checkpoint-layouts.md §5.3). LayerNorms
/// without affine weights store nothing, so 776 keys for schnell and 780 for dev.
pub fn transformer_keys(c: &FluxConfig) -> KeyTable {
    let h = c.hidden_size;
    let hd = c.head_dim();
    let m = c.mlp_hidden();
    let mut k = KeyTable::new(Dtype::BF16);
    k.linear("img_in", c.in_channels, h, true);
    k.linear("time_in.in_layer", 256, h, true);
    k.linear("time_in.out_layer", h, h, true);
    k.linear("vector_in.in_layer", c.vec_in_dim, h, true);
    k.linear("vector_in.out_layer", h, h, true);
    if c.guidance_embed {
        k.linear("guidance_in.in_layer", 256, h, true);
        k.linear("guidance_in.out_layer", h, h, true);
    }
    k.linear("txt_in", c.context_in_dim, h, true);
    for i in 0..c.depth {
        let p = format!("double_blocks.{i}.");
        for s in ["img", "txt"] {
            k.linear(&format!("{p}{s}_mod.lin"), h, 6 * h, true);
            k.linear(&format!("{p}{s}_attn.qkv"), h, 3 * h, c.qkv_bias);
            k.tensor(format!("{p}{s}_attn.norm.query_norm.scale"), [hd]);
            k.tensor(format!("{p}{s}_attn.norm.key_norm.scale"), [hd]);
            k.linear(&format!("{p}{s}_attn.proj"), h, h, true);
            k.linear(&format!("{p}{s}_mlp.0"), h, m, true);
            k.linear(&format!("{p}{s}_mlp.2"), m, h, true);
        }
    }
    for j in 0..c.depth_single_blocks {
        let p = format!("single_blocks.{j}.");
        k.linear(&format!("{p}linear1"), h, 3 * h + m, true);
        k.linear(&format!("{p}linear2"), h + m, h, true);
        k.tensor(format!("{p}norm.query_norm.scale"), [hd]);
        k.tensor(format!("{p}norm.key_norm.scale"), [hd]);
        k.linear(&format!("{p}modulation.lin"), h, 3 * h, true);
    }
    // patch_size 1 at the transformer: 1*1*out_channels.
    k.linear("final_layer.linear", h, c.out_channels, true);
    k.linear("final_layer.adaLN_modulation.1", h, 2 * h, true);
    k
}

use std::io;
use std::path::Path;

use crate::out::Out;
use crate::report::FixtureReport;
use crate::scale::file_len;

use super::{FluxSpec, ae::ae_keys};

/// The transformer table as written: with the `model.diffusion_model.` prefix when the spec asks for it.
fn written_transformer_keys(spec: &FluxSpec) -> KeyTable {
    let k = transformer_keys(&spec.transformer);
    if spec.prefix {
        k.with_prefix("model.diffusion_model.")
    } else {
        k
    }
}

/// Bytes the BFL layout of `spec` takes on disk.
pub(crate) fn layout_size(spec: &FluxSpec) -> u64 {
    let meta = spec.bfl_metadata.as_ref();
    file_len(written_transformer_keys(spec).tensors(), meta)
        + file_len(ae_keys(&spec.ae).tensors(), meta)
}

/// Writes both files; `component` names the transformer in the report.
pub(crate) fn write_into(out: &mut Out, spec: &FluxSpec, component: &str) -> io::Result<()> {
    let meta = spec.bfl_metadata.as_ref();
    let name = format!("{}.safetensors", spec.transformer.file_stem());
    out.safetensors(
        component,
        &name,
        written_transformer_keys(spec).into_tensors(),
        meta,
    )?;
    out.safetensors(
        "ae",
        "ae.safetensors",
        ae_keys(&spec.ae).into_tensors(),
        meta,
    )
}

/// Writes the BFL single files into `dir`: `flux1-schnell.safetensors` (or `flux1-dev.safetensors` when the
/// transformer has guidance; BF16, no config inside) and `ae.safetensors` (F32).
///
/// # Errors
///
/// Any I/O error.
pub fn write_flux_bfl(dir: &Path, spec: &FluxSpec) -> io::Result<FixtureReport> {
    let spec = spec.scaled(32, layout_size);
    let mut out = Out::new(dir, spec.seed)?;
    write_into(&mut out, &spec, "transformer")?;
    Ok(out.finish())
}
