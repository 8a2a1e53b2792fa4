//! A small reader for numeric CSV tables whose last column is an integer
//! class label (iris-style).
//!
//! Cells are separated by commas and trimmed; blank lines are skipped;
//! there is no quoting. The first line may be a header (see
//! [`CsvHeader`]), e.g. scikit-learn's `150,4,setosa,versicolor,virginica`.

use crate::dataset::TensorDataset;
use kiln_core::{Error, Result, Tensor};
use std::path::Path;

/// What the first non-blank line of a CSV file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvHeader {
    /// No header: every line is data.
    None,
    /// Column names, skipped.
    Names,
    /// scikit-learn's header `n_samples,n_features,class names...`: the
    /// counts are checked against the data and the class names kept.
    Sklearn,
}

/// A numeric table: features `f32 [N, F]` and labels `i64 [N]`.
#[derive(Clone, Debug)]
pub struct CsvTable {
    /// The feature columns, `f32 [N, F]`.
    pub features: Tensor,
    /// The last column, `i64 [N]`.
    pub labels: Tensor,
    /// Class names from a scikit-learn header (empty otherwise); labels are
    /// then checked to lie in `0..class_names.len()`.
    pub class_names: Vec<String>,
}

impl CsvTable {
    /// The number of distinct classes: the class names' count when known,
    /// else the largest label + 1 (0 for an empty table).
    pub fn num_classes(&self) -> Result<usize> {
        if !self.class_names.is_empty() {
            return Ok(self.class_names.len());
        }
        let labels = self.labels.to_vec::<i64>()?;
        Ok(labels.iter().max().map_or(0, |&m| m as usize + 1))
    }

    /// The table as a dataset of `(features, labels)`.
    pub fn into_dataset(self) -> Result<TensorDataset> {
        TensorDataset::new(self.features, self.labels)
    }
}

/// Reads a CSV file (see [`parse_csv`]); I/O failures are [`Error::Io`].
pub fn read_csv(path: impl AsRef<Path>, header: CsvHeader) -> Result<CsvTable> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_csv(&text, header, &path.display().to_string())
}

/// Parses CSV text whose last column is an integer label in `0..` and whose
/// other columns are numbers. `name` labels error messages, which give the
/// 1-based line number: rows of different lengths, a cell that is not a
/// number, a negative or fractional label, or a header that disagrees with
/// the data.
pub fn parse_csv(text: &str, header: CsvHeader, name: &str) -> Result<CsvTable> {
    let err = |line: usize, msg: String| Error::Invalid(format!("{name}:{line}: {msg}"));
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());

    let mut declared: Option<(usize, usize, usize)> = None; // (line, n, f)
    let mut class_names = Vec::new();
    if header != CsvHeader::None {
        if let Some((ln, line)) = lines.next() {
            if header == CsvHeader::Sklearn {
                let cells: Vec<&str> = line.split(',').map(str::trim).collect();
                let count = |i: usize, what: &str| -> Result<usize> {
                    cells.get(i).and_then(|c| c.parse().ok()).ok_or_else(|| {
                        err(
                            ln,
                            format!(
                                "scikit-learn header needs {what} as column {}, got {line:?}",
                                i + 1
                            ),
                        )
                    })
                };
                declared = Some((ln, count(0, "n_samples")?, count(1, "n_features")?));
                class_names = cells[2..].iter().map(|s| s.to_string()).collect();
            }
        }
    }

    let mut features = Vec::new();
    let mut labels = Vec::new();
    let mut width: Option<(usize, usize)> = None; // (columns, first data line)
    for (ln, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        match width {
            None => {
                if cells.len() < 2 {
                    return Err(err(
                        ln,
                        format!(
                            "needs at least 2 columns (features, label), got {}",
                            cells.len()
                        ),
                    ));
                }
                width = Some((cells.len(), ln));
            }
            Some((w, first)) if cells.len() != w => {
                return Err(err(
                    ln,
                    format!("{} columns, but line {first} has {w}", cells.len()),
                ));
            }
            Some(_) => {}
        }
        let (label, feats) = cells.split_last().expect("at least 2 cells");
        for (col, cell) in feats.iter().enumerate() {
            let v: f32 = cell
                .parse()
                .map_err(|_| err(ln, format!("column {}: {cell:?} is not a number", col + 1)))?;
            features.push(v);
        }
        let label: i64 = label.parse().map_err(|_| {
            err(
                ln,
                format!(
                    "column {}: label {label:?} is not a non-negative integer",
                    cells.len()
                ),
            )
        })?;
        if label < 0 || (!class_names.is_empty() && label as usize >= class_names.len()) {
            return Err(err(
                ln,
                format!(
                    "label {label} is out of range for {} classes",
                    class_names.len()
                ),
            ));
        }
        labels.push(label);
    }

    let n = labels.len();
    let f = width.map_or(0, |(w, _)| w - 1);
    if let Some((ln, dn, df)) = declared {
        if dn != n || (n > 0 && df != f) {
            return Err(err(
                ln,
                format!("header declares {dn} samples of {df} features, the data has {n} of {f}"),
            ));
        }
    }
    Ok(CsvTable {
        features: Tensor::from_vec(features, &[n, f])?,
        labels: Tensor::from_vec(labels, &[n])?,
        class_names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str, header: CsvHeader) -> String {
        parse_csv(text, header, "t.csv").unwrap_err().to_string()
    }

    #[test]
    fn parses_with_each_header() {
        let t = parse_csv("1.5, 2, 0\n\n3,4e1,1\r\n", CsvHeader::None, "t").unwrap();
        assert_eq!(t.features.shape(), &[2, 2]);
        assert_eq!(
            t.features.to_vec::<f32>().unwrap(),
            vec![1.5, 2.0, 3.0, 40.0]
        );
        assert_eq!(t.labels.to_vec::<i64>().unwrap(), vec![0, 1]);
        assert_eq!(t.num_classes().unwrap(), 2);
        let t = parse_csv("a,b,label\n1,2,3\n", CsvHeader::Names, "t").unwrap();
        assert_eq!(t.labels.to_vec::<i64>().unwrap(), vec![3]);
        let t = parse_csv("2,1,no,yes\n0.5,1\n0.25,0\n", CsvHeader::Sklearn, "t").unwrap();
        assert_eq!(t.class_names, vec!["no", "yes"]);
        assert_eq!(t.num_classes().unwrap(), 2);
        let d = t.into_dataset().unwrap();
        assert_eq!(d.inputs().shape(), &[2, 1]);
    }

    #[test]
    fn errors_name_the_line() {
        let e = err("1,2,0\n3,4,5,1\n", CsvHeader::None);
        assert!(
            e.contains("t.csv:2:") && e.contains("4 columns, but line 1 has 3"),
            "{e}"
        );
        let e = err("h\n1,2,0\n\n3,x,1\n", CsvHeader::Names);
        assert!(
            e.contains("t.csv:4:") && e.contains("column 2: \"x\" is not a number"),
            "{e}"
        );
        let e = err("1,2,0.5\n", CsvHeader::None);
        assert!(e.contains("t.csv:1:") && e.contains("label \"0.5\""), "{e}");
        let e = err("1,-1\n", CsvHeader::None);
        assert!(e.contains("label -1 is out of range"), "{e}");
        let e = err("3,1,a,b\n1,0\n", CsvHeader::Sklearn);
        assert!(
            e.contains("t.csv:1:") && e.contains("declares 3 samples"),
            "{e}"
        );
        let e = err("1,1,a,b\n1,2\n", CsvHeader::Sklearn);
        assert!(
            e.contains("t.csv:2:") && e.contains("out of range for 2 classes"),
            "{e}"
        );
        let e = err("x,1,a\n", CsvHeader::Sklearn);
        assert!(e.contains("t.csv:1:") && e.contains("n_samples"), "{e}");
        let e = err("7\n", CsvHeader::None);
        assert!(e.contains("at least 2 columns"), "{e}");
    }

    #[test]
    fn empty_table_and_missing_file() {
        let t = parse_csv("", CsvHeader::None, "t").unwrap();
        assert_eq!(t.features.shape(), &[0, 0]);
        assert_eq!(t.num_classes().unwrap(), 0);
        let e = read_csv("/nonexistent/kiln.csv", CsvHeader::None).unwrap_err();
        assert!(matches!(e, Error::Io { .. }));
        assert!(e.to_string().contains("/nonexistent/kiln.csv"));
    }
}
