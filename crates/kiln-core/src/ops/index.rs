//! Indexing ops: gathers, scatters, one-hot, sorting and top-k.

use super::norm_axis;
use crate::primitive::Primitive;
use crate::tensor::Tensor;

impl Tensor {
    /// Indices (i64) that sort the tensor along `axis` (stable).
    #[track_caller]
    pub fn argsort(&self, axis: i64, descending: bool) -> Tensor {
        let axis = norm_axis("argsort", axis, self.ndim().max(1));
        let x = if self.ndim() == 0 { self.reshape([1usize]) } else { self.clone() };
        let y = Tensor::from_op(Primitive::Argsort { axis, descending }, vec![x]);
        if self.ndim() == 0 { y.reshape(Vec::<usize>::new()) } else { y }
    }
}
