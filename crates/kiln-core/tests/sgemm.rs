//! sgemm and the bf16 GEMM against a naive f64-accumulated reference.
//!
//! Tolerance: |c - ref| <= k * eps_f32 * sum_p |a_ip * b_pj| + tiny, i.e.
//! twice the classical worst-case bound gamma_k for k-term f32 summation
//! (blocking/FMA only make the real error smaller).

use half::bf16;
use kiln_core::cpu::blas::{
    bf16gemm_with, has_native_bf16, sgemm, sgemm_with, Blocking, Config, Kernel, Operand as Op,
    DEFAULT_BLOCKING,
};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn f32(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// A strided operand: `rows x cols` stored in a buffer with padding.
struct Operand {
    buf: Vec<f32>,
    off: usize,
    rs: isize,
    cs: isize,
}

#[derive(Clone, Copy, Debug)]
enum Layout {
    RowMajor,
    ColMajor,
    /// Row-major with padded rows and a leading offset.
    PaddedRow,
    /// Column-major with padded columns and a leading offset.
    PaddedCol,
    /// Every other column of a row-major buffer (cs = 2).
    StridedBoth,
    /// Rows reversed (negative row stride).
    NegRow,
    /// Zero row stride: every row is the same (broadcast).
    Broadcast,
}

const LAYOUTS: [Layout; 7] = [
    Layout::RowMajor,
    Layout::ColMajor,
    Layout::PaddedRow,
    Layout::PaddedCol,
    Layout::StridedBoth,
    Layout::NegRow,
    Layout::Broadcast,
];

fn make(rng: &mut Rng, rows: usize, cols: usize, layout: Layout) -> Operand {
    let (off, rs, cs, len) = match layout {
        Layout::RowMajor => (0, cols as isize, 1, rows * cols),
        Layout::ColMajor => (0, 1, rows as isize, rows * cols),
        Layout::PaddedRow => (3, cols as isize + 5, 1, 3 + rows * (cols + 5)),
        Layout::PaddedCol => (7, 1, rows as isize + 3, 7 + cols * (rows + 3)),
        Layout::StridedBoth => (1, 2 * cols as isize + 1, 2, 1 + rows * (2 * cols + 1)),
        Layout::NegRow => ((rows.max(1) - 1) * cols, -(cols as isize), 1, rows * cols),
        Layout::Broadcast => (2, 0, 1, 2 + cols),
    };
    let buf = (0..len.max(1)).map(|_| rng.f32()).collect();
    Operand { buf, off, rs, cs }
}

fn get(o: &Operand, i: usize, j: usize) -> f32 {
    o.buf[(o.off as isize + i as isize * o.rs + j as isize * o.cs) as usize]
}

/// `data` viewed with `o`'s layout.
fn op<'a, T>(data: &'a [T], o: &Operand) -> Op<'a, T> {
    Op::new(data, o.off, o.rs, o.cs)
}

/// Asserts `c` (m x n) is `A * B` within the f32 summation bound, against
/// an f64 reference on the values `a` and `b` hold.
fn assert_product(c: &[f32], m: usize, n: usize, k: usize, a: &Operand, b: &Operand, what: &str) {
    for i in 0..m {
        for j in 0..n {
            let (mut r, mut s) = (0.0f64, 0.0f64);
            for p in 0..k {
                let x = get(a, i, p) as f64 * get(b, p, j) as f64;
                r += x;
                s += x.abs();
            }
            let tol = k as f64 * f32::EPSILON as f64 * s + 1e-30;
            let got = c[i * n + j] as f64;
            assert!(
                (got - r).abs() <= tol,
                "{what}: m={m} n={n} k={k} at ({i},{j}): got {got}, want {r}, tol {tol}"
            );
        }
    }
}

fn check(cfg: &Config, m: usize, n: usize, k: usize, a: &Operand, b: &Operand, what: &str) {
    let mut c = vec![f32::NAN; m * n]; // must be overwritten, never read
    sgemm_with(cfg, m, n, k, op(&a.buf, a), op(&b.buf, b), &mut c);
    assert_product(&c, m, n, k, a, b, &format!("{what} cfg={cfg:?}"));
}

fn configs() -> Vec<Config> {
    let small = Blocking {
        mc: 12,
        kc: 7,
        nc: 32,
    };
    let mut v = Vec::new();
    for kernel in [Kernel::Auto, Kernel::Avx2, Kernel::Scalar] {
        for blocking in [DEFAULT_BLOCKING, small] {
            for threads in [1, 2, 3] {
                v.push(Config {
                    kernel,
                    blocking,
                    threads,
                    ..Config::default()
                });
            }
        }
    }
    v.push(Config::default());
    v
}

#[test]
fn tiny_and_edge_shapes() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let dims = [1usize, 2, 5, 6, 7, 15, 16, 17, 33];
    for cfg in configs() {
        for &m in &dims {
            for &n in &dims {
                for &k in &[1usize, 2, 3, 8, 19] {
                    let a = make(&mut rng, m, k, Layout::RowMajor);
                    let b = make(&mut rng, k, n, Layout::RowMajor);
                    check(&cfg, m, n, k, &a, &b, "edge");
                }
            }
        }
    }
}

#[test]
fn random_shapes_and_layouts() {
    let mut rng = Rng(0xfeed_beef_cafe_f00d);
    let cfgs = configs();
    for iter in 0..400 {
        let m = 1 + rng.below(if iter % 10 == 0 { 200 } else { 40 });
        let n = 1 + rng.below(if iter % 10 == 1 { 200 } else { 40 });
        let k = 1 + rng.below(if iter % 10 == 2 { 600 } else { 50 });
        let la = LAYOUTS[rng.below(LAYOUTS.len())];
        let lb = LAYOUTS[rng.below(LAYOUTS.len())];
        let a = make(&mut rng, m, k, la);
        let b = make(&mut rng, k, n, lb);
        let cfg = cfgs[iter % cfgs.len()];
        check(&cfg, m, n, k, &a, &b, &format!("A {la:?} B {lb:?}"));
    }
}

#[test]
fn model_shapes_default_path() {
    let mut rng = Rng(42);
    // (m, k, n, layout of A): the benchmark shapes, scaled to test speed.
    for &(m, k, n, la) in &[
        (64, 784, 256, Layout::RowMajor),
        (512, 256, 10, Layout::RowMajor),
        (300, 512, 70, Layout::ColMajor), // A^T @ G style
        (257, 300, 129, Layout::PaddedRow),
    ] {
        let a = make(&mut rng, m, k, la);
        let b = make(&mut rng, k, n, Layout::RowMajor);
        check(&Config::default(), m, n, k, &a, &b, "model");
        for threads in [2, 4] {
            let cfg = Config {
                threads,
                ..Config::default()
            };
            check(&cfg, m, n, k, &a, &b, "model-threads");
        }
        for grid in [(1, 1), (1, 3), (5, 1), (3, 2)] {
            let cfg = Config {
                threads: 2,
                grid: Some(grid),
                ..Config::default()
            };
            check(&cfg, m, n, k, &a, &b, "model-grid");
        }
    }
}

#[test]
fn transposed_view_of_row_major_storage() {
    // A stored r x c row-major; use A^T (c x r): rs = 1, cs = c.
    let mut rng = Rng(7);
    let (r, cc, n) = (53, 41, 29);
    let store: Vec<f32> = (0..r * cc).map(|_| rng.f32()).collect();
    let a = Operand {
        buf: store,
        off: 0,
        rs: 1,
        cs: cc as isize,
    };
    let b = make(&mut rng, r, n, Layout::RowMajor);
    for cfg in configs() {
        check(&cfg, cc, n, r, &a, &b, "A^T");
    }
}

/// Packing only moves data, so a B read through a transposed view (packed
/// by 16 x 16 register transposes on AVX-512) gives bit for bit the
/// product of the same values stored row-major: full and partial panels,
/// k with and without a remainder of 16, one and two threads.
#[test]
fn column_contiguous_b_packs_exactly() {
    let mut rng = Rng(11);
    for &(m, k, n) in &[(64, 784, 256), (7, 37, 70), (13, 16, 32), (5, 300, 95)] {
        let a = make(&mut rng, m, k, Layout::RowMajor);
        for layout in [Layout::ColMajor, Layout::PaddedCol] {
            let b = make(&mut rng, k, n, layout);
            let mut row_major = Vec::with_capacity(k * n);
            for p in 0..k {
                for j in 0..n {
                    row_major.push(get(&b, p, j));
                }
            }
            let dense = Operand {
                buf: row_major,
                off: 0,
                rs: n as isize,
                cs: 1,
            };
            for threads in [1, 2] {
                let cfg = Config {
                    threads,
                    ..Config::default()
                };
                let run = |b: &Operand| {
                    let mut c = vec![f32::NAN; m * n];
                    sgemm_with(&cfg, m, n, k, op(&a.buf, &a), op(&b.buf, b), &mut c);
                    c.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
                };
                assert_eq!(
                    run(&b),
                    run(&dense),
                    "{m}x{k}x{n} {layout:?} threads={threads}"
                );
            }
        }
    }
}

/// Narrow products (a 10-class output layer) run as `(BᵀAᵀ)ᵀ`: bit for
/// bit what the unswapped product gives, for f32 on every kernel and
/// thread count, and for bf16 where the CPU has it.
#[test]
fn narrow_products_swap_exactly() {
    let mut rng = Rng(13);
    for &(m, k, n) in &[
        (64, 256, 10),
        (512, 256, 10),
        (37, 600, 3),
        (9, 5, 1),
        (100, 19, 7),
    ] {
        for (la, lb) in [
            (Layout::RowMajor, Layout::ColMajor),
            (Layout::PaddedCol, Layout::RowMajor),
        ] {
            let a = make(&mut rng, m, k, la);
            let b = make(&mut rng, k, n, lb);
            for kernel in [Kernel::Auto, Kernel::Avx2, Kernel::Scalar] {
                for threads in [1, 2] {
                    let run = |swap_narrow: bool| {
                        let cfg = Config {
                            kernel,
                            threads,
                            swap_narrow,
                            ..Config::default()
                        };
                        let mut c = vec![f32::NAN; m * n];
                        sgemm_with(&cfg, m, n, k, op(&a.buf, &a), op(&b.buf, &b), &mut c);
                        let mut h = vec![f32::NAN; m * n];
                        let (ha, hb) = (to_bf16(&a).0, to_bf16(&b).0);
                        let bf16 = bf16gemm_with(&cfg, m, n, k, op(&ha, &a), op(&hb, &b), &mut h);
                        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        (bits(&c), bf16.then(|| bits(&h)))
                    };
                    let what = format!("{m}x{k}x{n} {la:?} {lb:?} {kernel:?} threads={threads}");
                    assert_eq!(run(true), run(false), "{what}");
                }
            }
            let mut c = vec![f32::NAN; m * n];
            sgemm(m, n, k, op(&a.buf, &a), op(&b.buf, &b), &mut c);
            assert_product(&c, m, n, k, &a, &b, "narrow");
        }
    }
}

#[test]
fn k_zero_and_empty() {
    let mut c = vec![5.0f32; 12];
    sgemm(
        3,
        4,
        0,
        Op::new(&[], 0, 0, 1),
        Op::new(&[], 0, 4, 1),
        &mut c,
    );
    assert!(c.iter().all(|&x| x == 0.0));
    let mut c: Vec<f32> = vec![];
    sgemm(
        0,
        4,
        3,
        Op::new(&[], 0, 3, 1),
        Op::new(&[0.0; 12], 0, 4, 1),
        &mut c,
    );
    sgemm(
        3,
        0,
        3,
        Op::new(&[0.0; 9], 0, 3, 1),
        Op::new(&[], 0, 0, 1),
        &mut c,
    );
}

#[test]
fn exact_small_integers() {
    // Integers small enough that f32 sums are exact in any order.
    let (m, n, k) = (37, 45, 300);
    let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
    let b: Vec<f32> = (0..k * n).map(|i| ((i * 3) % 7) as f32 - 3.0).collect();
    let mut c = vec![0.0; m * n];
    sgemm(
        m,
        n,
        k,
        Op::new(&a, 0, k as isize, 1),
        Op::new(&b, 0, n as isize, 1),
        &mut c,
    );
    for i in 0..m {
        for j in 0..n {
            let r: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            assert_eq!(c[i * n + j], r);
        }
    }
}

#[test]
#[should_panic(expected = "outside its slice")]
fn rejects_out_of_bounds_a() {
    let mut c = vec![0.0; 4];
    sgemm(
        2,
        2,
        2,
        Op::new(&[0.0; 3], 0, 2, 1),
        Op::new(&[0.0; 4], 0, 2, 1),
        &mut c,
    );
}

#[test]
#[should_panic(expected = "outside its slice")]
fn rejects_negative_reach() {
    let mut c = vec![0.0; 4];
    sgemm(
        2,
        2,
        2,
        Op::new(&[0.0; 4], 1, -2, 1),
        Op::new(&[0.0; 4], 0, 2, 1),
        &mut c,
    );
}

#[test]
#[should_panic(expected = "outside its slice")]
fn rejects_out_of_bounds_b_offset() {
    let mut c = vec![0.0; 4];
    sgemm(
        2,
        2,
        2,
        Op::new(&[0.0; 4], 0, 2, 1),
        Op::new(&[0.0; 5], 2, 2, 1),
        &mut c,
    );
}

#[test]
#[should_panic(expected = "c.len()")]
fn rejects_wrong_c_len() {
    let mut c = vec![0.0; 3];
    sgemm(
        2,
        2,
        2,
        Op::new(&[0.0; 4], 0, 2, 1),
        Op::new(&[0.0; 4], 0, 2, 1),
        &mut c,
    );
}

/// bf16 copy of an operand (same layout), and the values it holds.
fn to_bf16(o: &Operand) -> (Vec<bf16>, Operand) {
    let h: Vec<bf16> = o.buf.iter().map(|&x| bf16::from_f32(x)).collect();
    let back = Operand {
        buf: h.iter().map(|x| x.to_f32()).collect(),
        off: o.off,
        rs: o.rs,
        cs: o.cs,
    };
    (h, back)
}

/// bf16 GEMM vs the f64 reference on the bf16 values (products of bf16
/// pairs are exact in f32, so the f32 summation bound applies).
fn check_bf16(cfg: &Config, m: usize, n: usize, k: usize, a: &Operand, b: &Operand, what: &str) {
    let (ha, ra) = to_bf16(a);
    let (hb, rb) = to_bf16(b);
    let mut c = vec![f32::NAN; m * n];
    assert!(bf16gemm_with(cfg, m, n, k, op(&ha, a), op(&hb, b), &mut c));
    assert_product(&c, m, n, k, &ra, &rb, &format!("bf16 {what} cfg={cfg:?}"));
}

#[test]
fn bf16_shapes_layouts_and_blockings() {
    if !has_native_bf16() {
        eprintln!("skipped: this CPU has no AVX512-BF16");
        assert!(!bf16gemm_with(
            &Config::default(),
            1,
            1,
            1,
            Op {
                data: &[bf16::ONE],
                off: 0,
                rs: 1,
                cs: 1
            },
            Op {
                data: &[bf16::ONE],
                off: 0,
                rs: 1,
                cs: 1
            },
            &mut [0.0]
        ));
        return;
    }
    let mut rng = Rng(0xb16b_16b1_6b16_b16b);
    let odd = Blocking {
        mc: 12,
        kc: 7, // rounded up to 8: blocks of k pairs, odd k tails
        nc: 32,
    };
    let mut cfgs = Vec::new();
    for blocking in [DEFAULT_BLOCKING, odd] {
        for threads in [1, 2, 3] {
            cfgs.push(Config {
                blocking,
                threads,
                ..Config::default()
            });
        }
    }
    for &(m, n, k) in &[
        (1, 1, 1),
        (6, 32, 2),
        (7, 33, 3),
        (5, 31, 17),
        (13, 65, 40),
        (64, 100, 257),
    ] {
        for cfg in &cfgs {
            let a = make(&mut rng, m, k, Layout::RowMajor);
            let b = make(&mut rng, k, n, Layout::RowMajor);
            check_bf16(cfg, m, n, k, &a, &b, "edge");
        }
    }
    for iter in 0..120 {
        let m = 1 + rng.below(if iter % 10 == 0 { 150 } else { 40 });
        let n = 1 + rng.below(if iter % 10 == 1 { 150 } else { 70 });
        let k = 1 + rng.below(if iter % 10 == 2 { 600 } else { 50 });
        let la = LAYOUTS[rng.below(LAYOUTS.len())];
        let lb = LAYOUTS[rng.below(LAYOUTS.len())];
        let a = make(&mut rng, m, k, la);
        let b = make(&mut rng, k, n, lb);
        check_bf16(
            &cfgs[iter % cfgs.len()],
            m,
            n,
            k,
            &a,
            &b,
            &format!("A {la:?} B {lb:?}"),
        );
    }
}
