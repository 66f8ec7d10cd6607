"""Regenerates the golden key tables from the reference calculator scripts.

Run: python3 generate.py /work/shared/reference/layout-scripts
Each file lists `name<TAB>d0,d1,...` sorted by name, for the tiny configs the Rust presets use (Kokoro: the real
config, since the script hard-codes the decoder widths).
"""
import sys

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else "/work/shared/reference/layout-scripts")
from flux_params import flux_keys
from flux_diffusers import flux_diffusers_keys
from flux_ae import ae_keys
from flux_vae_diffusers import vae_keys
from text_encoders import t5_encoder_keys, clip_text_keys
from ltx_params import ltx_transformer_keys, ltx_vae090_keys
from kokoro_params import kokoro_keys


def dump(name, keys):
    with open(name + ".txt", "w") as f:
        for k in sorted(keys):
            f.write(k + "\t" + ",".join(str(d) for d in keys[k]) + "\n")


tiny_flux = dict(in_ch=64, out_ch=64, vec=32, ctx=32, H=32, mlp_ratio=4.0, heads=2, depth=2, depth_single=4)
dump("flux_bfl_tiny_schnell", flux_keys(guidance=False, **tiny_flux))
dump("flux_bfl_tiny_dev", flux_keys(guidance=True, **tiny_flux))
dump("flux_diffusers_tiny_schnell", flux_diffusers_keys(in_channels=64, num_layers=2, num_single_layers=4,
     attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32))
dump("flux_ae_tiny", ae_keys(ch=32, ch_mult=(1, 1), nrb=1, z=16))
dump("flux_vae_diffusers_tiny", vae_keys(boc=(32, 32), lpb=1, latent=16))
dump("t5_tiny", t5_encoder_keys(vocab=256, d_model=32, d_ff=64, d_kv=2, heads=32, layers=2, buckets=32))
dump("clip_tiny", clip_text_keys(vocab=256, H=32, I=64, layers=2, max_pos=77))
dump("ltx_transformer_tiny", ltx_transformer_keys(in_channels=8, out_channels=8, heads=2, head_dim=16, cross=32,
     layers=2, caption=32))
dump("ltx_vae_diffusers_tiny", ltx_vae090_keys(latent=8, boc=(4, 8, 16, 16), lpb=(1, 1, 1, 1, 1)))
K, D = kokoro_keys(include_position_ids=False)
dump("kokoro_real", K)
