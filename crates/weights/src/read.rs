//! Positioned reads of tensor bytes straight into the buffer the tensor will own.

use std::fs::File;
use std::io;
use std::path::Path;

use bytemuck::Pod;
use half::{bf16, f16};

use crate::error::{Result, WeightsError};
use crate::inventory::FileInventory;

/// Bytes per read: the progress granularity, and the size of the one scratch buffer a dtype
/// conversion uses.
pub(crate) const CHUNK_BYTES: usize = 16 << 20;

/// Whether several threads may read one `File` at once (positioned reads do not share a
/// cursor). Elsewhere loads run sequentially.
pub(crate) const POSITIONED_READS: bool = cfg!(any(unix, windows));

/// Opens a file for loading and checks that it is still the file that was inventoried: the
/// same file (not one renamed into its place, not modified since), the same length, the same
/// header. A file truncated since then gives [`WeightsError::Truncated`], never a crash.
pub(crate) fn reopen(inv: &FileInventory) -> Result<File> {
    let path = inv.path();
    let opened = crate::inventory::open_for_reading(path, inv.within())?;
    let len = opened.len();
    let file = opened.into_file();
    if len < inv.file_len() {
        return Err(WeightsError::Truncated {
            path: path.to_path_buf(),
            expected: inv.file_len(),
            actual: len,
        });
    }
    let fresh = FileInventory::parse(path, &file, len)?;
    // The most precise finding first: a shorter file, another header, then another file.
    inv.same_as(&fresh)
        .and_then(|()| inv.same_file(&file))
        .map_err(|reason| WeightsError::Changed {
            path: path.to_path_buf(),
            reason,
        })?;
    Ok(file)
}

/// One open file being loaded from.
pub(crate) struct Source<'a> {
    file: &'a File,
    inv: &'a FileInventory,
    progress: &'a (dyn Fn(u64) + Sync),
    /// Bytes per read ([`CHUNK_BYTES`]; smaller in tests).
    chunk: usize,
}

impl<'a> Source<'a> {
    pub fn new(file: &'a File, inv: &'a FileInventory, progress: &'a (dyn Fn(u64) + Sync)) -> Self {
        Self {
            file,
            inv,
            progress,
            chunk: CHUNK_BYTES,
        }
    }

    pub fn inv(&self) -> &'a FileInventory {
        self.inv
    }

    fn path(&self) -> &Path {
        self.inv.path()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        read_exact_at(self.file, buf, offset).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                // The file shrank after `reopen` checked it.
                WeightsError::Truncated {
                    path: self.path().to_path_buf(),
                    expected: self.inv.file_len(),
                    actual: self.file.metadata().map_or(0, |m| m.len()),
                }
            } else {
                WeightsError::io(self.path(), e)
            }
        })
    }

    /// A zeroed buffer, or [`WeightsError::OutOfMemory`] (naming no tensor: callers add it
    /// with [`WeightsError::for_tensor`]).
    fn buffer<T: Pod>(&self, numel: usize) -> Result<Vec<T>> {
        zeroed_vec(numel).ok_or_else(|| WeightsError::OutOfMemory {
            path: self.path().to_path_buf(),
            tensor: None,
            bytes: (numel as u64).saturating_mul(size_of::<T>() as u64),
        })
    }

    /// Reads `numel` elements of `T` stored at `offset` into a new vector: one allocation, no
    /// intermediate copy.
    pub fn read_vec<T: Pod>(&self, offset: u64, numel: usize) -> Result<Vec<T>> {
        let mut out = self.buffer::<T>(numel)?;
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut out);
        crate::hugepage::advise(bytes);
        let mut at = offset;
        for chunk in bytes.chunks_mut(self.chunk) {
            self.read_at(chunk, at)?;
            at += chunk.len() as u64;
            (self.progress)(chunk.len() as u64);
        }
        to_native(&mut out);
        Ok(out)
    }

    /// Reads `numel` elements of `S` at `offset` and converts them into a new vector of `D`, one
    /// chunk at a time: besides the result, only one chunk-sized scratch buffer is held.
    pub fn read_converted<S: Float, D: Float>(&self, offset: u64, numel: usize) -> Result<Vec<D>> {
        let mut out = self.buffer::<D>(numel)?;
        crate::hugepage::advise(bytemuck::cast_slice_mut(&mut out));
        let per_chunk = (self.chunk / size_of::<S>()).max(1);
        let mut scratch = self.buffer::<S>(per_chunk.min(numel))?;
        let mut at = offset;
        for dst in out.chunks_mut(per_chunk) {
            let src = &mut scratch[..dst.len()];
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(src);
            let n = bytes.len() as u64;
            self.read_at(bytes, at)?;
            at += n;
            to_native(src);
            convert(src, dst);
            (self.progress)(n);
        }
        Ok(out)
    }
}

/// A floating-point element type that load-time conversion handles.
pub(crate) trait Float: Pod {
    fn to_f32(self) -> f32;
    fn from_f32(x: f32) -> Self;
    fn to_f64(self) -> f64;
    fn from_f64(x: f64) -> Self;
}

macro_rules! half_float {
    ($t:ty) => {
        impl Float for $t {
            fn to_f32(self) -> f32 {
                <$t>::to_f32(self)
            }
            fn from_f32(x: f32) -> Self {
                <$t>::from_f32(x)
            }
            fn to_f64(self) -> f64 {
                <$t>::to_f64(self)
            }
            fn from_f64(x: f64) -> Self {
                <$t>::from_f64(x)
            }
        }
    };
}
half_float!(bf16);
half_float!(f16);

impl Float for f32 {
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(x: f32) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(x: f64) -> Self {
        x as f32 // round to nearest, as candle's `to_dtype` does
    }
}

impl Float for f64 {
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn from_f32(x: f32) -> Self {
        f64::from(x)
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(x: f64) -> Self {
        x
    }
}

/// Converts element-wise with one rounding: through `f32` (exact for 16-bit sources) unless
/// either side is `f64`.
fn convert<S: Float, D: Float>(src: &[S], dst: &mut [D]) {
    if size_of::<S>() == 8 || size_of::<D>() == 8 {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = D::from_f64(s.to_f64());
        }
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = D::from_f32(s.to_f32());
        }
    }
}

/// A zero-filled vector of `n` elements, or `None` if the memory cannot be had (never an
/// abort: sizes come from files). It is allocated zeroed (calloc), so the allocator can hand
/// out already-zero pages instead of writing zeros, and with `T`'s own layout, so the tensor
/// later owns this very allocation.
pub(crate) fn zeroed_vec<T: Pod>(n: usize) -> Option<Vec<T>> {
    bytemuck::allocation::try_zeroed_vec(n).ok()
}

/// safetensors data is little-endian: swap bytes on big-endian hosts.
fn to_native<T: Pod>(v: &mut [T]) {
    if cfg!(target_endian = "big") && size_of::<T>() > 1 {
        for element in bytemuck::cast_slice_mut::<T, u8>(v).chunks_exact_mut(size_of::<T>()) {
            element.reverse();
        }
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(not(any(unix, windows)))]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    // Shares the cursor: loads are sequential on these targets (see `POSITIONED_READS`).
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_vec_is_zero_for_every_width() {
        assert!(zeroed_vec::<u8>(5).unwrap().iter().all(|&x| x == 0));
        assert!(
            zeroed_vec::<bf16>(5)
                .unwrap()
                .iter()
                .all(|x| x.to_f32() == 0.0)
        );
        assert!(zeroed_vec::<f32>(5).unwrap().iter().all(|&x| x == 0.0));
        assert!(zeroed_vec::<f64>(0).unwrap().is_empty());
        assert!(zeroed_vec::<i64>(3).unwrap().iter().all(|&x| x == 0));
    }

    #[test]
    fn an_impossible_allocation_is_none_not_an_abort() {
        // More than the address space: the layout itself cannot be made.
        assert!(zeroed_vec::<u64>(usize::MAX / 4).is_none());
    }

    fn fixture(values: &[f32]) -> (tempfile::TempDir, FileInventory) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.safetensors");
        let data: Vec<u8> = values
            .iter()
            .flat_map(|v| bf16::from_f32(*v).to_le_bytes())
            .collect();
        let shape = [values.len()];
        crate::write_safetensors(
            &path,
            [crate::TensorData::new(
                "x",
                crate::Dtype::BF16,
                &shape,
                &data,
            )],
            None,
        )
        .unwrap();
        let inv = FileInventory::read(&path).unwrap();
        (dir, inv)
    }

    #[test]
    fn chunked_reads_cover_the_tensor_and_report_each_chunk() {
        let values: Vec<f32> = (0..11).map(|i| i as f32 - 3.0).collect();
        let (_dir, inv) = fixture(&values);
        let file = File::open(inv.path()).unwrap();
        let calls = std::sync::Mutex::new(Vec::new());
        let progress = |n| calls.lock().unwrap().push(n);
        let mut src = Source::new(&file, &inv, &progress);
        src.chunk = 6; // 3 BF16 elements per read
        let at = inv.data_start();

        let plain: Vec<bf16> = src.read_vec(at, 11).unwrap();
        assert_eq!(plain.iter().map(|x| x.to_f32()).collect::<Vec<_>>(), values);
        assert_eq!(*calls.lock().unwrap(), [6, 6, 6, 4]);

        calls.lock().unwrap().clear();
        let wide: Vec<f32> = src.read_converted::<bf16, f32>(at, 11).unwrap();
        assert_eq!(wide, values);
        assert_eq!(*calls.lock().unwrap(), [6, 6, 6, 4]);

        let empty: Vec<f64> = src.read_converted::<bf16, f64>(at, 0).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn reading_past_the_end_is_truncated() {
        let (_dir, inv) = fixture(&[1.0, 2.0]);
        let file = File::open(inv.path()).unwrap();
        let src = Source::new(&file, &inv, &|_| {});
        let err = src.read_vec::<bf16>(inv.data_start() + 2, 2).unwrap_err();
        assert!(matches!(err, WeightsError::Truncated { .. }), "{err}");
    }

    #[test]
    fn conversions_round_once() {
        let src = [bf16::from_f32(1.5), bf16::from_f32(-3.0)];
        let mut dst = [0f32; 2];
        convert(&src, &mut dst);
        assert_eq!(dst, [1.5, -3.0]);
        let src = [1.0f32 + f32::EPSILON, 65504.0];
        let mut dst = [f16::ZERO; 2];
        convert(&src, &mut dst);
        assert_eq!(dst, [f16::ONE, f16::MAX]);
        let src = [0.1f64];
        let mut dst = [bf16::ZERO];
        convert(&src, &mut dst);
        assert_eq!(dst[0], bf16::from_f64(0.1));
    }
}
