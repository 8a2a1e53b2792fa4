//! MNIST as a [`TensorDataset`]: images `f32 [N, 784]`, labels `i64 [N]`.

use crate::dataset::TensorDataset;
use crate::idx::{read_idx, IdxArray};
use kiln_core::{Error, Result, Tensor};
use std::path::{Path, PathBuf};

/// Which part of a dataset to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training set (60,000 MNIST images).
    Train,
    /// The test set (10,000 MNIST images).
    Test,
}

impl Split {
    /// The file-name prefix of the split (`train` or `t10k`).
    pub fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// Loader of MNIST-style IDX datasets (MNIST, Fashion-MNIST): a folder
/// holding `{train,t10k}-{images-idx3,labels-idx1}-ubyte`, each optionally
/// with a `.gz` suffix.
#[derive(Clone, Copy, Debug)]
pub struct Mnist;

impl Mnist {
    /// The mean pixel value of the MNIST training set (pixels in [0, 1]).
    pub const MEAN: f32 = 0.1307;
    /// The standard deviation of the MNIST training set's pixels.
    pub const STD: f32 = 0.3081;
    /// Pixels per image (28 × 28).
    pub const PIXELS: usize = 784;

    /// The bundled MNIST folder: `data_dir()/mnist` (see
    /// [`crate::paths::data_dir`], overridable with `$KILN_DATA_DIR`).
    pub fn default_dir() -> PathBuf {
        crate::paths::data_dir().join("mnist")
    }

    /// Loads a split: images `f32 [N, 784]` scaled to `[0, 1]`, labels
    /// `i64 [N]`. Errors when a file is missing or corrupt, the images are
    /// not `[N, 28, 28]`, the labels not `[N]`, or the counts differ.
    pub fn load(dir: impl AsRef<Path>, split: Split) -> Result<TensorDataset> {
        Mnist::load_with(dir, split, false)
    }

    /// Like [`Mnist::load`], and with `normalize` the pixels are then
    /// standardized: `(x - MEAN) / STD`.
    pub fn load_with(
        dir: impl AsRef<Path>,
        split: Split,
        normalize: bool,
    ) -> Result<TensorDataset> {
        let dir = dir.as_ref();
        let p = split.prefix();
        let images = read_either(dir, &format!("{p}-images-idx3-ubyte"))?;
        let labels = read_either(dir, &format!("{p}-labels-idx1-ubyte"))?;
        let n = check_shapes(&images, &labels, dir, split)?;
        let (mean, std) = if normalize {
            (Mnist::MEAN, Mnist::STD)
        } else {
            (0.0, 1.0)
        };
        let pixels: Vec<f32> = images
            .data
            .iter()
            .map(|&v| (v as f32 / 255.0 - mean) / std)
            .collect();
        let targets: Vec<i64> = labels.data.iter().map(|&v| v as i64).collect();
        TensorDataset::new(
            Tensor::from_vec(pixels, &[n, Mnist::PIXELS])?,
            Tensor::from_vec(targets, &[n])?,
        )
    }
}

/// Reads `dir/name.gz`, or `dir/name` when only the uncompressed file is
/// there (errors name the `.gz` path).
fn read_either(dir: &Path, name: &str) -> Result<IdxArray> {
    let gz = dir.join(format!("{name}.gz"));
    let plain = dir.join(name);
    if !gz.exists() && plain.exists() {
        read_idx(plain)
    } else {
        read_idx(gz)
    }
}

fn check_shapes(images: &IdxArray, labels: &IdxArray, dir: &Path, split: Split) -> Result<usize> {
    let what = format!("MNIST {split:?} split in {}", dir.display());
    if images.shape.len() != 3 || images.shape[1] * images.shape[2] != Mnist::PIXELS {
        return Err(Error::Invalid(format!(
            "{what}: images have shape {:?}, expected [N, 28, 28]",
            images.shape
        )));
    }
    if labels.shape.len() != 1 {
        return Err(Error::Invalid(format!(
            "{what}: labels have shape {:?}, expected [N]",
            labels.shape
        )));
    }
    if images.shape[0] != labels.shape[0] {
        return Err(Error::Invalid(format!(
            "{what}: {} images but {} labels",
            images.shape[0], labels.shape[0]
        )));
    }
    Ok(labels.shape[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;
    use crate::idx::write_idx;

    /// A fresh temporary folder for one test.
    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("kiln-data-mnist-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write_split(dir: &Path, n_images: usize, n_labels: usize, gzip: bool) {
        let ext = if gzip { ".gz" } else { "" };
        let pixels: Vec<u8> = (0..n_images * 784).map(|i| (i % 256) as u8).collect();
        let labels: Vec<u8> = (0..n_labels).map(|i| (i % 10) as u8).collect();
        write_idx(
            dir.join(format!("t10k-images-idx3-ubyte{ext}")),
            &[n_images, 28, 28],
            &pixels,
            gzip,
        )
        .unwrap();
        write_idx(
            dir.join(format!("t10k-labels-idx1-ubyte{ext}")),
            &[n_labels],
            &labels,
            gzip,
        )
        .unwrap();
    }

    #[test]
    fn synthetic_split_plain_and_gzipped() {
        for gzip in [false, true] {
            let dir = temp_dir(&format!("ok-{gzip}"));
            write_split(&dir, 3, 3, gzip);
            let d = Mnist::load(&dir, Split::Test).unwrap();
            assert_eq!(d.len(), 3);
            assert_eq!(d.inputs().shape(), &[3, 784]);
            assert_eq!(d.targets().to_vec::<i64>().unwrap(), vec![0, 1, 2]);
            let x = d.inputs().to_vec::<f32>().unwrap();
            assert_eq!(x[1], 1.0 / 255.0);
            assert_eq!(x[255], 1.0);
            let n = Mnist::load_with(&dir, Split::Test, true).unwrap();
            let xn = n.inputs().to_vec::<f32>().unwrap();
            assert!((xn[0] - (-0.1307 / 0.3081)).abs() < 1e-6);
            assert!((xn[255] - (1.0 - 0.1307) / 0.3081).abs() < 1e-6);
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn count_mismatch_and_missing_files() {
        let dir = temp_dir("mismatch");
        write_split(&dir, 3, 4, true);
        let e = Mnist::load(&dir, Split::Test).unwrap_err().to_string();
        assert!(e.contains("3 images but 4 labels"), "{e}");
        let e = Mnist::load(&dir, Split::Train).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e:?}");
        assert!(e.to_string().contains("train-images-idx3-ubyte.gz"), "{e}");
        write_idx(
            dir.join("t10k-images-idx3-ubyte.gz"),
            &[2, 784],
            &[0; 2 * 784],
            true,
        )
        .unwrap();
        let e = Mnist::load(&dir, Split::Test).unwrap_err().to_string();
        assert!(e.contains("expected [N, 28, 28]"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
