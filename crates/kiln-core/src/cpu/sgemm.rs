//! Kiln's f32 GEMM, `C = A * B`, BLIS style (the `gemm` crate reaches
//! about 70-79% of OpenBLAS at 2 threads on the AVX2 machine this was
//! tuned on; this kernel about 94%).
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
//! Threading: C is cut into a small grid of rectangular *units* (a few per
//! thread, sized by a cost model that weighs repacking against balance).
//! The calling thread and the kernel workers (`crate::cpu::workers`) claim
//! units from an atomic counter; each unit runs the loop nest above with
//! the claiming thread's own packing buffers. The caller starts computing
//! at once (no wake-up latency on the critical path) and a worker that
//! arrives late simply finds less work. Small products run on the caller.
//!
//! Units do not share packed B: on the 2-vCPU EPYC VM this was tuned on, a
//! cache line moves between the two cores in ~240 ns one way (measured
//! ping-pong), and a variant that packed B once cooperatively into a
//! shared buffer (`alt/sgemm_shared_b.rs.txt`) was slower for small-m
//! shapes (64x784x256: ~76 vs ~126 GFLOP/s) and no better elsewhere.
//!
//! All `unsafe` rests on one invariant, established by [`check_operand`]
//! before any pointer is formed: every element `(i, j)` of the
//! `rows x cols` operand views lies inside its slice. Views passed further
//! down are always sub-rectangles of those.
#![allow(clippy::needless_range_loop)]

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Rows of the register tile (broadcast from packed A).
pub const MR: usize = 6;
/// Columns of the register tile (two ymm vectors from packed B).
pub const NR: usize = 16;

/// Cache blocking. `mc` is rounded up to a multiple of [`MR`], `nc` to a
/// multiple of [`NR`]; each dimension is then split into equal-ish blocks
/// no larger than the (rounded) maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    pub mc: usize,
    pub kc: usize,
    pub nc: usize,
}

/// Tuned on an AMD EPYC (Zen 3, 32 KiB L1d, 512 KiB L2 per core).
pub const DEFAULT_BLOCKING: Blocking = Blocking {
    mc: 144,
    kc: 256,
    nc: 4080,
};

/// Microkernel selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// AVX2+FMA if the CPU has both, else scalar.
    Auto,
    /// Portable scalar code (microkernel and packing).
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kernel: Kernel::Auto,
            blocking: DEFAULT_BLOCKING,
            threads: 0,
            par_threshold_flops: 1 << 20,
            grid: None,
        }
    }
}

/// `C = A * B` in f32.
///
/// * `A` is `m x k`: element `(i, p)` is `a[a_off + i*a_rs + p*a_cs]`.
/// * `B` is `k x n`: element `(p, j)` is `b[b_off + p*b_rs + j*b_cs]`.
/// * `C` is contiguous row-major `m x n` (`c.len() == m*n`) and is
///   overwritten (its old contents are never read).
///
/// Strides are in elements and may be any value (transposed views,
/// padding, zero for broadcast, negative for reversed views).
/// Multi-threaded on the current rayon pool for large enough products.
///
/// # Panics
/// If `c.len() != m*n` or any element of `A` or `B` lies outside its slice.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_off: usize,
    a_rs: isize,
    a_cs: isize,
    b: &[f32],
    b_off: usize,
    b_rs: isize,
    b_cs: isize,
    c: &mut [f32],
) {
    sgemm_with(
        &Config::default(),
        m,
        n,
        k,
        a,
        a_off,
        a_rs,
        a_cs,
        b,
        b_off,
        b_rs,
        b_cs,
        c,
    )
}

/// [`sgemm`] with explicit [`Config`].
#[allow(clippy::too_many_arguments)]
pub fn sgemm_with(
    cfg: &Config,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_off: usize,
    a_rs: isize,
    a_cs: isize,
    b: &[f32],
    b_off: usize,
    b_rs: isize,
    b_cs: isize,
    c: &mut [f32],
) {
    let mn = m.checked_mul(n).expect("sgemm: m*n overflows usize");
    assert_eq!(c.len(), mn, "sgemm: c.len() must be m*n = {m}*{n}");
    check_operand("a", a.len(), a_off, m, k, a_rs, a_cs);
    check_operand("b", b.len(), b_off, k, n, b_rs, b_cs);
    if mn == 0 {
        return;
    }
    if k == 0 {
        c.fill(0.0);
        return;
    }
    let arch = Arch::select(cfg.kernel);
    let blk = sanitize(cfg.blocking);
    // SAFETY: m, n, k > 0 here, so check_operand proved element (0, 0) of
    // both views (offset a_off / b_off) is inside its slice.
    let av = unsafe { MatRef::new(a.as_ptr().add(a_off), a_rs, a_cs) };
    let bv = unsafe { MatRef::new(b.as_ptr().add(b_off), b_rs, b_cs) };
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
    let (um, un) = match cfg.grid {
        Some((gm, gn)) if threads > 1 => (gm.clamp(1, m.div_ceil(MR)), gn.clamp(1, n.div_ceil(NR))),
        _ => choose_grid(m, n, k, threads, &blk),
    };
    if threads == 1 || um * un == 1 {
        // SAFETY: av/bv/cv address the full validated m x k, k x n, m x n
        // matrices; c is exclusively borrowed for the whole call.
        unsafe { gemm_part(&arch, &blk, m, n, k, av, bv, cv) };
        return;
    }
    let job = Job {
        arch,
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
struct Job {
    arch: Arch,
    blk: Blocking,
    m: usize,
    n: usize,
    k: usize,
    a: MatRef,
    b: MatRef,
    c: CPtr,
    um: usize,
    un: usize,
    /// Next unit index to claim (monotonic; may run past `um*un`).
    next: AtomicUsize,
    panicked: AtomicBool,
}

impl Job {
    /// Claims and computes units until none are left.
    fn work(&self) {
        let total = self.um * self.un;
        let (mp, np) = (self.m.div_ceil(MR), self.n.div_ceil(NR));
        loop {
            let u = self.next.fetch_add(1, Ordering::Relaxed);
            if u >= total {
                return;
            }
            let (iu, ju) = (u / self.un, u % self.un);
            let r0 = iu * mp / self.um * MR;
            let r1 = ((iu + 1) * mp / self.um * MR).min(self.m);
            let c0 = ju * np / self.un * NR;
            let c1 = ((ju + 1) * np / self.un * NR).min(self.n);
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

fn sanitize(b: Blocking) -> Blocking {
    Blocking {
        mc: b.mc.max(1).next_multiple_of(MR),
        kc: b.kc.max(1),
        nc: b.nc.max(1).next_multiple_of(NR),
    }
}

/// Picks the unit grid `um x un` for `threads` workers by a crude cycle
/// model: the microkernel does a 6x16 tile-step in ~6 cycles; packing
/// costs ~1 cycle per element (A is repacked for every unit column and NC
/// block, B for every unit row); a fixed per-unit overhead; and an
/// allowance of 10% of a unit for a thread that starts late. Minimises
/// ceil(units/threads) * unit_cost + allowance over grids of <= 4*threads
/// units.
fn choose_grid(m: usize, n: usize, k: usize, threads: usize, blk: &Blocking) -> (usize, usize) {
    if threads <= 1 {
        return (1, 1);
    }
    let (mp, np) = (m.div_ceil(MR), n.div_ceil(NR));
    let max_units = 4 * threads;
    let kf = k as f64;
    let mut best = ((1, 1), f64::INFINITY);
    for um in 1..=mp.min(max_units) {
        for un in 1..=np.min(max_units / um) {
            let (pm, pn) = (mp.div_ceil(um), np.div_ceil(un));
            let nc_blocks = (pn * NR).div_ceil(blk.nc) as f64;
            let unit = (pm * pn) as f64 * 6.0 * kf
                + (pm * MR) as f64 * kf * nc_blocks
                + (pn * NR) as f64 * kf
                + 3000.0;
            let cost = (um * un).div_ceil(threads) as f64 * unit + 0.1 * unit;
            if cost < best.1 {
                best = ((um, un), cost);
            }
        }
    }
    best.0
}

/// Block sizes: `len` split into `ceil(len/max)` pieces of equal size,
/// rounded up to `unit` (the last piece takes the remainder).
fn block_step(len: usize, max: usize, unit: usize) -> usize {
    let nb = len.div_ceil(max);
    len.div_ceil(nb).next_multiple_of(unit).min(max.max(unit))
}

/// Read-only strided matrix view. Invariant (kept by construction, see the
/// module docs): every element addressed through it is in bounds.
#[derive(Clone, Copy)]
struct MatRef {
    ptr: *const f32,
    rs: isize,
    cs: isize,
}

// SAFETY: a MatRef is a shared view of f32s that the sgemm caller keeps
// borrowed (immutably) until every thread is done reading them.
unsafe impl Send for MatRef {}
unsafe impl Sync for MatRef {}

impl MatRef {
    /// # Safety
    /// `ptr` must address element (0, 0) of a validated view.
    unsafe fn new(ptr: *const f32, rs: isize, cs: isize) -> Self {
        MatRef { ptr, rs, cs }
    }
    /// Pointer to element (i, j).
    /// # Safety
    /// (i, j) must be inside the view.
    #[inline(always)]
    unsafe fn at(&self, i: usize, j: usize) -> *const f32 {
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

/// `C[MR x NR] = A panel * B panel` (or `+=` when `accumulate`).
/// # Safety
/// `a` holds `kc*MR` floats, `b` holds `kc*NR` floats and is 32-byte
/// aligned, and `c + i*rs_c + j` is writable for `i < MR`, `j < NR`.
type MicroKernel = unsafe fn(usize, *const f32, *const f32, *mut f32, usize, bool);

/// Packs a `rows x cols` block into micro-panels (see pack_a_body /
/// pack_b_body for layouts and safety contracts).
type PackFn = unsafe fn(usize, usize, MatRef, *mut f32);

/// The code paths chosen for this CPU.
#[derive(Clone, Copy)]
struct Arch {
    kern: MicroKernel,
    pack_a: PackFn,
    pack_b: PackFn,
}

impl Arch {
    fn select(k: Kernel) -> Arch {
        #[cfg(target_arch = "x86_64")]
        {
            if k == Kernel::Auto
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
            {
                return Arch {
                    kern: ukernel_avx2,
                    pack_a: pack_a_avx2,
                    pack_b: pack_b_avx2,
                };
            }
        }
        let _ = k;
        Arch {
            kern: ukernel_scalar,
            pack_a: pack_a_scalar,
            pack_b: pack_b_scalar,
        }
    }
}

/// 64-byte aligned storage unit for packing buffers.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

thread_local! {
    static BUFS: RefCell<(Vec<Line>, Vec<Line>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

fn grow(v: &mut Vec<Line>, floats: usize) -> *mut f32 {
    let lines = floats.div_ceil(16);
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
unsafe fn gemm_part(
    arch: &Arch,
    blk: &Blocking,
    m: usize,
    n: usize,
    k: usize,
    a: MatRef,
    b: MatRef,
    c: CPtr,
) {
    let mc = block_step(m, blk.mc, MR);
    let kc = block_step(k, blk.kc, 1);
    let nc = block_step(n, blk.nc, NR);
    let run = |abuf: &mut Vec<Line>, bbuf: &mut Vec<Line>| {
        let ap = grow(abuf, mc.next_multiple_of(MR) * kc);
        let bp = grow(bbuf, nc.next_multiple_of(NR) * kc);
        let mut jc = 0;
        while jc < n {
            let ncb = nc.min(n - jc);
            let mut pc = 0;
            while pc < k {
                let kcb = kc.min(k - pc);
                // SAFETY: (pc, jc) is inside B and the kcb x ncb block fits;
                // bp has room for ceil(ncb/NR)*NR*kcb floats.
                unsafe { (arch.pack_b)(kcb, ncb, b.sub(pc, jc), bp) };
                let mut ic = 0;
                while ic < m {
                    let mcb = mc.min(m - ic);
                    // SAFETY: as above for A and ap; c.sub(ic, jc) and the
                    // mcb x ncb block are inside this rectangle of C.
                    unsafe {
                        (arch.pack_a)(mcb, kcb, a.sub(ic, pc), ap);
                        macro_kernel(arch.kern, mcb, ncb, kcb, ap, bp, c.sub(ic, jc), pc == 0);
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
        // yields to rayon); use fresh buffers rather than panic.
        Err(_) => run(&mut Vec::new(), &mut Vec::new()),
    });
}

/// Packs the `mc x kc` block of `a` into MR-row micro-panels: element
/// (i, p) goes to `dst[(i/MR)*MR*kc + p*MR + i%MR]`; rows past `mc` are
/// zero. `rows6` packs one full panel from six row pointers of a
/// unit-column-stride A.
///
/// # Safety
/// All elements of the `mc x kc` view are in bounds; `dst` has room for
/// `ceil(mc/MR)*MR*kc` floats; `rows6`'s own contract (same as this one
/// for one panel) is met by the call below.
#[inline(always)]
unsafe fn pack_a_body(
    mc: usize,
    kc: usize,
    a: MatRef,
    dst: *mut f32,
    rows6: Option<unsafe fn(usize, &[*const f32; MR], *mut f32)>,
) {
    let full = mc / MR;
    if a.rs == 1 {
        // Column-contiguous A (e.g. a transposed view): for groups of 8
        // panels, walk the source columns (48 contiguous floats each).
        // Walking all panels at once was ~2.8x slower for kc = 256: the
        // panels are 6 KiB apart, so their write streams alias to the same
        // L1 sets.
        const GROUP: usize = 8;
        let mut q0 = 0;
        while q0 < full {
            let q1 = (q0 + GROUP).min(full);
            for p in 0..kc {
                let s = a.at(0, p);
                for q in q0..q1 {
                    std::ptr::copy_nonoverlapping(s.add(q * MR), dst.add(q * MR * kc + p * MR), MR);
                }
            }
            q0 = q1;
        }
    } else {
        for q in 0..full {
            let d = dst.add(q * MR * kc);
            let r: [*const f32; MR] = std::array::from_fn(|i| a.at(q * MR + i, 0));
            match rows6 {
                Some(f) if a.cs == 1 => f(kc, &r, d),
                _ => {
                    let cs = a.cs;
                    for p in 0..kc {
                        let o = p as isize * cs;
                        for i in 0..MR {
                            *d.add(p * MR + i) = *r[i].offset(o);
                        }
                    }
                }
            }
        }
    }
    let rows = mc - full * MR;
    if rows > 0 {
        let d = dst.add(full * MR * kc);
        for p in 0..kc {
            for i in 0..MR {
                *d.add(p * MR + i) = if i < rows {
                    *a.at(full * MR + i, p)
                } else {
                    0.0
                };
            }
        }
    }
}

/// Packs the `kc x nc` block of `b` into NR-column micro-panels: element
/// (p, j) goes to `dst[(j/NR)*NR*kc + p*NR + j%NR]`; columns past `nc` are
/// zero.
///
/// # Safety
/// All elements of the `kc x nc` view are in bounds; `dst` has room for
/// `ceil(nc/NR)*NR*kc` floats.
#[inline(always)]
unsafe fn pack_b_body(kc: usize, nc: usize, b: MatRef, dst: *mut f32) {
    let full = nc / NR;
    if b.cs == 1 {
        // Row-contiguous B: walk each source row once across all full
        // panels. Measured ~4x faster than panel-by-panel for large row
        // strides (one read stream instead of kc strided ones).
        for p in 0..kc {
            let s = b.at(p, 0);
            for q in 0..full {
                std::ptr::copy_nonoverlapping(s.add(q * NR), dst.add(q * NR * kc + p * NR), NR);
            }
        }
    } else {
        for q in 0..full {
            let d = dst.add(q * NR * kc);
            for p in 0..kc {
                let s = b.at(p, q * NR);
                for j in 0..NR {
                    *d.add(p * NR + j) = *s.offset(j as isize * b.cs);
                }
            }
        }
    }
    let cols = nc - full * NR;
    if cols > 0 {
        let d = dst.add(full * NR * kc);
        for p in 0..kc {
            for j in 0..NR {
                *d.add(p * NR + j) = if j < cols {
                    *b.at(p, full * NR + j)
                } else {
                    0.0
                };
            }
        }
    }
}

/// # Safety
/// See [`pack_a_body`].
unsafe fn pack_a_scalar(mc: usize, kc: usize, a: MatRef, dst: *mut f32) {
    pack_a_body(mc, kc, a, dst, None)
}

/// # Safety
/// See [`pack_b_body`].
unsafe fn pack_b_scalar(kc: usize, nc: usize, b: MatRef, dst: *mut f32) {
    pack_b_body(kc, nc, b, dst)
}

/// # Safety
/// See [`pack_a_body`]; the CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_a_avx2(mc: usize, kc: usize, a: MatRef, dst: *mut f32) {
    pack_a_body(mc, kc, a, dst, Some(pack_rows6_avx2))
}

/// # Safety
/// See [`pack_b_body`]; the CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_b_avx2(kc: usize, nc: usize, b: MatRef, dst: *mut f32) {
    pack_b_body(kc, nc, b, dst)
}

/// One full A micro-panel from six unit-stride rows: 6x8 blocks are
/// transposed in registers (unpack/shuffle) and stored as 8 columns of 6.
///
/// # Safety
/// `r[i].add(p)` is readable for `i < 6`, `p < kc`; `d` has room for
/// `6*kc` floats; the CPU supports AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_rows6_avx2(kc: usize, r: &[*const f32; MR], d: *mut f32) {
    use std::arch::x86_64::*;
    let lo = |v: __m256| _mm256_castps256_ps128(v);
    let hi = |v: __m256| _mm256_extractf128_ps::<1>(v);
    // Stores the two low (or, after movehl, high) floats of `v` at `p`.
    let st2 = |p: *mut f32, v: __m128| _mm_storel_epi64(p as *mut __m128i, _mm_castps_si128(v));
    let mut p = 0;
    while p + 8 <= kc {
        let x0 = _mm256_loadu_ps(r[0].add(p));
        let x1 = _mm256_loadu_ps(r[1].add(p));
        let x2 = _mm256_loadu_ps(r[2].add(p));
        let x3 = _mm256_loadu_ps(r[3].add(p));
        let x4 = _mm256_loadu_ps(r[4].add(p));
        let x5 = _mm256_loadu_ps(r[5].add(p));
        let t0 = _mm256_unpacklo_ps(x0, x1); // r0 r1 cols 0,1 | 4,5
        let t1 = _mm256_unpackhi_ps(x0, x1); // cols 2,3 | 6,7
        let t2 = _mm256_unpacklo_ps(x2, x3);
        let t3 = _mm256_unpackhi_ps(x2, x3);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2); // rows 0-3 of col 0 | col 4
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2); // col 1 | col 5
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3); // col 2 | col 6
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3); // col 3 | col 7
        let v0 = _mm256_unpacklo_ps(x4, x5); // rows 4,5 of cols 0,1 | 4,5
        let v1 = _mm256_unpackhi_ps(x4, x5); // cols 2,3 | 6,7
        let o = d.add(p * MR);
        _mm_storeu_ps(o, lo(u0));
        _mm_storeu_ps(o.add(6), lo(u1));
        _mm_storeu_ps(o.add(12), lo(u2));
        _mm_storeu_ps(o.add(18), lo(u3));
        _mm_storeu_ps(o.add(24), hi(u0));
        _mm_storeu_ps(o.add(30), hi(u1));
        _mm_storeu_ps(o.add(36), hi(u2));
        _mm_storeu_ps(o.add(42), hi(u3));
        let (v0l, v0h, v1l, v1h) = (lo(v0), hi(v0), lo(v1), hi(v1));
        st2(o.add(4), v0l);
        st2(o.add(10), _mm_movehl_ps(v0l, v0l));
        st2(o.add(16), v1l);
        st2(o.add(22), _mm_movehl_ps(v1l, v1l));
        st2(o.add(28), v0h);
        st2(o.add(34), _mm_movehl_ps(v0h, v0h));
        st2(o.add(40), v1h);
        st2(o.add(46), _mm_movehl_ps(v1h, v1h));
        p += 8;
    }
    while p < kc {
        for i in 0..MR {
            *d.add(p * MR + i) = *r[i].add(p);
        }
        p += 1;
    }
}

/// Runs the microkernel over an `mc x nc` block of C from packed panels.
/// Full tiles go straight to C; edge tiles are computed into a local
/// MR x NR buffer and only their valid part is stored/added.
///
/// # Safety
/// `ap`/`bp` are packed by pack_a/pack_b for these sizes; `c` addresses a
/// writable `mc x nc` rectangle with row stride `c.rs`.
#[allow(clippy::too_many_arguments)]
unsafe fn macro_kernel(
    kern: MicroKernel,
    mc: usize,
    nc: usize,
    kc: usize,
    ap: *const f32,
    bp: *const f32,
    c: CPtr,
    first: bool,
) {
    let mut jr = 0;
    while jr < nc {
        let nr = NR.min(nc - jr);
        let b = bp.add(jr * kc);
        let mut ir = 0;
        while ir < mc {
            let mr = MR.min(mc - ir);
            let a = ap.add(ir * kc);
            let cp = c.ptr.add(ir * c.rs + jr);
            if mr == MR && nr == NR {
                kern(kc, a, b, cp, c.rs, !first);
            } else {
                let mut tmp = [Line([0.0; 16]); MR];
                let t = tmp.as_mut_ptr() as *mut f32;
                kern(kc, a, b, t, NR, false);
                for i in 0..mr {
                    for j in 0..nr {
                        let dst = cp.add(i * c.rs + j);
                        let v = *t.add(i * NR + j);
                        *dst = if first { v } else { *dst + v };
                    }
                }
            }
            ir += MR;
        }
        jr += NR;
    }
}

/// Portable microkernel (the compiler vectorises it with baseline SSE2).
///
/// # Safety
/// See [`MicroKernel`].
unsafe fn ukernel_scalar(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rs_c: usize,
    accumulate: bool,
) {
    let mut t = [[0.0f32; NR]; MR];
    for p in 0..kc {
        let ap = a.add(p * MR);
        let bp = b.add(p * NR);
        for i in 0..MR {
            let x = *ap.add(i);
            for j in 0..NR {
                t[i][j] += x * *bp.add(j);
            }
        }
    }
    for i in 0..MR {
        for j in 0..NR {
            let d = c.add(i * rs_c + j);
            *d = if accumulate { *d + t[i][j] } else { t[i][j] };
        }
    }
}

/// AVX2+FMA 6x16 microkernel: 12 ymm accumulators, per k step two aligned
/// loads of packed B and six broadcasts of packed A; k unrolled by 4.
///
/// # Safety
/// See [`MicroKernel`]; additionally the CPU must support AVX2 and FMA
/// (guaranteed by `Arch::select`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn ukernel_avx2(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rs_c: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let z = _mm256_setzero_ps();
    let (mut c00, mut c01, mut c10, mut c11, mut c20, mut c21) = (z, z, z, z, z, z);
    let (mut c30, mut c31, mut c40, mut c41, mut c50, mut c51) = (z, z, z, z, z, z);
    macro_rules! step {
        ($a:expr, $b:expr) => {{
            let b0 = _mm256_load_ps($b);
            let b1 = _mm256_load_ps($b.add(8));
            let x = _mm256_broadcast_ss(&*$a);
            c00 = _mm256_fmadd_ps(x, b0, c00);
            c01 = _mm256_fmadd_ps(x, b1, c01);
            let x = _mm256_broadcast_ss(&*$a.add(1));
            c10 = _mm256_fmadd_ps(x, b0, c10);
            c11 = _mm256_fmadd_ps(x, b1, c11);
            let x = _mm256_broadcast_ss(&*$a.add(2));
            c20 = _mm256_fmadd_ps(x, b0, c20);
            c21 = _mm256_fmadd_ps(x, b1, c21);
            let x = _mm256_broadcast_ss(&*$a.add(3));
            c30 = _mm256_fmadd_ps(x, b0, c30);
            c31 = _mm256_fmadd_ps(x, b1, c31);
            let x = _mm256_broadcast_ss(&*$a.add(4));
            c40 = _mm256_fmadd_ps(x, b0, c40);
            c41 = _mm256_fmadd_ps(x, b1, c41);
            let x = _mm256_broadcast_ss(&*$a.add(5));
            c50 = _mm256_fmadd_ps(x, b0, c50);
            c51 = _mm256_fmadd_ps(x, b1, c51);
        }};
    }
    for i in 0..MR {
        _mm_prefetch::<_MM_HINT_T0>(c.add(i * rs_c) as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(c.add(i * rs_c + NR - 1) as *const i8);
    }
    let (mut a, mut b) = (a, b);
    let mut p = kc;
    while p >= 4 {
        step!(a, b);
        step!(a.add(MR), b.add(NR));
        step!(a.add(2 * MR), b.add(2 * NR));
        step!(a.add(3 * MR), b.add(3 * NR));
        a = a.add(4 * MR);
        b = b.add(4 * NR);
        p -= 4;
    }
    while p > 0 {
        step!(a, b);
        a = a.add(MR);
        b = b.add(NR);
        p -= 1;
    }
    macro_rules! store {
        ($i:expr, $r0:expr, $r1:expr) => {{
            let d = c.add($i * rs_c);
            if accumulate {
                _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), $r0));
                _mm256_storeu_ps(d.add(8), _mm256_add_ps(_mm256_loadu_ps(d.add(8)), $r1));
            } else {
                _mm256_storeu_ps(d, $r0);
                _mm256_storeu_ps(d.add(8), $r1);
            }
        }};
    }
    store!(0, c00, c01);
    store!(1, c10, c11);
    store!(2, c20, c21);
    store!(3, c30, c31);
    store!(4, c40, c41);
    store!(5, c50, c51);
}
