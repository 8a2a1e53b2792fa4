//! Containers and reshaping modules: [`Sequential`] and [`Flatten`].

use crate::module::prefixed;
use crate::Module;
use kiln_core::Tensor;

/// Modules applied in order; children are named `"0"`, `"1"`, ...
/// (`torch.nn.Sequential`).
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
    training: bool,
}

impl Sequential {
    /// An empty container (in training mode).
    pub fn new() -> Sequential {
        Sequential {
            layers: vec![],
            training: true,
        }
    }

    /// Appends a module (builder style).
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, m: impl Module + 'static) -> Sequential {
        self.push(Box::new(m));
        self
    }

    /// Appends a boxed module.
    pub fn push(&mut self, m: Box<dyn Module>) {
        let mut m = m;
        m.train(self.training);
        self.layers.push(m);
    }

    /// The number of children.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True if there are no children.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The `i`-th child.
    pub fn get(&self, i: usize) -> Option<&dyn Module> {
        self.layers.get(i).map(|b| &**b)
    }
}

impl Module for Sequential {
    fn cast(&mut self, dtype: kiln_core::DType) {
        for l in &mut self.layers {
            l.cast(dtype);
        }
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        let mut y = x.clone();
        for l in &self.layers {
            y = l.forward(&y);
        }
        y
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![];
        for (i, l) in self.layers.iter().enumerate() {
            out.extend(prefixed(&i.to_string(), l.named_parameters()));
        }
        out
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![];
        for (i, l) in self.layers.iter().enumerate() {
            out.extend(prefixed(&i.to_string(), l.named_buffers()));
        }
        out
    }

    fn train(&mut self, on: bool) {
        self.training = on;
        for l in &mut self.layers {
            l.train(on);
        }
    }

    fn is_training(&self) -> bool {
        self.training
    }
}

/// Flattens dims `start..=end` into one (`torch.nn.Flatten`, defaults
/// `start = 1`, `end = -1`).
#[derive(Clone, Copy, Debug)]
pub struct Flatten {
    /// First dim flattened.
    pub start: i64,
    /// Last dim flattened (inclusive; negative counts from the end).
    pub end: i64,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten { start: 1, end: -1 }
    }
}

impl Flatten {
    /// `Flatten { start: 1, end: -1 }`: keeps the batch dim.
    pub fn new() -> Flatten {
        Flatten::default()
    }
}

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.flatten(self.start, self.end)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![]
    }
}
