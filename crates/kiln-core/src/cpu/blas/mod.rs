//! Kiln's GEMM, `C = A * B`, BLIS style, for f32 and (with AVX512-BF16's
//! `vdpbf16ps`) bf16 operands with f32 accumulation.
//!
//! Loop nest (per work unit, see below):
//!
//! ```text
//! for jc in n step NC            (B block KC x NC, L3)
//!   for pc in k step KC          pack B[pc.., jc..] into NR-column micro-panels
//!     for ic in m step MC        pack A[ic.., pc..] into MR-row micro-panels (L2)
//!       for jr in NC step NR     B micro-panel KC x NR stays in L1
//!         for ir in MC step MR   microkernel: C[MR x NR] (+)= Apanel * Bpanel
//! ```
//!
//! Packed panels hold 32-bit *words*: one f32, or for bf16 a pair of
//! consecutive-k elements (`vdpbf16ps` multiplies pairs and adds both
//! products into one f32 lane, so a bf16 word step does two k steps).
//! The driver is the same for both; an [`Arch`] names the kernel, the
//! packers, the tile width `NR` and the k per word. Kernels: scalar
//! (6x16), AVX2+FMA (6x16 ymm), AVX-512 (6x32 zmm), AVX512-BF16 (6x32).
//!
//! Threading: C is cut into a small grid of rectangular *units* (a few per
//! thread, sized by a cost model that weighs repacking against balance).
//! The calling thread and the kernel workers (`crate::cpu::workers`) claim
//! units from an atomic counter; each unit runs the loop nest above with
//! the claiming thread's own packing buffers. The caller starts computing
//! at once (no wake-up latency on the critical path) and a worker that
//! arrives late simply finds less work. Small products run on the caller.
//!
//! Units do not share packed B: on the 2-vCPU EPYC VM this was first tuned
//! on, a cache line moves between the two cores in ~240 ns one way
//! (measured ping-pong), and a variant that packed B once cooperatively
//! into a shared buffer was slower for small-m shapes (64x784x256: ~76 vs
//! ~126 GFLOP/s) and no better elsewhere.
//!
//! All `unsafe` rests on one invariant, established by [`check_operand`]
//! before any pointer is formed: every element `(i, j)` of the
//! `rows x cols` operand views lies inside its slice. Views passed further
//! down are always sub-rectangles of those.
#![allow(clippy::needless_range_loop)]

mod kernels;
mod pack;

use half::bf16;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Rows of the register tile (broadcast from packed A), for every kernel.
pub const MR: usize = 6;
/// The widest register tile (columns) of any kernel.
const NR_MAX: usize = 32;

/// Cache blocking, in source elements. `mc` is rounded up to a multiple of
/// [`MR`], `nc` to a multiple of the kernel's tile width, `kc` to the k per
/// packed word; each dimension is then split into equal-ish blocks no
/// larger than the (rounded) maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    pub mc: usize,
    pub kc: usize,
    pub nc: usize,
}

/// First tuned on an AMD EPYC (Zen 3, 32 KiB L1d, 512 KiB L2 per core):
/// a 256 x 32 f32 B micro-panel is 32 KiB.
pub const DEFAULT_BLOCKING: Blocking = Blocking {
    mc: 144,
    kc: 256,
    nc: 4080,
};

/// Microkernel selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// The best this CPU has: AVX-512 (and AVX512-BF16 for bf16), else
    /// AVX2+FMA, else scalar.
    Auto,
    /// AVX2+FMA if the CPU has both, else scalar (f32 only).
    Avx2,
    /// Portable scalar code (microkernel and packing; f32 only).
    Scalar,
}

/// Knobs for tests and tuning; [`sgemm`] uses `Config::default()`.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub kernel: Kernel,
    pub blocking: Blocking,
    /// 0: automatic (1 below `par_threshold_flops`, else rayon's pool size).
    pub threads: usize,
    /// Products with fewer flops (2mnk) stay on the calling thread when
    /// `threads == 0`.
    pub par_threshold_flops: usize,
    /// Forces the unit grid (rows x cols of units) when threaded.
    #[doc(hidden)]
    pub grid: Option<(usize, usize)>,
    /// Computes narrow products (`n` well under the tile width) as
    /// `(BᵀAᵀ)ᵀ` when that pads less ([`swap_pays`]); off only to test
    /// that both orientations agree.
    #[doc(hidden)]
    pub swap_narrow: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kernel: Kernel::Auto,
            blocking: DEFAULT_BLOCKING,
            threads: 0,
            par_threshold_flops: 1 << 20,
            grid: None,
            swap_narrow: true,
        }
    }
}

/// A strided `rows x cols` operand: element `(i, p)` is
/// `data[off + i*rs + p*cs]` (strides in elements; any value, including
/// zero for broadcast and negative for reversed views).
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a, T> {
    pub data: &'a [T],
    pub off: usize,
    pub rs: isize,
    pub cs: isize,
}

impl<'a, T> Operand<'a, T> {
    /// The view of `data` from `off` with row stride `rs` and column
    /// stride `cs`.
    pub fn new(data: &'a [T], off: usize, rs: isize, cs: isize) -> Self {
        Operand { data, off, rs, cs }
    }

    /// The transposed view of the same elements.
    pub fn transposed(self) -> Self {
        Operand {
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }
}

/// `C = A * B` in f32.
///
/// * `A` is `m x k` and `B` is `k x n`, strided [`Operand`]s (strides in
///   elements, any value: transposed views, padding, zero for broadcast,
///   negative for reversed views).
/// * `C` is contiguous row-major `m x n` (`c.len() == m*n`) and is
///   overwritten (its old contents are never read).
///
/// Multi-threaded on the kernel workers for large enough products.
///
/// # Panics
/// If `c.len() != m*n` or any element of `A` or `B` lies outside its slice.
pub fn sgemm(m: usize, n: usize, k: usize, a: Operand<f32>, b: Operand<f32>, c: &mut [f32]) {
    sgemm_with(&Config::default(), m, n, k, a, b, c)
}

/// [`sgemm`] with explicit [`Config`].
pub fn sgemm_with(
    cfg: &Config,
    m: usize,
    n: usize,
    k: usize,
    a: Operand<f32>,
    b: Operand<f32>,
    c: &mut [f32],
) {
    drive(cfg, &Arch::f32(cfg.kernel), m, n, k, a, b, c)
}

/// Whether this CPU multiplies bf16 natively (AVX512-BF16), i.e. whether
/// [`bf16gemm_with`] can run.
pub fn has_native_bf16() -> bool {
    Arch::bf16(Kernel::Auto).is_some()
}

/// `C = A * B` for bf16 `A` (`m x k`) and `B` (`k x n`) with f32
/// accumulation into the f32 `C` (`m x n`, row-major, overwritten), by
/// AVX512-BF16 dot products. Products of bf16 pairs are exact in f32; the
/// instruction treats bf16 subnormal inputs as zero. Returns `false`
/// (leaving `c` untouched) when the CPU lacks AVX512-BF16 or `cfg.kernel`
/// is not [`Kernel::Auto`].
///
/// # Panics
/// As [`sgemm`].
pub fn bf16gemm_with(
    cfg: &Config,
    m: usize,
    n: usize,
    k: usize,
    a: Operand<bf16>,
    b: Operand<bf16>,
    c: &mut [f32],
) -> bool {
    match Arch::bf16(cfg.kernel) {
        Some(arch) => {
            drive(cfg, &arch, m, n, k, a, b, c);
            true
        }
        None => false,
    }
}

/// Validates the operands, picks the thread grid and runs the units.
#[allow(clippy::too_many_arguments)]
fn drive<T: Copy + Sync>(
    cfg: &Config,
    arch: &Arch<T>,
    m: usize,
    n: usize,
    k: usize,
    a: Operand<T>,
    b: Operand<T>,
    c: &mut [f32],
) {
    let mn = m.checked_mul(n).expect("sgemm: m*n overflows usize");
    assert_eq!(c.len(), mn, "sgemm: c.len() must be m*n = {m}*{n}");
    check_operand("a", a.data.len(), a.off, m, k, a.rs, a.cs);
    check_operand("b", b.data.len(), b.off, k, n, b.rs, b.cs);
    if mn == 0 {
        return;
    }
    if k == 0 {
        c.fill(0.0);
        return;
    }
    if cfg.swap_narrow && swap_pays(m, n, arch.nr) {
        // C = (BᵀAᵀ)ᵀ: the same fused multiply-adds over k in the same
        // order for every element (k blocks depend on k alone), so the
        // same bits, with less of each register tile wasted on padding.
        let mut ct = crate::pool::take::<f32>(mn);
        drive(cfg, arch, n, m, k, b.transposed(), a.transposed(), &mut ct);
        for (i, row) in c.chunks_exact_mut(n).enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = ct[j * m + i];
            }
        }
        crate::pool::give(ct);
        return;
    }
    let blk = sanitize(cfg.blocking, arch);
    // SAFETY: m, n, k > 0 here, so check_operand proved element (0, 0) of
    // both views (offset a.off / b.off) is inside its slice.
    let av = unsafe { MatRef::new(a.data.as_ptr().add(a.off), a.rs, a.cs) };
    let bv = unsafe { MatRef::new(b.data.as_ptr().add(b.off), b.rs, b.cs) };
    let cv = CPtr {
        ptr: c.as_mut_ptr(),
        rs: n,
    };

    let flops = m.saturating_mul(n).saturating_mul(k).saturating_mul(2);
    let threads = match cfg.threads {
        0 if flops < cfg.par_threshold_flops => 1,
        0 => rayon::current_num_threads(),
        t => t,
    };
    let nr = arch.nr;
    let (um, un) = match cfg.grid {
        Some((gm, gn)) if threads > 1 => (gm.clamp(1, m.div_ceil(MR)), gn.clamp(1, n.div_ceil(nr))),
        _ => choose_grid(m, n, k, threads, &blk, arch),
    };
    if threads == 1 || um * un == 1 {
        // SAFETY: av/bv/cv address the full validated m x k, k x n, m x n
        // matrices; c is exclusively borrowed for the whole call.
        unsafe { gemm_part(arch, &blk, m, n, k, av, bv, cv) };
        return;
    }
    let job = Job {
        arch: *arch,
        blk,
        m,
        n,
        k,
        a: av,
        b: bv,
        c: cv,
        um,
        un,
        next: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
    };
    // The caller and the kernel workers each claim units until none are
    // left; `run` returns once every participant is done.
    let participants = threads.min(um * un);
    crate::cpu::workers::run(participants, participants, &|_| job.work());
    // Every claimed unit is finished and no worker looks at the job any
    // more, so no pointer into a, b or c is used after this point.
    assert!(
        !job.panicked.load(Ordering::Relaxed),
        "sgemm: a unit panicked"
    );
}

/// Shared state of one threaded product.
struct Job<T> {
    arch: Arch<T>,
    blk: Blocking,
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<T>,
    b: MatRef<T>,
    c: CPtr,
    um: usize,
    un: usize,
    /// Next unit index to claim (monotonic; may run past `um*un`).
    next: AtomicUsize,
    panicked: AtomicBool,
}

impl<T: Copy> Job<T> {
    /// Claims and computes units until none are left.
    fn work(&self) {
        let total = self.um * self.un;
        let nr = self.arch.nr;
        let (mp, np) = (self.m.div_ceil(MR), self.n.div_ceil(nr));
        loop {
            let u = self.next.fetch_add(1, Ordering::Relaxed);
            if u >= total {
                return;
            }
            let (iu, ju) = (u / self.un, u % self.un);
            let r0 = iu * mp / self.um * MR;
            let r1 = ((iu + 1) * mp / self.um * MR).min(self.m);
            let c0 = ju * np / self.un * nr;
            let c1 = ((ju + 1) * np / self.un * nr).min(self.n);
            let r = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: unit u was claimed by exactly one thread (atomic
                // counter). Units tile [0,m) x [0,n) without overlap: the
                // panel ranges i*mp/um .. (i+1)*mp/um are disjoint and
                // nonempty since um <= mp (same for columns), so this thread
                // is the only writer of rectangle [r0,r1) x [c0,c1) of C.
                // The caller keeps a, b and c borrowed until
                // `workers::run` returns, which is after every participant
                // (and so every claimed unit) finished: the pointers are live.
                unsafe {
                    gemm_part(
                        &self.arch,
                        &self.blk,
                        r1 - r0,
                        c1 - c0,
                        self.k,
                        self.a.sub(r0, 0),
                        self.b.sub(0, c0),
                        self.c.sub(r0, c0),
                    )
                }
            }));
            if r.is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Panics unless every element `(i, j)`, `i < rows`, `j < cols`, at
/// `off + i*rs + j*cs` lies in `[0, len)`. Empty views access nothing.
fn check_operand(
    name: &str,
    len: usize,
    off: usize,
    rows: usize,
    cols: usize,
    rs: isize,
    cs: isize,
) {
    if rows == 0 || cols == 0 {
        return;
    }
    // i128 cannot overflow: |stride * (count-1)| < 2^63 * 2^64.
    let ext = |s: isize, n: usize| {
        let e = s as i128 * (n as i128 - 1);
        (e.min(0), e.max(0))
    };
    let (rl, rh) = ext(rs, rows);
    let (cl, ch) = ext(cs, cols);
    let lo = off as i128 + rl + cl;
    let hi = off as i128 + rh + ch;
    assert!(
        lo >= 0 && hi < len as i128,
        "sgemm: operand {name} ({rows}x{cols}, offset {off}, strides ({rs}, {cs})) \
         spans elements [{lo}, {hi}], outside its slice of length {len}"
    );
}

fn sanitize<T>(b: Blocking, arch: &Arch<T>) -> Blocking {
    Blocking {
        mc: b.mc.max(1).next_multiple_of(MR),
        kc: b.kc.max(1).next_multiple_of(arch.kpw),
        nc: b.nc.max(1).next_multiple_of(arch.nr),
    }
}

/// Picks the unit grid `um x un` for `threads` workers by a crude cycle
/// model: the microkernel does an MR x NR tile-step (one packed word) in
/// ~6 cycles; packing costs ~1 cycle per element (A is repacked for every
/// unit column and NC block, B for every unit row); a fixed per-unit
/// overhead; and an allowance of 10% of a unit for a thread that starts
/// late. Minimises ceil(units/threads) * unit_cost + allowance over grids
/// of <= 4*threads units.
fn choose_grid<T>(
    m: usize,
    n: usize,
    k: usize,
    threads: usize,
    blk: &Blocking,
    arch: &Arch<T>,
) -> (usize, usize) {
    if threads <= 1 {
        return (1, 1);
    }
    let nr = arch.nr;
    let (mp, np) = (m.div_ceil(MR), n.div_ceil(nr));
    let max_units = 4 * threads;
    let kf = k as f64;
    let kw = k.div_ceil(arch.kpw) as f64;
    let mut best = ((1, 1), f64::INFINITY);
    for um in 1..=mp.min(max_units) {
        for un in 1..=np.min(max_units / um) {
            let (pm, pn) = (mp.div_ceil(um), np.div_ceil(un));
            let nc_blocks = (pn * nr).div_ceil(blk.nc) as f64;
            let unit = (pm * pn) as f64 * 6.0 * kw
                + (pm * MR) as f64 * kf * nc_blocks
                + (pn * nr) as f64 * kf
                + 3000.0;
            let cost = (um * un).div_ceil(threads) as f64 * unit + 0.1 * unit;
            if cost < best.1 {
                best = ((um, un), cost);
            }
        }
    }
    best.0
}

/// True if an `m x n` product pads its register tiles (MR rows by `nr`
/// columns) by a third more than the `n x m` product would: narrow
/// results like a 10-class output layer (`n = 10` fills 10 of 32 columns;
/// as `10 x m` it fills 10 of 12 rows). Strict, so a swapped product never
/// swaps back.
fn swap_pays(m: usize, n: usize, nr: usize) -> bool {
    let padded = |rows: usize, cols: usize| rows.next_multiple_of(MR) * cols.next_multiple_of(nr);
    4 * padded(n, m) < 3 * padded(m, n)
}

/// Block sizes: `len` split into `ceil(len/max)` pieces of equal size,
/// rounded up to `unit` (the last piece takes the remainder).
fn block_step(len: usize, max: usize, unit: usize) -> usize {
    let nb = len.div_ceil(max);
    len.div_ceil(nb).next_multiple_of(unit).min(max.max(unit))
}

/// Read-only strided matrix view. Invariant (kept by construction, see the
/// module docs): every element addressed through it is in bounds.
struct MatRef<T> {
    ptr: *const T,
    rs: isize,
    cs: isize,
}

impl<T> Clone for MatRef<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for MatRef<T> {}

// SAFETY: a MatRef is a shared view of elements that the gemm caller keeps
// borrowed (immutably) until every thread is done reading them.
unsafe impl<T: Sync> Send for MatRef<T> {}
unsafe impl<T: Sync> Sync for MatRef<T> {}

impl<T> MatRef<T> {
    /// # Safety
    /// `ptr` must address element (0, 0) of a validated view.
    unsafe fn new(ptr: *const T, rs: isize, cs: isize) -> Self {
        MatRef { ptr, rs, cs }
    }
    /// Pointer to element (i, j).
    /// # Safety
    /// (i, j) must be inside the view.
    #[inline(always)]
    unsafe fn at(&self, i: usize, j: usize) -> *const T {
        self.ptr.offset(i as isize * self.rs + j as isize * self.cs)
    }
    /// # Safety
    /// (i, j) must be inside the view; the result is the view from (i, j).
    #[inline(always)]
    unsafe fn sub(&self, i: usize, j: usize) -> Self {
        MatRef {
            ptr: self.at(i, j),
            ..*self
        }
    }
}

/// Row-major destination, row stride `rs`.
#[derive(Clone, Copy)]
struct CPtr {
    ptr: *mut f32,
    rs: usize,
}

// SAFETY: threads only write disjoint rectangles of C (see Job::work) while
// the caller keeps C exclusively borrowed.
unsafe impl Send for CPtr {}
unsafe impl Sync for CPtr {}

impl CPtr {
    /// # Safety
    /// (i, j) must be inside the destination.
    #[inline(always)]
    unsafe fn sub(&self, i: usize, j: usize) -> Self {
        CPtr {
            ptr: self.ptr.add(i * self.rs + j),
            rs: self.rs,
        }
    }
}

/// `C[MR x NR] = A panel * B panel` (or `+=` when `accumulate`), over `kw`
/// packed words.
/// # Safety
/// `a` holds `kw*MR` words, `b` holds `kw*NR` words and is 64-byte
/// aligned, and `c + i*rs_c + j` is writable for `i < MR`, `j < NR`.
type MicroKernel = unsafe fn(usize, *const f32, *const f32, *mut f32, usize, bool);

/// Packs a `rows x cols` block of source elements into micro-panels of
/// words (see `pack` for layouts and safety contracts).
type PackFn<T> = unsafe fn(usize, usize, MatRef<T>, *mut f32);

/// The code paths chosen for one element type on this CPU.
struct Arch<T> {
    kern: MicroKernel,
    pack_a: PackFn<T>,
    pack_b: PackFn<T>,
    /// Columns of the register tile.
    nr: usize,
    /// Source k steps per packed word (1 for f32, 2 for bf16 pairs).
    kpw: usize,
}

impl<T> Clone for Arch<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Arch<T> {}

#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    crate::cpu::simd::level() >= crate::cpu::simd::Level::Avx512
}

impl Arch<f32> {
    fn f32(k: Kernel) -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if k == Kernel::Auto && has_avx512() {
                return Arch {
                    kern: kernels::f32_avx512,
                    pack_a: pack::a_f32_avx2,
                    pack_b: pack::b_f32_avx512,
                    nr: 32,
                    kpw: 1,
                };
            }
            if k != Kernel::Scalar
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
            {
                return Arch {
                    kern: kernels::f32_avx2,
                    pack_a: pack::a_f32_avx2,
                    pack_b: pack::b_f32_avx2,
                    nr: 16,
                    kpw: 1,
                };
            }
        }
        let _ = k;
        Arch {
            kern: kernels::f32_scalar,
            pack_a: pack::a_f32_scalar,
            pack_b: pack::b_f32_scalar,
            nr: 16,
            kpw: 1,
        }
    }
}

impl Arch<bf16> {
    fn bf16(k: Kernel) -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        {
            if k == Kernel::Auto && has_avx512() && is_x86_feature_detected!("avx512bf16") {
                return Some(Arch {
                    kern: kernels::bf16_avx512,
                    pack_a: pack::a_bf16_avx512,
                    pack_b: pack::b_bf16_avx512,
                    nr: 32,
                    kpw: 2,
                });
            }
        }
        let _ = k;
        None
    }
}

/// 64-byte aligned storage unit for packing buffers.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

thread_local! {
    static BUFS: RefCell<(Vec<Line>, Vec<Line>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

fn grow(v: &mut Vec<Line>, words: usize) -> *mut f32 {
    let lines = words.div_ceil(16);
    if v.len() < lines {
        v.resize(lines, Line([0.0; 16]));
    }
    v.as_mut_ptr() as *mut f32
}

/// Serial BLIS loop nest for one `m x n` rectangle.
///
/// # Safety
/// `a` (m x k), `b` (k x n) are in-bounds views; `c` addresses an `m x n`
/// rectangle that no other thread touches during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_part<T>(
    arch: &Arch<T>,
    blk: &Blocking,
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<T>,
    b: MatRef<T>,
    c: CPtr,
) {
    let nr = arch.nr;
    let mc = block_step(m, blk.mc, MR);
    let kc = block_step(k, blk.kc, arch.kpw);
    let nc = block_step(n, blk.nc, nr);
    let kcw = kc.div_ceil(arch.kpw);
    let run = |abuf: &mut Vec<Line>, bbuf: &mut Vec<Line>| {
        let ap = grow(abuf, mc.next_multiple_of(MR) * kcw);
        let bp = grow(bbuf, nc.next_multiple_of(nr) * kcw);
        let mut jc = 0;
        while jc < n {
            let ncb = nc.min(n - jc);
            let mut pc = 0;
            while pc < k {
                let kcb = kc.min(k - pc);
                let kw = kcb.div_ceil(arch.kpw);
                // SAFETY: (pc, jc) is inside B and the kcb x ncb block fits;
                // bp has room for ceil(ncb/nr)*nr*kw words.
                unsafe { (arch.pack_b)(kcb, ncb, b.sub(pc, jc), bp) };
                let mut ic = 0;
                while ic < m {
                    let mcb = mc.min(m - ic);
                    // SAFETY: as above for A and ap; c.sub(ic, jc) and the
                    // mcb x ncb block are inside this rectangle of C.
                    unsafe {
                        (arch.pack_a)(mcb, kcb, a.sub(ic, pc), ap);
                        macro_kernel(arch, mcb, ncb, kw, ap, bp, c.sub(ic, jc), pc == 0);
                    }
                    ic += mcb;
                }
                pc += kcb;
            }
            jc += ncb;
        }
    };
    BUFS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut g) => {
            let (x, y) = &mut *g;
            run(x, y)
        }
        // Re-entered on this thread (not expected: nothing inside a unit
        // yields to another task); use fresh buffers rather than panic.
        Err(_) => run(&mut Vec::new(), &mut Vec::new()),
    });
}

/// Runs the microkernel over an `mc x nc` block of C from packed panels
/// of `kw` words. Full tiles go straight to C; edge tiles are computed
/// into a local MR x NR buffer and only their valid part is stored/added.
///
/// # Safety
/// `ap`/`bp` are packed by the arch's packers for these sizes; `c`
/// addresses a writable `mc x nc` rectangle with row stride `c.rs`.
#[allow(clippy::too_many_arguments)]
unsafe fn macro_kernel<T>(
    arch: &Arch<T>,
    mc: usize,
    nc: usize,
    kw: usize,
    ap: *const f32,
    bp: *const f32,
    c: CPtr,
    first: bool,
) {
    let nr_full = arch.nr;
    let mut jr = 0;
    while jr < nc {
        let nr = nr_full.min(nc - jr);
        let b = bp.add(jr * kw);
        let mut ir = 0;
        while ir < mc {
            let mr = MR.min(mc - ir);
            let a = ap.add(ir * kw);
            let cp = c.ptr.add(ir * c.rs + jr);
            if mr == MR && nr == nr_full {
                (arch.kern)(kw, a, b, cp, c.rs, !first);
            } else {
                let mut tmp = [Line([0.0; 16]); MR * NR_MAX / 16];
                let t = tmp.as_mut_ptr() as *mut f32;
                (arch.kern)(kw, a, b, t, nr_full, false);
                for i in 0..mr {
                    for j in 0..nr {
                        let dst = cp.add(i * c.rs + j);
                        let v = *t.add(i * nr_full + j);
                        *dst = if first { v } else { *dst + v };
                    }
                }
            }
            ir += MR;
        }
        jr += nr_full;
    }
}
