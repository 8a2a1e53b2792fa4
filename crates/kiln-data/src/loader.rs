//! [`DataLoader`]: batches of a [`Dataset`] in order or in a seeded,
//! reproducible shuffled order.

use crate::dataset::Dataset;
use kiln_core::ops::creation::permutation;
use kiln_core::random::Key;
use kiln_core::{Result, Tensor};

/// Splits a dataset into batches of `batch_size` samples.
///
/// With [`DataLoader::shuffle`], epoch `e` visits the samples in the order
/// of `kiln_core::ops::creation::permutation(n, Some(key.fold_in(e)))`:
/// counter-based (Threefry) random numbers, so a seed gives the same order
/// on any machine and thread count, and each epoch's order differs.
///
/// ```
/// use kiln_core::Tensor;
/// use kiln_data::{DataLoader, TensorDataset};
///
/// # fn main() -> kiln_core::Result<()> {
/// let x = Tensor::from_vec((0..10).map(|v| v as f32).collect(), &[10, 1])?;
/// let y = Tensor::from_vec((0..10i64).collect(), &[10])?;
/// let loader = DataLoader::new(TensorDataset::new(x, y)?, 4).shuffle(42);
/// assert_eq!(loader.len(), 3); // 4 + 4 + 2
/// for batch in loader.epoch(0)? {
///     let (xb, yb) = batch?;
///     assert_eq!(xb.shape()[0], yb.shape()[0]);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct DataLoader<D> {
    dataset: D,
    batch_size: usize,
    shuffle: Option<Key>,
    drop_last: bool,
}

impl<D: Dataset> DataLoader<D> {
    /// A loader yielding batches of `batch_size` samples in dataset order,
    /// keeping a last, smaller batch. Panics when `batch_size` is 0.
    #[track_caller]
    pub fn new(dataset: D, batch_size: usize) -> DataLoader<D> {
        if batch_size == 0 {
            panic!(
                "kiln: DataLoader: batch_size must be at least 1 at {}",
                std::panic::Location::caller()
            );
        }
        DataLoader {
            dataset,
            batch_size,
            shuffle: None,
            drop_last: false,
        }
    }

    /// Shuffles every epoch, with the key `Key::new(seed)`.
    pub fn shuffle(self, seed: u64) -> DataLoader<D> {
        self.shuffle_with_key(Key::new(seed))
    }

    /// Shuffles every epoch with `key` (e.g. `kiln_core::random::next_key()`
    /// to follow the global seed).
    pub fn shuffle_with_key(mut self, key: Key) -> DataLoader<D> {
        self.shuffle = Some(key);
        self
    }

    /// Whether to drop the last batch when it is smaller than `batch_size`.
    pub fn drop_last(mut self, drop_last: bool) -> DataLoader<D> {
        self.drop_last = drop_last;
        self
    }

    /// The dataset.
    pub fn dataset(&self) -> &D {
        &self.dataset
    }

    /// Samples per batch (the last batch may hold fewer unless `drop_last`).
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The number of batches in an epoch.
    pub fn len(&self) -> usize {
        let n = self.dataset.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// Whether an epoch yields no batch.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The order in which epoch `epoch` visits the samples: `0..n`
    /// unshuffled, else a permutation that depends only on the key and
    /// `epoch`. It includes the samples that `drop_last` leaves out.
    pub fn order(&self, epoch: u64) -> Result<Vec<usize>> {
        let n = self.dataset.len();
        match self.shuffle {
            None => Ok((0..n).collect()),
            Some(_) if n == 0 => Ok(Vec::new()),
            Some(key) => {
                let perm = permutation(n, Some(key.fold_in(epoch))).to_vec::<i64>()?;
                Ok(perm.into_iter().map(|i| i as usize).collect())
            }
        }
    }

    /// The batches of epoch `epoch` (the epoch only matters when shuffling).
    pub fn epoch(&self, epoch: u64) -> Result<Batches<'_, D>> {
        let order = self.order(epoch)?;
        Ok(Batches {
            loader: self,
            order,
            batch: 0,
            batches: self.len(),
        })
    }
}

/// The batches of one epoch: an iterator of `(inputs, targets)` from
/// [`Dataset::get_batch`], evaluated so that data errors surface here.
#[derive(Debug)]
pub struct Batches<'a, D> {
    loader: &'a DataLoader<D>,
    order: Vec<usize>,
    batch: usize,
    batches: usize,
}

impl<D> Batches<'_, D> {
    /// The sample indices of every remaining batch, in order.
    pub fn remaining_indices(&self) -> impl Iterator<Item = &[usize]> + '_ {
        let bs = self.loader.batch_size;
        (self.batch..self.batches)
            .map(move |b| &self.order[b * bs..((b + 1) * bs).min(self.order.len())])
    }
}

impl<D: Dataset> Iterator for Batches<'_, D> {
    type Item = Result<(Tensor, Tensor)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.batch >= self.batches {
            return None;
        }
        let bs = self.loader.batch_size;
        let start = self.batch * bs;
        let end = (start + bs).min(self.order.len());
        self.batch += 1;
        let result = self
            .loader
            .dataset
            .get_batch(&self.order[start..end])
            .and_then(|(x, y)| {
                kiln_core::eval::evaluate(&[x.clone(), y.clone()])?;
                Ok((x, y))
            });
        Some(result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.batches - self.batch;
        (left, Some(left))
    }
}

impl<D: Dataset> ExactSizeIterator for Batches<'_, D> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::TensorDataset;

    fn ids(n: usize) -> TensorDataset {
        let x = Tensor::from_vec((0..n).map(|v| v as f32).collect(), &[n, 1]).unwrap();
        let y = Tensor::from_vec((0..n as i64).collect(), &[n]).unwrap();
        TensorDataset::new(x, y).unwrap()
    }

    /// The target ids of every batch of an epoch, checking inputs agree.
    fn epoch_ids(loader: &DataLoader<TensorDataset>, epoch: u64) -> Vec<Vec<i64>> {
        loader
            .epoch(epoch)
            .unwrap()
            .map(|b| {
                let (x, y) = b.unwrap();
                assert_eq!(x.shape(), &[y.shape()[0], 1]);
                let y = y.to_vec::<i64>().unwrap();
                let x = x.to_vec::<f32>().unwrap();
                assert_eq!(x, y.iter().map(|&v| v as f32).collect::<Vec<_>>());
                y
            })
            .collect()
    }

    #[test]
    fn in_order_batches_and_last_batch() {
        let loader = DataLoader::new(ids(10), 4);
        assert_eq!(loader.len(), 3);
        assert_eq!(loader.batch_size(), 4);
        assert_eq!(loader.epoch(0).unwrap().len(), 3);
        assert_eq!(
            epoch_ids(&loader, 0),
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
        );
        let loader = loader.drop_last(true);
        assert_eq!(loader.len(), 2);
        assert_eq!(
            epoch_ids(&loader, 0),
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]
        );
    }

    #[test]
    fn batch_shapes() {
        let x = Tensor::from_vec(vec![0.0f32; 7 * 2 * 3], &[7, 2, 3]).unwrap();
        let y = Tensor::from_vec(vec![0i64; 7], &[7]).unwrap();
        let loader = DataLoader::new(TensorDataset::new(x, y).unwrap(), 3).shuffle(1);
        let shapes: Vec<_> = loader
            .epoch(0)
            .unwrap()
            .map(|b| {
                let (x, y) = b.unwrap();
                (x.shape().to_vec(), y.shape().to_vec())
            })
            .collect();
        assert_eq!(
            shapes,
            vec![
                (vec![3, 2, 3], vec![3]),
                (vec![3, 2, 3], vec![3]),
                (vec![1, 2, 3], vec![1])
            ]
        );
    }

    #[test]
    fn every_index_once_per_epoch() {
        for drop_last in [false, true] {
            let loader = DataLoader::new(ids(103), 10)
                .shuffle(7)
                .drop_last(drop_last);
            for epoch in 0..3 {
                let batches = epoch_ids(&loader, epoch);
                assert_eq!(batches.len(), loader.len());
                assert!(batches
                    .iter()
                    .all(|b| b.len() == 10 || (!drop_last && b.len() == 3)));
                let mut seen: Vec<i64> = batches.concat();
                seen.sort();
                seen.dedup();
                assert_eq!(seen.len(), if drop_last { 100 } else { 103 });
                let mut order = loader.order(epoch).unwrap();
                order.sort();
                assert_eq!(order, (0..103).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn seeded_order_is_reproducible_and_changes_with_epoch() {
        let a = DataLoader::new(ids(50), 8).shuffle(123);
        let b = DataLoader::new(ids(50), 8).shuffle(123);
        let c = DataLoader::new(ids(50), 8).shuffle(124);
        assert_eq!(epoch_ids(&a, 0), epoch_ids(&b, 0));
        assert_eq!(epoch_ids(&a, 5), epoch_ids(&b, 5));
        assert_ne!(a.order(0).unwrap(), a.order(1).unwrap());
        assert_ne!(a.order(0).unwrap(), c.order(0).unwrap());
        assert_ne!(a.order(0).unwrap(), (0..50).collect::<Vec<_>>());
        // Pinned: the order depends only on Threefry, so it is the same on
        // every machine.
        let small = DataLoader::new(ids(10), 4).shuffle(123);
        assert_eq!(small.order(0).unwrap(), vec![1, 4, 0, 5, 8, 2, 9, 3, 6, 7]);
        assert_eq!(small.order(1).unwrap(), vec![8, 7, 1, 2, 0, 5, 4, 3, 9, 6]);
        let unshuffled = DataLoader::new(ids(50), 8);
        assert_eq!(unshuffled.order(3).unwrap(), (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn remaining_indices_follow_order() {
        let loader = DataLoader::new(ids(5), 2).shuffle(3);
        let mut batches = loader.epoch(2).unwrap();
        let _ = batches.next();
        let rest: Vec<Vec<usize>> = batches.remaining_indices().map(|b| b.to_vec()).collect();
        let order = loader.order(2).unwrap();
        assert_eq!(rest, vec![order[2..4].to_vec(), order[4..].to_vec()]);
    }

    #[test]
    fn empty_dataset_and_small_dataset() {
        let x = Tensor::from_vec(Vec::<f32>::new(), &[0, 3]).unwrap();
        let y = Tensor::from_vec(Vec::<i64>::new(), &[0]).unwrap();
        let loader = DataLoader::new(TensorDataset::new(x, y).unwrap(), 4).shuffle(0);
        assert!(loader.is_empty());
        assert_eq!(loader.epoch(0).unwrap().count(), 0);
        let loader = DataLoader::new(ids(3), 4).drop_last(true);
        assert_eq!(loader.len(), 0);
        assert_eq!(loader.epoch(0).unwrap().count(), 0);
    }

    #[test]
    #[should_panic(expected = "batch_size must be at least 1")]
    fn zero_batch_size_panics() {
        let _ = DataLoader::new(ids(3), 0);
    }
}
