//! The bundled MNIST (data/mnist): file sizes, shapes, labels, pixel range,
//! and a shuffled loader over it.

use kiln_data::{DataLoader, Dataset, Mnist, Split};

/// Byte sizes of the bundled `.gz` files (see data/mnist/README.md, which
/// also lists their SHA-256s, checked with `sha256sum` when copied).
const SIZES: [(&str, u64); 4] = [
    ("train-images-idx3-ubyte.gz", 9719438),
    ("train-labels-idx1-ubyte.gz", 28857),
    ("t10k-images-idx3-ubyte.gz", 1616508),
    ("t10k-labels-idx1-ubyte.gz", 4517),
];

#[test]
fn bundled_files_have_the_documented_sizes() {
    let dir = kiln_data::paths::bundled_data_dir().join("mnist");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    for (name, size) in SIZES {
        let meta = std::fs::metadata(dir.join(name)).unwrap();
        assert_eq!(meta.len(), size, "{name}");
        assert!(
            readme.contains(&format!("`{name}` | {size} |")),
            "README row of {name}"
        );
    }
}

fn histogram(labels: &[i64]) -> [usize; 10] {
    let mut h = [0; 10];
    for &l in labels {
        h[l as usize] += 1;
    }
    h
}

#[test]
fn test_split() {
    let d = Mnist::load(Mnist::default_dir(), Split::Test).unwrap();
    assert_eq!(d.len(), 10000);
    assert_eq!(d.inputs().shape(), &[10000, 784]);
    assert_eq!(d.targets().shape(), &[10000]);
    let y = d.targets().to_vec::<i64>().unwrap();
    assert_eq!(&y[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    assert_eq!(&y[y.len() - 10..], &[7, 8, 9, 0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(
        histogram(&y),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    let x = d.inputs().to_vec::<f32>().unwrap();
    assert!(x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert_eq!(x.iter().cloned().fold(f32::MIN, f32::max), 1.0);
    assert_eq!(x.iter().cloned().fold(f32::MAX, f32::min), 0.0);
    // Pixel sums (in 0..=255 units) computed with Python's gzip module.
    let sum = |s: &[f32]| s.iter().map(|&v| (v * 255.0).round() as u64).sum::<u64>();
    assert_eq!(sum(&x[..784]), 18454);
    assert_eq!(sum(&x[x.len() - 784..]), 41833);
    assert_eq!(sum(&x), 264923200);
}

#[test]
fn train_split_and_normalization() {
    let d = Mnist::load_with(Mnist::default_dir(), Split::Train, true).unwrap();
    assert_eq!(d.inputs().shape(), &[60000, 784]);
    let y = d.targets().to_vec::<i64>().unwrap();
    assert_eq!(&y[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert_eq!(&y[y.len() - 10..], &[9, 2, 9, 5, 1, 8, 3, 5, 6, 8]);
    assert_eq!(
        histogram(&y),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    // Normalized with the training set's own statistics: mean ~0, std ~1.
    let x = d.inputs().to_vec::<f32>().unwrap();
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    assert!(mean.abs() < 1e-3, "mean {mean}");
    assert!((var.sqrt() - 1.0).abs() < 1e-3, "std {}", var.sqrt());
    let lo = (0.0 - Mnist::MEAN) / Mnist::STD;
    let hi = (1.0 - Mnist::MEAN) / Mnist::STD;
    assert!(x.iter().all(|&v| v >= lo - 1e-6 && v <= hi + 1e-6));
}

#[test]
fn shuffled_loader_over_mnist() {
    let d = Mnist::load(Mnist::default_dir(), Split::Test).unwrap();
    let loader = DataLoader::new(d, 128).shuffle(0).drop_last(true);
    assert_eq!(loader.len(), 78);
    let mut batches = loader.epoch(0).unwrap();
    let (x, y) = batches.next().unwrap().unwrap();
    assert_eq!(x.shape(), &[128, 784]);
    assert_eq!(y.shape(), &[128]);
    let order = loader.order(0).unwrap();
    let all = loader.dataset().targets().to_vec::<i64>().unwrap();
    let expected: Vec<i64> = order[..128].iter().map(|&i| all[i]).collect();
    assert_eq!(y.to_vec::<i64>().unwrap(), expected);
    assert_eq!(batches.count(), 77);
}
