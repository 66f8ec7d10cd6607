//! The two tensor namings of LTX-Video checkpoints.

/// How a component's tensors are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Naming {
    /// The Lightricks names of the single files: `patchify_proj`, `adaln_single`, `q_norm`,
    /// `k_norm`, and the VAE's flat `down_blocks.{n}` / `res_blocks` lists.
    Original,
    /// The diffusers names: `proj_in`, `time_embed`, `norm_q`, `norm_k`, and the VAE's
    /// `down_blocks.{level}.resnets` / `downsamplers` / `conv_out`; T5 in transformers naming.
    Diffusers,
}
