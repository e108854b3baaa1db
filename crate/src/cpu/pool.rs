//! The CPU backend's threads: one parallel loop, [`for_each_mut`], over the tasks of a matrix
//! product or of attention's heads.
//!
//! * Natively: a rayon pool of `MEM1_THREADS` threads (default: every core).
//! * wasm built with atomics (the threaded build, loaded where the page is cross-origin
//!   isolated): Web Workers that share the module's memory, started by [`start_workers`]. The
//!   calling thread takes tasks too and then spins until every worker is done. It never blocks
//!   in `Atomics.wait`, which a page's main thread may not do, so the engine can stay on the
//!   page beside the DOM it reads. Idle workers spin a little, then sleep in `Atomics.wait`.
//! * Plain wasm: one thread, the loop runs in order.
//!
//! Every task computes its own rows whichever thread runs it, so the results are the same bits
//! on one thread or many.

/// Calls `f` on every item, in parallel where the backend has threads.
pub fn for_each_mut<T: Send>(items: &mut [T], f: impl Fn(&mut T) + Sync + Send) {
    #[cfg(not(target_arch = "wasm32"))]
    if items.len() < 2 {
        items.iter_mut().for_each(f);
    } else {
        use rayon::prelude::*;
        native::pool().install(|| items.par_iter_mut().for_each(f));
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
    workers::for_each_mut(items, f);
    #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
    items.iter_mut().for_each(f);
}

/// Threads the backend computes on.
pub fn threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    return native::pool().current_num_threads();
    #[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
    return 1 + workers::enabled();
    #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
    return 1;
}

/// Runs `f` where the backend's products run fastest: natively on a worker of the pool, so each
/// product's tasks start without waking the caller; elsewhere on the calling thread.
pub fn run_on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(not(target_arch = "wasm32"))]
    return native::pool().install(f);
    #[cfg(target_arch = "wasm32")]
    return f();
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    /// The thread pool: `MEM1_THREADS` threads, default all cores.
    pub fn pool() -> &'static rayon::ThreadPool {
        use std::sync::OnceLock;
        static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
        POOL.get_or_init(|| {
            let n = std::env::var("MEM1_THREADS")
                .ok()
                .and_then(|s| s.parse().ok())
                .filter(|&n| n > 0);
            let n = n.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            });
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .expect("CPU thread pool")
        })
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
pub use workers::{start_workers, worker_loop};

/// The workers of the threaded wasm build; natively only under test, on std threads, so the
/// protocol is checked there too (`workers_take_every_task_once`).
#[cfg(any(all(target_arch = "wasm32", target_feature = "atomics"), all(test, not(target_arch = "wasm32"))))]
mod workers {
    //! The protocol, all through atomics in the shared memory:
    //! 1. the caller stores the job (the task function and count) and resets `NEXT` and
    //!    `FINISHED`, then bumps `GEN` (release) and wakes the sleepers;
    //! 2. every thread, the caller included, takes task indices from `NEXT` until they run out;
    //! 3. each worker then increments `FINISHED`; the caller returns once all have, so the job
    //!    (a borrow of the caller's closure) is never read after `run` returns, and no worker
    //!    can still be on one job when the next is stored.
    //!
    //! Workers count in `READY` once they are in their loop; the caller uses them only after
    //! [`start_workers`] saw all of them there and set `ENABLED`, so every enabled worker takes
    //! part in every job.
    use core::cell::UnsafeCell;
    use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::*};

    /// A job's task function, its lifetime erased while the job runs.
    type Task = dyn Fn(usize) + Sync + 'static;

    static GEN: AtomicU32 = AtomicU32::new(0);
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static FINISHED: AtomicU32 = AtomicU32::new(0);
    static READY: AtomicU32 = AtomicU32::new(0);
    static ENABLED: AtomicU32 = AtomicU32::new(0);

    struct Job(UnsafeCell<Option<(*const Task, usize)>>);
    // SAFETY: written only by the caller between jobs, read by workers only during one (see the
    // protocol above).
    unsafe impl Sync for Job {}
    static JOB: Job = Job(UnsafeCell::new(None));

    /// Spins of an idle worker before it sleeps (well under a millisecond). At 2¹⁶ some gaps of a
    /// decode step outlasted it, and waking a sleeper cost more than the work: SmolLM2's decode
    /// on 2 threads in Chromium ran at 44-51 tok/s, no faster than one thread; at 2¹⁸, 55-57.
    const SPINS: u32 = 1 << 18;

    pub fn enabled() -> usize {
        ENABLED.load(Acquire) as usize
    }

    /// Sleeps while `a` holds `seen` (it may also return early).
    fn sleep_while(a: &AtomicU32, seen: u32) {
        // SAFETY: a plain futex wait on an aligned i32 of the shared memory.
        #[cfg(target_arch = "wasm32")]
        unsafe {
            core::arch::wasm32::memory_atomic_wait32(a.as_ptr() as *mut i32, seen as i32, -1);
        }
        #[cfg(not(target_arch = "wasm32"))]
        if a.load(Acquire) == seen {
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
    }

    /// Wakes every thread sleeping on `a`.
    fn wake_all(a: &AtomicU32) {
        // SAFETY: as in `sleep_while`.
        #[cfg(target_arch = "wasm32")]
        unsafe {
            core::arch::wasm32::memory_atomic_notify(a.as_ptr() as *mut i32, u32::MAX);
        }
        #[cfg(not(target_arch = "wasm32"))]
        let _ = a;
    }

    /// Calls `f` on every item, the items shared out among the caller and the workers.
    pub fn for_each_mut<T: Send>(items: &mut [T], f: impl Fn(&mut T) + Sync) {
        struct Items<T>(*mut T);
        // SAFETY: `run` hands out each index exactly once, so no two threads touch the same
        // item, and it returns only when every task is done.
        unsafe impl<T: Send> Sync for Items<T> {}
        let p = Items(items.as_mut_ptr());
        let p = &p;
        run(items.len(), &|i| f(unsafe { &mut *p.0.add(i) }));
    }

    /// Lets the caller use the `n` workers once all of them are in their loop; whether they are.
    pub fn enable(n: u32) -> bool {
        let ready = READY.load(Acquire) >= n;
        if ready {
            ENABLED.store(n, Release);
        }
        ready
    }

    fn take(f: &(dyn Fn(usize) + Sync), n: usize) {
        loop {
            let i = NEXT.fetch_add(1, Relaxed);
            if i >= n {
                return;
            }
            f(i);
        }
    }

    pub fn run(n: usize, f: &(dyn Fn(usize) + Sync)) {
        let w = ENABLED.load(Acquire);
        if w == 0 || n < 2 {
            return (0..n).for_each(f);
        }
        // SAFETY: the lifetime is erased only while the workers use the job: this function does
        // not return before all of them counted in `FINISHED`.
        let f_static: *const Task =
            unsafe { core::mem::transmute::<&(dyn Fn(usize) + Sync), &'static Task>(f) };
        unsafe { *JOB.0.get() = Some((f_static, n)) };
        NEXT.store(0, Relaxed);
        FINISHED.store(0, Relaxed);
        GEN.fetch_add(1, Release);
        wake_all(&GEN);
        take(f, n);
        while FINISHED.load(Acquire) < w {
            core::hint::spin_loop();
        }
        unsafe { *JOB.0.get() = None };
    }

    /// A worker's life: called by the worker script once its instance shares the memory; never
    /// returns.
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen::prelude::wasm_bindgen(js_name = cpuWorkerLoop))]
    pub fn worker_loop() {
        let mut seen = GEN.load(Acquire);
        READY.fetch_add(1, Release);
        loop {
            let mut spins = 0;
            while GEN.load(Acquire) == seen {
                if spins < SPINS {
                    spins += 1;
                    core::hint::spin_loop();
                } else {
                    sleep_while(&GEN, seen);
                }
            }
            seen = GEN.load(Acquire);
            // SAFETY: the job was stored before the `GEN` bump just seen, and stays until this
            // worker counts in `FINISHED`.
            let (f, n) = unsafe { (*JOB.0.get()).expect("a job with the generation") };
            take(unsafe { &*f }, n);
            FINISHED.fetch_add(1, Release);
        }
    }

    #[cfg(target_arch = "wasm32")]
    pub use web::start_workers;

    #[cfg(target_arch = "wasm32")]
    mod web {
        use super::*;
        use wasm_bindgen::prelude::*;

        #[wasm_bindgen(module = "/js/cpu_threads.js")]
        extern "C" {
            #[wasm_bindgen(js_name = spawnCpuWorkers, catch)]
            async fn spawn(
                glue: &str,
                module: JsValue,
                memory: JsValue,
                n: u32,
            ) -> Result<JsValue, JsValue>;
            #[wasm_bindgen(js_name = sleep)]
            async fn sleep(ms: u32);
        }

        #[wasm_bindgen]
        extern "C" {
            /// The URL of the module's JS glue, which each worker imports.
            #[wasm_bindgen(thread_local_v2, js_namespace = ["import", "meta"], js_name = url)]
            static GLUE_URL: String;
        }

        /// Starts `n` workers (once; a second call only reports) and returns the threads the backend
        /// computes on, the caller included.
        #[wasm_bindgen(js_name = startCpuThreads)]
        pub async fn start_workers(n: u32) -> Result<u32, JsValue> {
            if ENABLED.load(Acquire) == 0 && n > 0 && READY.load(Acquire) == 0 {
                let glue = GLUE_URL.with(String::clone);
                spawn(&glue, wasm_bindgen::module(), wasm_bindgen::memory(), n).await?;
                let mut waited = 0;
                while !enable(n) {
                    if waited > 20_000 {
                        return Err(JsValue::from_str(&format!(
                            "only {} of {n} CPU workers started in 20 s",
                            READY.load(Acquire)
                        )));
                    }
                    sleep(10).await;
                    waited += 10;
                }
            }
            Ok(1 + ENABLED.load(Acquire))
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::workers;

    /// The workers' protocol on std threads: jobs of every size one after another, each task
    /// taken exactly once, and what the workers wrote seen by the caller when `run` returns.
    #[test]
    fn workers_take_every_task_once() {
        for _ in 0..2 {
            std::thread::spawn(workers::worker_loop);
        }
        while !workers::enable(2) {
            std::thread::yield_now();
        }
        assert_eq!(workers::enabled(), 2);
        for job in 0..1000usize {
            let n = job % 67;
            let mut items: Vec<(usize, u64)> = (0..n).map(|i| (i, 0)).collect();
            workers::for_each_mut(&mut items, |(i, v)| *v += (*i as u64) * 3 + job as u64);
            for (i, v) in &items {
                assert_eq!(*v, (*i as u64) * 3 + job as u64, "job {job}, task {i}");
            }
            // Workers do take tasks: a task that waits for a second one to start finishes only
            // when two threads run at once.
            if job % 250 == 0 {
                use std::sync::atomic::{AtomicU32, Ordering::*};
                let started = AtomicU32::new(0);
                workers::for_each_mut(&mut [0u8; 2], |_| {
                    started.fetch_add(1, SeqCst);
                    while started.load(SeqCst) < 2 {
                        std::hint::spin_loop();
                    }
                });
            }
        }
    }
}
