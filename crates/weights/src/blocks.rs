//! [`Blocks`]: the check that a checkpoint's numbered blocks (`transformer_blocks.{i}.…`) are
//! exactly the ones its config counts, before a key table is built for them.
//!
//! The count is judged by the highest index present, so a gap shows up as the first missing
//! tensor of the key table. An index at or above the checkpoint's tensor count is refused
//! outright: no real checkpoint has one, and trusting it would make the key table as long as
//! the index.

use std::collections::BTreeMap;

use crate::checkpoint::Checkpoint;
use crate::expected::TensorError;

/// The numbered blocks a config counts.
#[derive(Debug, Clone, Copy)]
pub struct Blocks<'a> {
    /// The stored names' prefix up to the index (`model.diffusion_model.transformer_blocks.`).
    pub prefix: &'a str,
    /// The first tensor of every block, after `{prefix}{i}.` (`norm1.linear.weight`): the one
    /// named when a block is missing.
    pub first: &'a str,
    /// The config field that counts them (`num_layers`).
    pub field: &'a str,
    /// Its value.
    pub configured: u64,
}

impl Blocks<'_> {
    /// Checks that `checkpoint` holds exactly the blocks `0..configured`; `note` (where the
    /// config came from) ends the error's reason.
    ///
    /// # Errors
    /// [`TensorError::Blocks`] naming the first missing block's first tensor (at
    /// [`Checkpoint::location`]) or the first tensor of the first block beyond the count (at
    /// its file); [`TensorError::Implausible`] for an index no real checkpoint has.
    pub fn check(&self, checkpoint: &Checkpoint, note: &str) -> Result<(), TensorError> {
        let held = count_blocks(checkpoint, self.prefix)?;
        self.compare(checkpoint, &present(checkpoint, self.prefix), held, note)
    }

    fn compare(
        &self,
        checkpoint: &Checkpoint,
        blocks: &BTreeMap<u64, &str>,
        held: u64,
        note: &str,
    ) -> Result<(), TensorError> {
        let error = |path: &std::path::Path, tensor: String, block: u64| TensorError::Blocks {
            path: path.to_path_buf(),
            tensor,
            prefix: self.prefix.to_owned(),
            field: self.field.to_owned(),
            configured: self.configured,
            held,
            block,
            note: note.to_owned(),
        };
        if held < self.configured {
            let first = format!("{}{held}.{}", self.prefix, self.first);
            return Err(error(checkpoint.location(), first, held));
        }
        match blocks.range(self.configured..).next() {
            Some((&block, name)) => {
                let path = checkpoint
                    .get(name)
                    .map_or(checkpoint.location(), |(f, _)| f.path());
                Err(error(path, (*name).to_owned(), block))
            }
            None => Ok(()),
        }
    }
}

/// The number of numbered blocks `{prefix}N.…` in `checkpoint`: one more than the highest
/// index, so a gap is reported by the key table that follows (0 when there are none).
///
/// # Errors
/// [`TensorError::Implausible`] for an index at or above the checkpoint's tensor count.
pub fn count_blocks(checkpoint: &Checkpoint, prefix: &str) -> Result<u64, TensorError> {
    let Some((last, name)) = present(checkpoint, prefix).into_iter().next_back() else {
        return Ok(0);
    };
    if last >= checkpoint.len() as u64 {
        let path = checkpoint
            .get(name)
            .map_or(checkpoint.location(), |(f, _)| f.path());
        return Err(TensorError::Implausible {
            path: path.to_path_buf(),
            tensor: name.to_owned(),
            index: last,
            tensors: checkpoint.len() as u64,
        });
    }
    Ok(last + 1)
}

/// Block index → its first stored name (in name order).
fn present<'c>(checkpoint: &'c Checkpoint, prefix: &str) -> BTreeMap<u64, &'c str> {
    let mut blocks = BTreeMap::new();
    for name in checkpoint.names() {
        let index = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once('.'))
            .and_then(|(i, _)| i.parse::<u64>().ok());
        if let Some(i) = index {
            blocks.entry(i).or_insert(name);
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Dtype, TensorData, write_safetensors};

    fn checkpoint(names: &[&str]) -> (tempfile::TempDir, std::path::PathBuf, Checkpoint) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let data = [0u8; 4];
        let tensors = names
            .iter()
            .map(|n| TensorData::new(n, Dtype::F32, &[1], &data));
        write_safetensors(&path, tensors, None).unwrap();
        let ck = Checkpoint::open_file(&path).unwrap();
        (dir, path, ck)
    }

    const BLOCKS: Blocks<'static> = Blocks {
        prefix: "blocks.",
        first: "a.weight",
        field: "num_layers",
        configured: 2,
    };

    #[test]
    fn exactly_the_configured_blocks_pass() {
        let (_d, _, ck) = checkpoint(&["blocks.0.a.weight", "blocks.1.a.weight", "head.weight"]);
        BLOCKS.check(&ck, "cfg").unwrap();
        let none = Blocks {
            configured: 0,
            ..BLOCKS
        };
        let (_d, _, ck) = checkpoint(&["head.weight"]);
        none.check(&ck, "cfg").unwrap();
    }

    #[test]
    fn a_missing_block_names_its_first_tensor() {
        let (_d, path, ck) = checkpoint(&["blocks.0.a.weight", "blocks.0.b.weight"]);
        let err = BLOCKS.check(&ck, "config.json").unwrap_err();
        assert_eq!(
            (err.path(), err.tensor()),
            (path.as_path(), "blocks.1.a.weight")
        );
        assert_eq!(
            err.reason(),
            "missing: the config's num_layers is 2, but the checkpoint holds 1 block \
             `blocks.N` (config.json)"
        );
    }

    #[test]
    fn a_block_beyond_the_count_names_its_first_tensor() {
        let names = [
            "blocks.0.a.weight",
            "blocks.1.a.weight",
            "blocks.2.b.weight",
            "x",
            "y",
        ];
        let (_d, path, ck) = checkpoint(&names);
        let err = BLOCKS.check(&ck, "cfg").unwrap_err();
        assert_eq!(
            (err.path(), err.tensor()),
            (path.as_path(), "blocks.2.b.weight")
        );
        assert_eq!(
            err.reason(),
            "block 2 is beyond the config's num_layers = 2: the checkpoint holds 3 blocks \
             `blocks.N` (cfg)"
        );
    }

    #[test]
    fn an_absurd_index_is_refused_not_trusted() {
        let (_d, _, ck) = checkpoint(&["blocks.0.a.weight", "blocks.99999999999.a.weight"]);
        let err = BLOCKS.check(&ck, "cfg").unwrap_err();
        assert_eq!(err.tensor(), "blocks.99999999999.a.weight");
        assert_eq!(
            err.reason(),
            "block index 99999999999 is implausible: the checkpoint holds only 2 tensors"
        );
    }
}
