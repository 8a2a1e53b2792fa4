//! The lazy tensor handle.
//!
//! A [`Tensor`] is a cheap, clonable, `Send + Sync` handle (`Arc`) to a node
//! that is either data or a primitive applied to input tensors. Shape and
//! dtype are inferred when an op is called; data is computed on [`Tensor::eval`]
//! or on any read. After evaluation a node keeps its data and drops its inputs
//! (unless autodiff still needs the graph), so memory is freed when the last
//! handle goes.

use crate::array::Array;
use crate::buffer::{Buffer, BufferElement};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::infer::infer;
use crate::jit::trace::{self, Placeholder};
use crate::primitive::Primitive;
use crate::shape::numel;
use std::cell::Cell;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A lazily evaluated n-dimensional array of a runtime dtype.
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<Node>);

/// The primitive and inputs that produce a node.
#[derive(Clone, Debug)]
pub struct Op {
    /// The primitive.
    pub prim: Primitive,
    /// Its inputs, in the primitive's order.
    pub inputs: Vec<Tensor>,
}

pub(crate) struct Node {
    id: u64,
    shape: Vec<usize>,
    dtype: DType,
    location: &'static Location<'static>,
    /// True when autodiff needs this node's graph: it is a leaf that requires
    /// grad, or one of its inputs tracks grad and grad mode was on.
    tracks_grad: AtomicBool,
    /// True for leaves the user marked with `requires_grad(true)`:
    /// `backward()` accumulates into their `grad`.
    grad_leaf: AtomicBool,
    /// Set when `backward()` has freed this node's graph.
    released: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) op: Option<Op>,
    pub(crate) data: Option<Array>,
    pub(crate) grad: Option<Tensor>,
    /// Set on the placeholder inputs of a `jit` trace (no op, no data).
    pub(crate) placeholder: Option<Arc<Placeholder>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static LIVE_NODES: AtomicUsize = AtomicUsize::new(0);

/// The id the next node will get (nodes are numbered in creation order).
pub(crate) fn next_node_id() -> u64 {
    NEXT_ID.load(Ordering::Relaxed)
}

/// How many graph nodes exist right now in this process (for memory tests
/// and leak hunting).
pub fn live_nodes() -> usize {
    LIVE_NODES.load(Ordering::Relaxed)
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// True unless inside [`no_grad`].
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Runs `f` with gradient recording set to `on`, restoring it afterwards
/// (also when `f` panics).
pub(crate) fn with_grad_mode<R>(on: bool, f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            GRAD_ENABLED.with(|g| g.set(self.0));
        }
    }
    let _restore = Restore(GRAD_ENABLED.with(|g| g.replace(on)));
    f()
}

/// Runs `f` with gradient tracking off (PyTorch's `torch.no_grad()`): ops
/// created inside record no graph for autodiff.
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    with_grad_mode(false, f)
}

/// Runs `f` with gradient tracking on, even inside [`no_grad`]
/// (`torch.enable_grad()`).
pub fn enable_grad<R>(f: impl FnOnce() -> R) -> R {
    with_grad_mode(true, f)
}

impl Node {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Node {
    /// Drops long chains of nodes without recursion (a graph of a million
    /// ops must not overflow the stack).
    fn drop(&mut self) {
        LIVE_NODES.fetch_sub(1, Ordering::Relaxed);
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        let mut stack: Vec<Tensor> = match state.op.take() {
            Some(op) => op.inputs,
            None => return,
        };
        while let Some(t) = stack.pop() {
            if let Ok(mut node) = Arc::try_unwrap(t.0) {
                let st = node.state.get_mut().unwrap_or_else(|e| e.into_inner());
                if let Some(op) = st.op.take() {
                    stack.extend(op.inputs);
                }
            }
        }
    }
}

impl Tensor {
    fn new_node(
        shape: Vec<usize>,
        dtype: DType,
        location: &'static Location<'static>,
        tracks_grad: bool,
        state: State,
    ) -> Tensor {
        LIVE_NODES.fetch_add(1, Ordering::Relaxed);
        Tensor(Arc::new(Node {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            shape,
            dtype,
            location,
            tracks_grad: AtomicBool::new(tracks_grad),
            grad_leaf: AtomicBool::new(false),
            released: AtomicBool::new(false),
            state: Mutex::new(state),
        }))
    }

    /// A leaf tensor holding evaluated data.
    #[track_caller]
    pub fn from_array(array: Array) -> Tensor {
        Tensor::new_node(
            array.shape().to_vec(),
            array.dtype(),
            Location::caller(),
            false,
            State {
                data: Some(array),
                ..State::default()
            },
        )
    }

    /// A placeholder input of a `jit` trace: a node with neither data nor
    /// an op, standing for a value supplied at call time.
    #[track_caller]
    pub(crate) fn placeholder(shape: &[usize], dtype: DType, info: Placeholder) -> Tensor {
        Tensor::new_node(
            shape.to_vec(),
            dtype,
            Location::caller(),
            false,
            State {
                placeholder: Some(Arc::new(info)),
                ..State::default()
            },
        )
    }

    /// The placeholder record, if this is a placeholder input of a trace.
    pub(crate) fn placeholder_info(&self) -> Option<Arc<Placeholder>> {
        self.0.lock().placeholder.clone()
    }

    /// A tensor from a vector of elements and a shape; errors when the
    /// lengths disagree.
    #[track_caller]
    pub fn from_vec<T: BufferElement>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        if data.len() != numel(shape) {
            return Err(Error::DataLength {
                shape: shape.to_vec(),
                expected: numel(shape),
                got: data.len(),
            });
        }
        Ok(Tensor::from_array(Array::from_vec(data, shape.to_vec())))
    }

    /// A tensor copied from a slice of elements and a shape.
    #[track_caller]
    pub fn from_slice<T: BufferElement>(data: &[T], shape: &[usize]) -> Result<Tensor> {
        Tensor::from_vec(data.to_vec(), shape)
    }

    /// A rank-0 tensor holding `value`.
    #[track_caller]
    pub fn scalar<T: BufferElement>(value: T) -> Tensor {
        Tensor::from_array(Array::from_vec(vec![value], vec![]))
    }

    /// A rank-0 tensor of `dtype` holding `value` cast to it.
    #[track_caller]
    pub fn scalar_of(value: f64, dtype: DType) -> Tensor {
        Tensor::from_array(Array::new(Buffer::filled(dtype, 1, value), vec![]))
    }

    /// Applies a primitive: infers the output's shape and dtype (panicking
    /// with the op, the input shapes and the caller's line on misuse) and
    /// returns the lazy result.
    #[track_caller]
    pub fn from_op(prim: Primitive, inputs: Vec<Tensor>) -> Tensor {
        Tensor::from_op_at(prim, inputs, Location::caller())
    }

    /// [`Tensor::from_op`] recording `location` as the node's source line.
    pub fn from_op_at(
        prim: Primitive,
        mut inputs: Vec<Tensor>,
        location: &'static Location<'static>,
    ) -> Tensor {
        if trace::active() {
            trace::redirect(&mut inputs);
        }
        let sigs: Vec<(&[usize], DType)> = inputs.iter().map(|t| (t.shape(), t.dtype())).collect();
        let (shape, dtype) = match infer(&prim, &sigs) {
            Ok(v) => v,
            Err(msg) => panic!(
                "kiln: {}: {msg} (inputs: {}) at {location}",
                prim.name(),
                describe(&inputs)
            ),
        };
        let tracks = is_grad_enabled()
            && !matches!(prim, Primitive::StopGradient)
            && inputs.iter().any(|t| t.tracks_grad());
        Tensor::new_node(
            shape,
            dtype,
            location,
            tracks,
            State {
                op: Some(Op { prim, inputs }),
                ..State::default()
            },
        )
    }

    /// A process-unique id of the node (stable for the handle's lifetime).
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    /// The element dtype.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }

    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.0.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        numel(&self.0.shape)
    }

    /// Size of axis `axis` (negative counts from the end). Panics if out of range.
    #[track_caller]
    pub fn dim(&self, axis: i64) -> usize {
        self.shape()[crate::ops::norm_axis("dim", axis, self.ndim())]
    }

    /// The source line that created this tensor.
    pub fn location(&self) -> &'static Location<'static> {
        self.0.location
    }

    /// The op that produces this tensor, if it has not been evaluated and
    /// released its inputs (or autodiff keeps them).
    pub fn op(&self) -> Option<Op> {
        self.0.lock().op.clone()
    }

    /// True if the data has been computed.
    pub fn is_evaluated(&self) -> bool {
        self.0.lock().data.is_some()
    }

    /// True when autodiff records the graph through this tensor.
    pub fn tracks_grad(&self) -> bool {
        self.0.tracks_grad.load(Ordering::Relaxed)
    }

    /// Marks a tensor as a leaf that requires gradients (PyTorch's
    /// `requires_grad_`): ops on it record a graph, and `backward()`
    /// accumulates into its [`Tensor::grad`]. Returns `self` for chaining.
    pub fn requires_grad(self, on: bool) -> Tensor {
        self.0.tracks_grad.store(on, Ordering::Relaxed);
        self.0.grad_leaf.store(on, Ordering::Relaxed);
        self
    }

    /// True if `backward()` accumulates a gradient into this tensor.
    pub fn is_grad_leaf(&self) -> bool {
        self.0.grad_leaf.load(Ordering::Relaxed)
    }

    /// Marks this node as recording the graph (used by the functional
    /// transforms for the tensors they differentiate with respect to).
    pub(crate) fn set_tracks_grad(&self) {
        self.0.tracks_grad.store(true, Ordering::Relaxed);
    }

    /// True if `backward()` already freed the graph behind this node.
    pub(crate) fn is_released(&self) -> bool {
        self.0.released.load(Ordering::Relaxed)
    }

    /// Frees the graph behind an evaluated node (`backward()` without
    /// `retain_graph`); a later `backward()` through it is an error.
    pub(crate) fn release_graph(&self) {
        let mut st = self.0.lock();
        if st.data.is_some() && st.op.is_some() {
            st.op = None;
            self.0.released.store(true, Ordering::Relaxed);
        }
    }

    /// The gradient accumulated by `backward()`, if any. Inside `jit`, the
    /// gradient of a tensor from outside the trace is an input of the
    /// traced program (read at every call).
    pub fn grad(&self) -> Option<Tensor> {
        if trace::active() {
            if let Some(g) = trace::on_grad_read(self) {
                return g;
            }
        }
        self.raw_grad()
    }

    /// Replaces the accumulated gradient. Inside `jit`, writing the
    /// gradient of a tensor from outside the trace is an effect of every
    /// call.
    pub fn set_grad(&self, grad: Option<Tensor>) {
        if trace::active() {
            trace::on_grad_write(self);
        }
        self.raw_set_grad(grad);
    }

    /// Replaces the data (the effect of an `assign` made by a jitted call).
    pub(crate) fn set_data(&self, data: Array) {
        let mut st = self.0.lock();
        st.data = Some(data);
        st.op = None;
    }

    /// The grad slot, without tracing hooks.
    pub(crate) fn raw_grad(&self) -> Option<Tensor> {
        self.0.lock().grad.clone()
    }

    /// Writes the grad slot, without tracing hooks.
    pub(crate) fn raw_set_grad(&self, grad: Option<Tensor>) {
        self.0.lock().grad = grad;
    }

    /// Computes the data of this tensor and everything it depends on.
    pub fn eval(&self) -> Result<&Tensor> {
        crate::eval::evaluate(std::slice::from_ref(self))?;
        Ok(self)
    }

    /// The evaluated data (evaluating first). Inside `jit`, asking a
    /// traced tensor for its data is an error naming the caller's line.
    #[track_caller]
    pub fn array(&self) -> Result<Array> {
        if let Some(a) = &self.0.lock().data {
            return Ok(a.clone());
        }
        let at = Location::caller();
        crate::eval::evaluate(std::slice::from_ref(self))?;
        if let Some(a) = &self.0.lock().data {
            return Ok(a.clone());
        }
        match crate::eval::find_placeholder(self) {
            Some((_, p)) => Err(trace::concrete_value_error(self, &p, at)),
            None => Err(Error::Invalid(
                "kiln internal error: evaluated node has no data".into(),
            )),
        }
    }

    pub(crate) fn lock_state(&self) -> MutexGuard<'_, State> {
        self.0.lock()
    }

    /// The elements in row-major order. The Rust type must match the dtype
    /// (use [`Tensor::to_f64_vec`] or `astype` to convert).
    #[track_caller]
    pub fn to_vec<T: BufferElement>(&self) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype() {
            return Err(Error::DType {
                expected: self.dtype(),
                got: T::DTYPE,
                context: "to_vec: the Rust element type must match the tensor".into(),
            });
        }
        Ok(self.array()?.to_vec::<T>())
    }

    /// The elements widened to f64, row-major, whatever the dtype.
    #[track_caller]
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        Ok(self.array()?.to_f64_vec())
    }

    /// The single element of a one-element tensor. The Rust type must match
    /// the dtype; [`Tensor::item_f64`] converts from any dtype.
    #[track_caller]
    pub fn item<T: BufferElement>(&self) -> Result<T> {
        if self.numel() != 1 {
            return Err(Error::NotScalar {
                shape: self.shape().to_vec(),
            });
        }
        Ok(self.to_vec::<T>()?[0])
    }

    /// The single element of a one-element tensor of any dtype, as f64.
    #[track_caller]
    pub fn item_f64(&self) -> Result<f64> {
        if self.numel() != 1 {
            return Err(Error::NotScalar {
                shape: self.shape().to_vec(),
            });
        }
        Ok(self.array()?.to_f64_vec()[0])
    }

    /// The truth value of a one-element tensor (non-zero is `true`), for
    /// `if` on a computed condition. Inside `jit` this is an error: use
    /// `where_` or a `Static` argument instead.
    #[track_caller]
    pub fn to_bool(&self) -> Result<bool> {
        Ok(self.item_f64()? != 0.0)
    }
}

/// `f32[2, 3], i64[4]`: shapes and dtypes of tensors for messages.
pub(crate) fn describe(ts: &[Tensor]) -> String {
    ts.iter()
        .map(|t| format!("{}{:?}", t.dtype(), t.shape()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({}{:?}", self.dtype(), self.shape())?;
        if let Some(op) = &self.0.lock().op {
            write!(f, " = {}", op.prim)?;
        }
        write!(f, ")")
    }
}
