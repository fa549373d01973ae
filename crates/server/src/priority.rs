//! Thread priorities: background work runs below the requests people wait for.
//!
//! On Linux a thread's niceness is its own (`setpriority` on its thread id), and lowering it
//! needs no privilege. A thread that cannot be lowered logs why and carries on at the normal
//! priority.

/// Lowers the calling thread's priority to niceness `nice`; `what` names the thread in the log.
pub(crate) fn lower_this_thread(nice: i32, what: &str) {
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice) {
        tracing::warn!(error = %e, thread = what, "cannot lower the thread's priority");
    }
}
