//! Thread priorities: the map reads people watch run above everything else the server does.
//!
//! On Linux a thread's niceness is its own (`setpriority` on its thread id), and lowering it
//! needs no privilege (raising it does). So the reading thread ([`crate::reading`]) keeps the
//! process's priority and every other busy thread lowers itself below it:
//! - the async runtime's threads and its blocking pool ([`runtime_thread_started`]) and the
//!   thread that frees old snapshots: [`BELOW_READS`];
//! - grid validation, which a grid leader waits for: [`VALIDATION`], a little above them;
//! - the visit writer, bulk work that phones send as fast as they are answered: [`WRITER`].
//!
//! A thread that cannot be lowered logs why and carries on at the normal priority.
//!
//! # Why
//! Under a campaign's full load (`bench/run_live.sh`: 32 clients posting visits, 4 saving
//! grids, 28 reading) every one of these threads always has work, and on two cores the
//! scheduler shares the CPU by weight. With all of them at nice 0 (the writer at 5) the reading
//! thread ran 52 % of the time and waited to run the other 48 %: reads' p99 was 60–66 ms. With
//! the others lowered it runs ~60 %. Validation level with the runtime took edits' p99 to
//! 300–400 ms; two steps above it, 224 ms (`docs/benchmarks.md`, session 21).

/// Niceness of the server's busy threads other than the reading thread.
pub const BELOW_READS: i32 = 6;

/// Niceness of grid validation (`gridmap-regrid`).
pub const VALIDATION: i32 = 4;

/// Niceness of the visit writer: visits are bounded by its share.
pub const WRITER: i32 = 7;

/// Lowers the calling thread's priority to niceness `nice`; `what` names the thread in the log.
pub(crate) fn lower_this_thread(nice: i32, what: &str) {
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice) {
        tracing::warn!(error = %e, thread = what, "cannot lower the thread's priority");
    }
}

/// For the async runtime's `on_thread_start` (its workers and its blocking pool): lowers the
/// thread to [`BELOW_READS`].
pub fn runtime_thread_started() {
    lower_this_thread(BELOW_READS, "async runtime");
}
