//! Native code for fused kernels: on x86-64 CPUs with AVX-512, a tile
//! program over f32 lanes is compiled to machine code that computes the
//! whole program for 16 elements at a time in vector registers
//! (`emit.rs`), so nothing but the inputs and outputs touches memory and
//! the work of one element never waits on a pass over a tile. Programs the
//! generator does not handle (f64 or bool inputs and outputs, casts, and
//! unary ops other than neg, abs, sqrt, rsqrt, recip, exp, expm1, tanh and
//! sigmoid) run on the tile interpreter, as does everything on other CPUs.
//!
//! Code is generated per program and per set of splat inputs (a constant
//! is broadcast once per call instead of loaded per vector), on first use,
//! in microseconds; no compiler runs. `KILN_NATIVE=0` turns it off.
//! Calls that write [`STREAM_BYTES`] or more use a second form of the
//! kernel with non-temporal stores (`compile(.., stream: true)`).

mod asm;
mod emit;
#[cfg(unix)]
mod exec;

use super::program::TileProgram;
use std::cell::Cell;
use std::sync::{Arc, Mutex, OnceLock};

/// The most inputs a native kernel takes (its splat set is a `u64`).
pub const MAX_INPUTS: usize = 64;

/// Calls whose outputs total at least this many bytes write them with
/// non-temporal stores: far more than the caches hold, so the next reader
/// finds them in memory either way, and the stores skip reading each
/// line into the cache first (SELU over 16M f32, inputs already
/// prefetched: 4.6-5.5 ms with plain stores, 3.5-3.8 ms streaming).
pub const STREAM_BYTES: usize = 16 << 20;

/// A fused kernel compiled to machine code, and for large calls the same
/// kernel with non-temporal stores.
pub struct NativeKernel {
    #[cfg(unix)]
    mem: exec::ExecMem,
    #[cfg(unix)]
    streaming: Option<exec::ExecMem>,
}

type Entry = unsafe extern "sysv64" fn(*const *mut u8, usize);

impl NativeKernel {
    /// Runs the kernel over `n` elements. `args` holds one pointer per
    /// input (to `n` f32 values, or to one value for a splat input), then
    /// one per output (to `n` writable f32 values).
    ///
    /// # Safety
    /// Every pointer must be valid as described, for the program and the
    /// splat inputs the kernel was compiled for, and outputs must not
    /// overlap inputs or each other.
    pub unsafe fn run(&self, args: &[*mut u8], n: usize) {
        // SAFETY: the caller vouches for the pointers.
        #[cfg(unix)]
        unsafe {
            call(&self.mem, args, n)
        }
        #[cfg(not(unix))]
        let _ = (args, n);
    }

    /// True if the kernel has a streaming form (see [`STREAM_BYTES`]).
    pub fn streams(&self) -> bool {
        #[cfg(unix)]
        return self.streaming.is_some();
        #[cfg(not(unix))]
        false
    }

    /// Runs the streaming form, or [`NativeKernel::run`] without one.
    ///
    /// # Safety
    /// As for [`NativeKernel::run`], and every output pointer must be
    /// 64-byte aligned.
    pub unsafe fn run_streaming(&self, args: &[*mut u8], n: usize) {
        #[cfg(unix)]
        if let Some(mem) = &self.streaming {
            // SAFETY: the caller vouches for the pointers and alignment.
            return unsafe { call(mem, args, n) };
        }
        // SAFETY: as above.
        unsafe { self.run(args, n) }
    }
}

/// Calls the generated function in `mem`.
///
/// # Safety
/// `mem` holds a function emitted by `emit` and the pointers are valid for it.
#[cfg(unix)]
unsafe fn call(mem: &exec::ExecMem, args: &[*mut u8], n: usize) {
    // SAFETY: the mapping holds a function of this signature (see `emit`).
    unsafe {
        let f: Entry = std::mem::transmute(mem.as_ptr());
        f(args.as_ptr(), n)
    }
}

/// True if the code generator handles `prog` (whether or not this CPU
/// can run the result).
pub fn supports(prog: &TileProgram) -> bool {
    emit::supported(prog)
}

/// Compiles `prog` for the inputs marked in `splats`, if native code is
/// available here and the program is supported; with `stream`, with its
/// streaming form too.
pub fn compile(prog: &TileProgram, splats: u64, stream: bool) -> Option<NativeKernel> {
    if !available() {
        return None;
    }
    let code = emit::emit(prog, splats, false)?;
    #[cfg(unix)]
    {
        let streaming = match stream {
            true => Some(exec::ExecMem::new(&emit::emit(prog, splats, true)?)?),
            false => None,
        };
        Some(NativeKernel {
            mem: exec::ExecMem::new(&code)?,
            streaming,
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (code, stream);
        None
    }
}

/// True when this CPU runs the generated code (AVX-512 on x86-64 Linux)
/// and `KILN_NATIVE` is not `0`.
pub fn available() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    let on = *ON.get_or_init(|| {
        cfg!(all(target_arch = "x86_64", target_os = "linux"))
            && crate::cpu::simd::level() == crate::cpu::simd::Level::Avx512
            && std::env::var("KILN_NATIVE").as_deref() != Ok("0")
    });
    on && ENABLED.with(Cell::get)
}

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Runs `f` with native kernels allowed or not on this thread (kernels
/// launched from it; tests compare both ways).
pub fn with_native<R>(on: bool, f: impl FnOnce() -> R) -> R {
    let old = ENABLED.with(|e| e.replace(on));
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ENABLED.with(|e| e.set(self.0));
        }
    }
    let _restore = Restore(old);
    f()
}

/// The native kernels of one program, by splat set and streaming
/// (`None`: unsupported).
#[derive(Default)]
pub struct NativeCache(Mutex<Vec<(Variant, Option<Arc<NativeKernel>>)>>);

/// Which kernel of a program: its splat inputs, and whether it streams.
type Variant = (u64, bool);

impl NativeCache {
    /// The kernel of `prog` (the program holding this cache) for `splats`
    /// and `stream`, compiled on first use.
    pub fn get(&self, prog: &TileProgram, splats: u64, stream: bool) -> Option<Arc<NativeKernel>> {
        if !available() {
            return None;
        }
        let key = (splats, stream);
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, k)) = c.iter().find(|(s, _)| *s == key) {
            return k.clone();
        }
        let k = compile(prog, splats, stream).map(Arc::new);
        c.push((key, k.clone()));
        k
    }

    /// The `(splats, stream)` keys of the kernels compiled so far.
    #[cfg(test)]
    pub fn keys(&self) -> Vec<(u64, bool)> {
        let c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        c.iter()
            .filter(|(_, k)| k.is_some())
            .map(|(key, _)| *key)
            .collect()
    }
}

impl Clone for NativeCache {
    /// A copy starts empty (kernels are recompiled on use).
    fn clone(&self) -> Self {
        NativeCache::default()
    }
}

impl std::fmt::Debug for NativeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NativeCache")
    }
}

impl PartialEq for NativeCache {
    /// Caches never distinguish programs.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
