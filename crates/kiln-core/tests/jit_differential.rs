//! Differential tests: randomly generated programs (elementwise chains,
//! broadcasting, reductions, views, matmul and transposed matmul, softmax,
//! casts) give the same results jitted as eager, with every pass switched
//! on, each one switched off in turn, and all off; and eager code gives the
//! same results with fusion on as op by op.

use kiln_core::eval::with_fusion;
use kiln_core::jit::{jit, Passes};
use kiln_core::ops::elementwise::where_;
use kiln_core::ops::nn::{log_softmax, selu, softmax};
use kiln_core::{s, DType, Tensor};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One step of a generated program: reads pool entries, appends one.
#[derive(Clone, Debug)]
enum Step {
    Unary(usize, u8),
    Binary(usize, usize, u8),
    Where(usize, usize),
    Reduce(usize, u8, i64),
    Softmax(usize, bool),
    Matmul(usize),
    Cast(usize),
    Reshape(usize),
    Flip(usize),
}

fn apply(pool: &[Tensor], w: &Tensor, step: &Step) -> Tensor {
    let a = |i: &usize| &pool[*i];
    match step {
        Step::Unary(i, k) => {
            let x = a(i);
            match k % 9 {
                0 => x.clip(Some(-20.0), Some(20.0)).exp(),
                1 => x.tanh(),
                2 => x.sigmoid(),
                3 => -x,
                4 => x.abs().sqrt(),
                5 => (x.abs() + 1.0).log(),
                6 => x.relu(),
                7 => selu(x),
                _ => x.gelu(false),
            }
        }
        Step::Binary(i, j, k) => {
            let (x, y) = (a(i), a(j));
            match k % 6 {
                0 => x + y,
                1 => x - y,
                2 => x * y,
                3 => x / (y.abs() + 1.0),
                4 => x.maximum(y),
                _ => x.minimum(y),
            }
        }
        Step::Where(i, j) => where_(&a(i).gt(a(j)), a(i), &(a(j) * 0.5)),
        Step::Reduce(i, k, axis) => {
            let x = a(i);
            let axis = if x.ndim() == 0 {
                0
            } else {
                axis % x.ndim() as i64
            };
            if x.ndim() == 0 {
                return x * 2.0;
            }
            match k % 4 {
                0 => x.sum(axis, true),
                1 => x.mean(axis, true),
                2 => x.max(axis, true),
                _ => x.sum(.., false) * 0.01,
            }
        }
        Step::Softmax(i, log) => {
            let x = a(i);
            match (x.ndim(), log) {
                (0, _) => x.clone(),
                (_, true) => log_softmax(x, 0),
                (_, false) => softmax(x, -1),
            }
        }
        Step::Matmul(i) => {
            let x = a(i);
            match x.shape() {
                [4, 6] if i % 2 == 0 => x.matmul(w),
                // A transposed product, as backward passes make them
                // (the input's pool index picks which).
                [4, 6] => w.matmul(&x.permute(&[1, 0])).permute(&[1, 0]),
                _ => x + 1.0,
            }
        }
        Step::Cast(i) => a(i).astype(DType::F64).exp().astype(DType::F32) * 0.1,
        Step::Reshape(i) => {
            let x = a(i);
            match x.shape() {
                [4, 6] => x.reshape([6, 4]).permute(&[1, 0]).reshape([4, 6]) * 3.0,
                _ => x * 3.0,
            }
        }
        Step::Flip(i) => {
            let x = a(i);
            match x.ndim() {
                2 => x.slice(&s![.., ..;-1]) + 0.25,
                _ => x + 0.25,
            }
        }
    }
}

fn program(rng: &mut Rng, n_inputs: usize) -> Vec<Step> {
    let mut steps = vec![];
    let len = 2 + rng.below(14);
    for _ in 0..len {
        let n = n_inputs + steps.len();
        let mut pick = || rng.below(n);
        let (i, j) = (pick(), pick());
        let k = rng.below(256) as u8;
        let step = match rng.below(10) {
            0 | 1 => Step::Unary(i, k),
            2 | 3 => Step::Binary(i, j, k),
            4 => Step::Where(i, j),
            5 => Step::Reduce(i, k, (k % 2) as i64),
            6 => Step::Softmax(i, k.is_multiple_of(2)),
            7 => Step::Matmul(i),
            8 => match k % 3 {
                0 => Step::Cast(i),
                1 => Step::Reshape(i),
                _ => Step::Flip(i),
            },
            _ => Step::Binary(i, j, k),
        };
        steps.push(step);
    }
    steps
}

/// Runs the program on `inputs` (the last one is the matmul weight) and
/// returns its last two values and the sum of all of them.
fn run(steps: &[Step], inputs: &[Tensor]) -> Vec<Tensor> {
    let (w, xs) = inputs.split_last().expect("a weight input");
    let mut pool: Vec<Tensor> = xs.to_vec();
    for s in steps {
        let t = apply(&pool, w, s);
        pool.push(t);
    }
    let total = pool
        .iter()
        .map(|t| t.sum(.., false))
        .reduce(|a, b| a + b)
        .expect("a pool");
    let n = pool.len();
    vec![pool[n - 1].clone(), pool[n - 2].clone(), total]
}

fn inputs(rng: &mut Rng) -> Vec<Tensor> {
    let shapes: [&[usize]; 5] = [&[4, 6], &[6], &[4, 1], &[], &[4, 6]];
    let mut v: Vec<Tensor> = shapes
        .iter()
        .map(|s| {
            let n: usize = s.iter().product();
            let data = (0..n)
                .map(|_| (rng.below(2001) as f32 - 1000.0) / 400.0)
                .collect();
            Tensor::from_vec(data, s).unwrap()
        })
        .collect();
    // A transposed input: a non-contiguous layout.
    let t = v.pop().unwrap();
    v.push(t.reshape([6, 4]).permute(&[1, 0]));
    let wd = (0..36)
        .map(|_| (rng.below(201) as f32 - 100.0) / 100.0)
        .collect();
    v.push(Tensor::from_vec(wd, &[6, 6]).unwrap());
    v
}

fn close(what: &str, a: &Tensor, b: &Tensor) -> Result<(), String> {
    if a.shape() != b.shape() || a.dtype() != b.dtype() {
        return Err(format!("{what}: {:?} vs {:?}", a, b));
    }
    let (x, y) = (a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
    for (i, (p, q)) in x.iter().zip(&y).enumerate() {
        let ok = (p.is_nan() && q.is_nan())
            || p == q
            || (p - q).abs() <= 1e-4 * p.abs().max(q.abs()).max(1.0);
        if !ok {
            return Err(format!("{what}: element {i}: {p} vs {q}"));
        }
    }
    Ok(())
}

fn configs() -> Vec<(String, Passes)> {
    let mut v = vec![
        ("all".to_string(), Passes::all()),
        ("none".to_string(), Passes::none()),
    ];
    let names = ["dce", "cse", "fold", "simplify", "fuse", "in_place"];
    for (k, name) in names.iter().enumerate() {
        let mut p = Passes::all();
        match k {
            0 => p.dce = false,
            1 => p.cse = false,
            2 => p.fold = false,
            3 => p.simplify = false,
            4 => p.fuse = false,
            _ => p.in_place = false,
        }
        v.push((format!("all but {name}"), p));
    }
    v
}

#[test]
fn random_programs_agree_jitted_and_eager_under_every_pass_configuration() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut failures = vec![];
    let cases = 150;
    let configs = configs();
    for case in 0..cases {
        let ins = inputs(&mut rng);
        let steps = program(&mut rng, ins.len() - 1);
        let want = with_fusion(false, || {
            let outs = run(&steps, &ins);
            kiln_core::eval::evaluate(&outs).unwrap();
            outs
        });
        let fused = run(&steps, &ins);
        for (k, (a, b)) in fused.iter().zip(&want).enumerate() {
            if let Err(e) = close(&format!("case {case} eager fused out {k}"), a, b) {
                failures.push(format!("{e}\n  program: {steps:?}"));
            }
        }
        for (name, passes) in &configs {
            let steps = steps.clone();
            let f = jit(move |xs: &Vec<Tensor>| run(&steps, xs)).with_passes(*passes);
            for call in 0..2 {
                let got = f.call(&ins).unwrap();
                for (k, (a, b)) in got.iter().zip(&want).enumerate() {
                    if let Err(e) = close(
                        &format!("case {case} jit [{name}] call {call} out {k}"),
                        a,
                        b,
                    ) {
                        failures.push(e);
                    }
                }
            }
            assert_eq!(f.stats().traces, 1);
        }
    }
    println!(
        "jit differential: {cases} programs x {} pass configurations",
        configs.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures, first:\n{}",
        failures.len(),
        failures[..failures.len().min(4)].join("\n")
    );
}
