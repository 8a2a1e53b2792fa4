//! `Display` for tensors, in NumPy's style: aligned columns, nested
//! brackets, and `...` past 1000 elements (3 items shown at each edge).

use crate::dtype::DType;
use crate::tensor::Tensor;
use std::fmt;

/// Tensors with more elements than this print summarized.
const SUMMARY_THRESHOLD: usize = 1000;
/// Items shown at each edge of a summarized axis.
const EDGE_ITEMS: usize = 3;

/// Formats one value the way NumPy would for the whole array.
struct ValueFormat {
    dtype: DType,
    scientific: bool,
    all_integral: bool,
    /// Decimals shown for every value (the most any value needs, up to 4).
    decimals: usize,
}

impl ValueFormat {
    fn new(dtype: DType, values: &[f64]) -> ValueFormat {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let max = finite.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let min_nonzero = finite
            .iter()
            .filter(|v| **v != 0.0)
            .fold(f64::INFINITY, |m, v| m.min(v.abs()));
        ValueFormat {
            dtype,
            scientific: dtype.is_float() && (max >= 1e8 || min_nonzero < 1e-4),
            all_integral: finite.iter().all(|v| v.fract() == 0.0),
            decimals: finite
                .iter()
                .map(|v| {
                    let s = format!("{v:.4}");
                    s.trim_end_matches('0')
                        .split('.')
                        .nth(1)
                        .map_or(0, str::len)
                })
                .max()
                .unwrap_or(0)
                .max(1),
        }
    }

    fn format(&self, v: f64) -> String {
        match self.dtype {
            DType::Bool => (if v != 0.0 { "true" } else { "false" }).to_string(),
            d if !d.is_float() => format!("{}", v as i64),
            _ if v.is_nan() => "nan".into(),
            _ if v.is_infinite() => (if v > 0.0 { "inf" } else { "-inf" }).into(),
            _ if self.scientific => format!("{v:.4e}"),
            _ if self.all_integral => format!("{v}."),
            _ => format!("{v:.*}", self.decimals),
        }
    }
}

/// Indices shown along an axis of length `n` (`None` marks the `...`).
fn shown(n: usize, summarize: bool) -> Vec<Option<usize>> {
    if summarize && n > 2 * EDGE_ITEMS {
        (0..EDGE_ITEMS)
            .map(Some)
            .chain(std::iter::once(None))
            .chain((n - EDGE_ITEMS..n).map(Some))
            .collect()
    } else {
        (0..n).map(Some).collect()
    }
}

fn render(
    out: &mut String,
    cells: &[String],
    shape: &[usize],
    strides: &[usize],
    base: usize,
    indent: usize,
    summarize: bool,
) {
    if shape.is_empty() {
        out.push_str(&cells[base]);
        return;
    }
    out.push('[');
    let items = shown(shape[0], summarize);
    for (k, item) in items.iter().enumerate() {
        if k > 0 {
            if shape.len() == 1 {
                out.push_str(", ");
            } else {
                out.push(',');
                out.push_str(&"\n".repeat(shape.len() - 1));
                out.push_str(&" ".repeat(indent + 1));
            }
        }
        match item {
            None => out.push_str("..."),
            Some(i) => render(
                out,
                cells,
                &shape[1..],
                &strides[1..],
                base + i * strides[0],
                indent + 1,
                summarize,
            ),
        }
    }
    out.push(']');
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = match self.to_f64_vec() {
            Ok(v) => v,
            Err(e) => return write!(f, "tensor(<error: {e}>)"),
        };
        let fmtr = ValueFormat::new(self.dtype(), &values);
        let mut cells: Vec<String> = values.iter().map(|&v| fmtr.format(v)).collect();
        let width = cells.iter().map(String::len).max().unwrap_or(0);
        for c in &mut cells {
            *c = format!("{c:>width$}");
        }
        let shape = self.shape();
        let mut strides = vec![1usize; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * shape[i + 1];
        }
        let prefix = "tensor(";
        let mut body = String::new();
        if values.is_empty() && !shape.is_empty() {
            body.push_str("[]");
        } else {
            let summarize = values.len() > SUMMARY_THRESHOLD;
            render(
                &mut body,
                &cells,
                shape,
                &strides,
                0,
                prefix.len(),
                summarize,
            );
        }
        write!(f, "{prefix}{body}, dtype={}", self.dtype())?;
        if values.is_empty() {
            write!(f, ", shape={shape:?}")?;
        }
        write!(f, ")")
    }
}

/// Prints `value` with `fmt`'s first `{}` replaced by it (the kernel of
/// `Primitive::DebugPrint`); a format without `{}` prints the value after it.
pub fn debug_print(fmt: &str, value: &crate::array::Array) {
    let shown = Tensor::from_array(value.clone()).to_string();
    let line = match fmt.find("{}") {
        Some(_) => fmt.replacen("{}", &shown, 1),
        None => format!("{fmt} {shown}"),
    };
    println!("{line}");
}

#[cfg(test)]
mod tests {
    use crate::dtype::DType;
    use crate::tensor::Tensor;

    #[test]
    fn prints_like_numpy() {
        let t = Tensor::from_vec(vec![1.0f32, 2.5, -3.0, 4.0], &[2, 2]).unwrap();
        assert_eq!(
            t.to_string(),
            "tensor([[ 1.0,  2.5],\n        [-3.0,  4.0]], dtype=f32)"
        );
        let i = Tensor::from_vec(vec![1i64, 20, 3], &[3]).unwrap();
        assert_eq!(i.to_string(), "tensor([ 1, 20,  3], dtype=i64)");
        let s = Tensor::scalar(2.0f64);
        assert_eq!(s.to_string(), "tensor(2., dtype=f64)");
        let b = Tensor::from_vec(vec![true, false], &[2]).unwrap();
        assert_eq!(b.to_string(), "tensor([ true, false], dtype=bool)");
        let e = Tensor::from_vec(Vec::<f32>::new(), &[0, 3]).unwrap();
        assert_eq!(e.to_string(), "tensor([], dtype=f32, shape=[0, 3])");
        let _ = DType::F32;
    }

    #[test]
    fn large_tensors_are_summarized() {
        let t = Tensor::from_vec((0..2000).collect(), &[2000]).unwrap();
        assert_eq!(
            t.to_string(),
            "tensor([   0,    1,    2, ..., 1997, 1998, 1999], dtype=i32)"
        );
        let m = Tensor::from_vec((0..1600).map(|v| v as f32).collect(), &[40, 40]).unwrap();
        let s = m.to_string();
        assert!(s.contains("...,"), "{s}");
        assert!(s.lines().count() <= 8, "{s}");
    }
}
