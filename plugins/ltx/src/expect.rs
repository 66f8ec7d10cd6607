//! Checking a component's checkpoint against the tensors its config implies: the block count
//! first (the toolkit's [`Blocks`]), then the key table (an [`ExpectedTensors`] bounded by the
//! tensors the file really has plus one, so an untrusted config's counts cost nothing more).

use modelcache_backend::BackendError;
use modelcache_weights::{Blocks, Checkpoint, ExpectedTensors};

/// Checks `checkpoint` (names under `prefix`) against the table `fill` builds, after the
/// numbered blocks `blocks` (relative to `prefix`); `why` (where the config came from and the
/// values that shape the tensors) ends every error's reason.
pub(crate) fn check(
    checkpoint: &Checkpoint,
    prefix: &str,
    why: &str,
    blocks: Option<Blocks<'_>>,
    fill: impl FnOnce(&mut ExpectedTensors),
) -> Result<(), BackendError> {
    if let Some(blocks) = blocks {
        let full = format!("{prefix}{}", blocks.prefix);
        Blocks {
            prefix: &full,
            ..blocks
        }
        .check(checkpoint, why)?;
    }
    let mut table = ExpectedTensors::new()
        .with_prefix(prefix)
        .with_cap(checkpoint.len().saturating_add(1));
    table.note(why);
    fill(&mut table);
    Ok(table.check(checkpoint)?)
}
