//! A tour of Kiln's core API: creation, broadcasting, reductions, matmul,
//! indexing, neural-net functions and autodiff. Run it with
//! `cargo run --release --example tour`.

use kiln::prelude::*;

fn main() -> kiln::Result<()> {
    // Creation: from data, constants, ranges, seeded random numbers.
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    let b = arange(0.0, 3.0, 1.0, DType::F32);
    seed(0);
    let noise = randn(&[2, 3], DType::F32);
    println!("x =\n{x}\nb = {b}\nnoise =\n{noise}");

    // Broadcasting: [2, 3] + [3] and a column [2, 1] against a row [3].
    let y = &x + &b;
    let col = Tensor::from_vec(vec![10.0f32, 20.0], &[2, 1])?;
    println!("x + b =\n{y}\ncol * b =\n{}", &col * &b);

    // Weak scalars keep the tensor's dtype; f16 stays f16.
    let h = x.astype(DType::F16) * 0.5;
    println!("x.astype(f16) * 0.5 = {h}");

    // Reductions over any axes, with keepdims.
    println!("sum over rows    = {}", x.sum(1, false));
    println!("mean (keepdims)  =\n{}", x.mean(0, true));
    println!("std (ddof=1)     = {}", x.std(.., 1, false));
    println!("argmax per row   = {}", x.argmax(-1, false));
    println!("logsumexp        = {}", x.logsumexp(-1, false));

    // Matmul with NumPy semantics: 2-D, 1-D and batched.
    let m = x.matmul(&x.t());
    let v = x.matmul(&b);
    let batch = randn(&[4, 2, 3], DType::F32).matmul(&x.t());
    println!(
        "x @ x.T =\n{m}\nx @ b = {v}\nbatched shape = {:?}",
        batch.shape()
    );

    // Indexing: slices with steps, gathers, sorting, top-k.
    let every_other = x.slice(&s![.., ..;2]);
    let last_row = x.slice(&s![-1]);
    let picked = x.index_select(1, &Tensor::from_vec(vec![2i64, 0], &[2])?);
    let (top, idx) = noise.topk(2, -1, true);
    println!("x[:, ::2] =\n{every_other}\nx[-1] = {last_row}\ncolumns [2, 0] =\n{picked}");
    println!("top-2 of noise =\n{top}\nat =\n{idx}");
    println!("where(x > 3, x, 0) =\n{}", where_(&x.gt(3.0), &x, 0.0));

    // Neural-net functions.
    println!("softmax =\n{}", softmax(&x, -1));
    println!("gelu = {}", gelu(&b, false));
    let img = arange(0.0, 16.0, 1.0, DType::F32).reshape([1, 1, 4, 4]);
    let kernel = ones(&[1, 1, 2, 2], DType::F32);
    println!(
        "conv2d =\n{}",
        conv2d(&img, &kernel, None, (2, 2), (0, 0), (1, 1), 1)
    );
    println!("max_pool2d =\n{}", max_pool2d(&img, (2, 2), (2, 2), (0, 0)));

    // Autodiff: functional grad, and PyTorch-style backward().
    let f = |w: &Tensor| (w * w * w).sum(.., false);
    let d2 = grad(move |w: &Tensor| grad(f)(w).unwrap().sum(.., false));
    let w = Tensor::from_vec(vec![1.0f64, 2.0], &[2])?;
    println!("d2/dw2 sum(w^3) at {w} = {}", d2(&w)?);
    let p = Tensor::from_vec(vec![0.5f32, -1.0, 2.0], &[3])?.requires_grad(true);
    let loss = (&p * &b).square().sum(.., false);
    loss.backward()?;
    println!(
        "loss = {}, grad = {}",
        loss.item::<f32>()?,
        p.grad().expect("grad")
    );

    // Errors: bad user data is a Result, not a panic.
    match Tensor::from_vec(vec![1.0f32, 2.0], &[3]) {
        Err(e) => println!("from_vec with 2 values for shape [3]: error: {e}"),
        Ok(_) => unreachable!(),
    }
    Ok(())
}
