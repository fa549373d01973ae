//! Thread priorities: the map reads people watch run above everything else the server does.
//!
//! On Linux a thread's niceness is its own (`setpriority` on its thread id), and lowering it
//! needs no privilege (raising it does). So the reading thread ([`crate::reading`]) keeps the
//! process's priority and every other busy thread lowers itself below it, by steps of
//! niceness counted from the priority the server was started at:
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

/// How far below the reading thread the server's other busy threads run (niceness steps).
pub const BELOW_READS: i32 = 6;

/// How far below the reading thread grid validation (`gridmap-regrid`) runs.
pub const VALIDATION: i32 = 4;

/// How far below the reading thread the visit writer runs: visits are bounded by its share.
pub const WRITER: i32 = 7;

/// The niceness the server was started at (`Nice=` in a systemd unit, `nice gridmap serve`),
/// read once, by the first thread that asks: [`crate::start_threads`] asks from the main
/// thread. The levels above are steps below it, so that a server started at nice 5 still
/// lowers its threads (a thread cannot go back up, and its new threads start where it is).
fn started_at() -> i32 {
    static BASE: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap_or(0)
    })
}

/// Reads the niceness the server was started at, from the calling thread (see [`started_at`]).
pub(crate) fn remember_start() {
    started_at();
}

/// Lowers the calling thread's priority `steps` below the server's (at most to niceness 19);
/// `what` names the thread in the log.
pub(crate) fn lower_this_thread(steps: i32, what: &str) {
    let nice = (started_at() + steps).min(19);
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice) {
        tracing::warn!(error = %e, thread = what, "cannot lower the thread's priority");
    }
}

/// For the async runtime's `on_thread_start` (its workers and its blocking pool): lowers the
/// thread [`BELOW_READS`] steps below the server.
pub fn runtime_thread_started() {
    lower_this_thread(BELOW_READS, "async runtime");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread lowers itself by steps from the server's starting niceness, not to an absolute
    /// level, and a thread born of a lowered one lands at the same level, not further down.
    #[test]
    fn threads_are_lowered_by_steps_from_where_the_server_started() {
        let base = started_at();
        let nice_of_this_thread =
            || rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap_or(-100);
        let (lowered, child) = std::thread::spawn(move || {
            lower_this_thread(2, "test");
            let lowered = nice_of_this_thread();
            // Born at the lowered level; lowering it by the same steps leaves it there.
            let child = std::thread::spawn(move || {
                lower_this_thread(2, "test");
                nice_of_this_thread()
            })
            .join()
            .unwrap_or(-100);
            (lowered, child)
        })
        .join()
        .unwrap_or((-100, -100));
        assert_eq!(lowered, (base + 2).min(19));
        assert_eq!(child, lowered);
    }
}
