//! The bundled iris CSV (data/iris, scikit-learn's copy).

use kiln_data::csv::{read_csv, CsvHeader};
use kiln_data::Dataset;

#[test]
fn iris_loads() {
    let path = kiln_data::data_dir().join("iris").join("iris.csv");
    let t = read_csv(&path, CsvHeader::Sklearn).unwrap();
    assert_eq!(t.features.shape(), &[150, 4]);
    assert_eq!(t.labels.shape(), &[150]);
    assert_eq!(t.class_names, vec!["setosa", "versicolor", "virginica"]);
    assert_eq!(t.num_classes().unwrap(), 3);
    let y = t.labels.to_vec::<i64>().unwrap();
    for c in 0..3 {
        assert_eq!(y.iter().filter(|&&l| l == c).count(), 50);
    }
    let x = t.features.to_vec::<f32>().unwrap();
    assert_eq!(&x[..4], &[5.1, 3.5, 1.4, 0.2]);
    assert!(x.iter().all(|&v| v > 0.0 && v < 8.0));
    let d = t.into_dataset().unwrap();
    assert_eq!(d.len(), 150);
}

#[test]
fn malformed_csv_names_the_line() {
    let dir = std::env::temp_dir().join(format!("kiln-data-iris-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = kiln_data::data_dir().join("iris").join("iris.csv");
    let text = std::fs::read_to_string(src).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[41] = "5.0,oops,1.3,0.3,0".into(); // line 42
    let path = dir.join("bad-iris.csv");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let e = read_csv(&path, CsvHeader::Sklearn).unwrap_err().to_string();
    assert!(
        e.contains("bad-iris.csv:42:") && e.contains("\"oops\" is not a number"),
        "{e}"
    );
    lines[41] = "5.0,3.5,1.3,0".into(); // ragged
    std::fs::write(&path, lines.join("\n")).unwrap();
    let e = read_csv(&path, CsvHeader::Sklearn).unwrap_err().to_string();
    assert!(
        e.contains("bad-iris.csv:42:") && e.contains("4 columns, but line 2 has 5"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
