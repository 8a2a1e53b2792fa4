//! A low-latency fork-join for kernels: the caller and a few resident
//! worker threads claim units of one job from an atomic counter.
//!
//! Why not rayon for this: on the 2-vCPU VMs Kiln is measured on, a rayon
//! `par_iter` over two chunks costs 15 us back to back and 30-50 us after a
//! short pause (its sleeping workers take that long to wake), which is a
//! large share of a 0.3 ms fused kernel or a training step of a dozen
//! kernels. Here the caller starts on the units at once, workers spin for
//! [`spin_time`] after each job before parking (so consecutive kernels find
//! them awake), and a worker that arrives late simply finds no unit left.
//!
//! One job runs at a time; a second caller (another thread, or a nested
//! call from inside a unit) runs its units itself. The unit function is
//! borrowed, not `'static`: workers touch a job only between incrementing
//! and decrementing [`ACTIVE`], and the caller returns only after it has
//! withdrawn the job and seen `ACTIVE` at zero (both sequentially
//! consistent, so a worker either sees the withdrawal or is waited for).

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// One published job.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    units: usize,
    next: AtomicUsize,
    panicked: AtomicBool,
}

impl Job<'_> {
    /// Runs units until none are left.
    fn work(&self) {
        loop {
            let u = self.next.fetch_add(1, Ordering::Relaxed);
            if u >= self.units {
                return;
            }
            if catch_unwind(AssertUnwindSafe(|| (self.f)(u))).is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// The job being run (type-erased; null when none).
static JOB: AtomicPtr<Job<'static>> = AtomicPtr::new(std::ptr::null_mut());
/// Workers currently looking at `JOB`.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// Bumped for every job, so spinning workers notice new work.
static EPOCH: AtomicU64 = AtomicU64::new(0);

struct Pool {
    threads: Vec<std::thread::Thread>,
}

thread_local! {
    static IS_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// How long a worker spins for the next job before parking
/// (`KILN_SPIN_US`, default 200 us).
pub fn spin_time() -> Duration {
    static T: OnceLock<Duration> = OnceLock::new();
    *T.get_or_init(|| {
        let us = std::env::var("KILN_SPIN_US")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(200);
        Duration::from_micros(us)
    })
}

/// The resident workers (started on first use: as many as rayon's global
/// pool has threads, minus the caller).
fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let n = rayon::current_num_threads().saturating_sub(1);
        let threads = (0..n)
            .filter_map(|i| {
                std::thread::Builder::new()
                    .name(format!("kiln-worker-{i}"))
                    .spawn(worker_loop)
                    .ok()
                    .map(|h| h.thread().clone())
            })
            .collect();
        Pool { threads }
    })
}

fn worker_loop() {
    IS_WORKER.with(|w| w.set(true));
    let mut seen = EPOCH.load(Ordering::SeqCst);
    loop {
        // Wait for a new epoch: spin a while, then park.
        let start = Instant::now();
        let mut spins = 0u32;
        while EPOCH.load(Ordering::SeqCst) == seen {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && start.elapsed() > spin_time() {
                std::thread::park_timeout(Duration::from_millis(50));
            } else {
                std::hint::spin_loop();
            }
        }
        seen = EPOCH.load(Ordering::SeqCst);
        ACTIVE.fetch_add(1, Ordering::SeqCst);
        let p = JOB.load(Ordering::SeqCst);
        if !p.is_null() {
            // SAFETY: the caller keeps the job alive until it has nulled
            // JOB and seen ACTIVE == 0; this thread incremented ACTIVE
            // before loading a non-null JOB, so the job is alive here.
            unsafe { (*p).work() };
        }
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Withdraws the published job and waits until no worker looks at it
/// (also when a unit of the caller panics).
struct Withdraw;

impl Drop for Withdraw {
    fn drop(&mut self) {
        JOB.store(std::ptr::null_mut(), Ordering::SeqCst);
        while ACTIVE.load(Ordering::SeqCst) != 0 {
            std::hint::spin_loop();
        }
    }
}

/// Runs `f(0) .. f(units - 1)`, each exactly once, on the calling thread
/// and up to `threads - 1` workers; returns when all are done. Units must
/// be independent. A panic in a unit is re-raised here after every unit
/// finished.
pub fn run(units: usize, threads: usize, f: &(dyn Fn(usize) + Sync)) {
    if units == 0 {
        return;
    }
    let serial = || (0..units).for_each(f);
    if units == 1 || threads <= 1 || IS_WORKER.with(|w| w.get()) {
        return serial();
    }
    let pool = pool();
    if pool.threads.is_empty() {
        return serial();
    }
    // One job at a time: the lock decides who publishes.
    static PUBLISH: Mutex<()> = Mutex::new(());
    let Ok(_guard) = PUBLISH.try_lock() else {
        return serial();
    };
    let job = Job {
        f,
        units,
        next: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
    };
    {
        let ptr = &job as *const Job as *mut Job<'static>;
        JOB.store(ptr, Ordering::SeqCst);
        let _withdraw = Withdraw;
        EPOCH.fetch_add(1, Ordering::SeqCst);
        for t in pool.threads.iter().take(threads - 1) {
            t.unpark();
        }
        job.work();
        // `_withdraw` drops here: no worker touches `job` afterwards.
    }
    if job.panicked.load(Ordering::Relaxed) {
        resume_unwind(Box::new("kiln: a parallel kernel unit panicked"));
    }
}

/// Runs `f(i, item)` for every item, spread over the kernel workers with
/// [`run`]: the caller starts at once, so small kernels pay no thread
/// wake-up.
pub fn par_items<T: Send>(items: Vec<T>, f: impl Fn(usize, T) + Sync) {
    let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    run(slots.len(), threads(), &|u| {
        let item = slots[u]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("each unit runs once");
        f(u, item)
    });
}

/// Runs `f(start, piece)` for consecutive `chunk`-element pieces of `out`
/// (`start` is the piece's first index), spread over the kernel workers.
pub fn for_each_chunk<U: Send>(out: &mut [U], chunk: usize, f: &(dyn Fn(usize, &mut [U]) + Sync)) {
    par_items(out.chunks_mut(chunk).collect(), |u, piece| {
        f(u * chunk, piece)
    });
}

/// The number of threads kernels split work over (rayon's current pool:
/// `--threads`, `RAYON_NUM_THREADS`, or the cores).
pub fn threads() -> usize {
    rayon::current_num_threads()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_runs_once() {
        for units in [0, 1, 2, 7, 1000] {
            let hits: Vec<AtomicUsize> = (0..units).map(|_| AtomicUsize::new(0)).collect();
            run(units, 2, &|u| {
                hits[u].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        }
    }

    #[test]
    fn nested_and_concurrent_calls_complete() {
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..50 {
                        run(8, 2, &|_| {
                            run(4, 2, &|_| {
                                total.fetch_add(1, Ordering::Relaxed);
                            });
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 3 * 50 * 8 * 4);
    }

    #[test]
    fn a_panicking_unit_is_reported_after_all_finish() {
        let done = AtomicUsize::new(0);
        let r = catch_unwind(AssertUnwindSafe(|| {
            run(16, 2, &|u| {
                if u == 3 {
                    panic!("unit 3");
                }
                done.fetch_add(1, Ordering::Relaxed);
            })
        }));
        assert!(r.is_err());
        assert_eq!(done.load(Ordering::Relaxed), 15);
    }
}
