//! The one writer of visits: a thread that commits visits in batches (group commit) and then
//! applies them to the in-memory state, so that a visit costs one row in SQLite and a few
//! counters in memory instead of a reload of the project.
//!
//! # Design
//! Handlers send each checked visit with a reply channel and wait for the reply without
//! holding any lock or blocking a runtime thread. The writer takes the first waiting visit and
//! every other one already queued (up to [`MAX_BATCH`]), commits them in one transaction, applies
//! them to the visit log and the current snapshot's tallies and only then answers each: a visit
//! answered 200 is in the file (WAL, `synchronous=NORMAL`: it survives the process being
//! killed). A batch that fails is retried visit by visit, so one bad visit fails alone.
//!
//! The writer holds the store's lock from the commit until the batch is applied: a grid edit,
//! which reloads the snapshot under the same lock, therefore sees either none or all of a batch,
//! and no visit is applied to a snapshot that already read it from the file.
//!
//! Copying the write-ahead log into the file (SQLite's checkpoint) is not done by the commits:
//! with it on, every thousandth page written made one batch of visits wait for the copy. A
//! thread of its own does it every [`CHECKPOINT_EVERY`] on another connection, passively (it
//! waits for nobody and copies what no reader still needs).

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, Weak};

use geo::Rect;
use gridmap_core::model::Visit;
use gridmap_store::Mode;

use crate::error::AppError;
use crate::state::Shared;

/// The most visits committed in one transaction.
pub const MAX_BATCH: usize = 512;

/// How often the checkpoint thread copies the write-ahead log into the file.
pub const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// One visit waiting to be written, with where it is (for the tiles) and who waits for it.
struct Job {
    visit: Visit,
    touched: Option<Rect>,
    reply: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// The visit writer's niceness (Linux: of this thread alone), below the reading thread and a
/// step below the runtime ([`crate::priority`]). History: at nice 0 with everything else, the
/// district's full mix gave 4,379 visits/s and an edit p99 of 764 ms; at 5, 3,302–3,512
/// visits/s (session 17). With the runtime and validation lowered too (session 21), 7 gave
/// ~2,250 visits/s within 43 ms and left the reads their share.
const WRITER_NICE: i32 = crate::priority::WRITER;

/// The handle handlers send visits through.
pub struct Writer {
    tx: Mutex<Sender<Job>>,
}

impl Writer {
    /// Starts the writer thread over `shared` (held weakly: the thread ends with the state).
    pub fn start(shared: Weak<Shared>) -> Writer {
        let shared_for_checkpoints = shared.clone();
        let (tx, rx) = channel();
        let spawned = std::thread::Builder::new()
            .name("gridmap-writer".into())
            .spawn(move || run(&shared, &rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the visit writer");
        }
        start_checkpoints(shared_for_checkpoints);
        Writer { tx: Mutex::new(tx) }
    }

    /// Commits `visit` and applies it; answers once it is in the file and in memory.
    pub async fn record(&self, visit: Visit, touched: Option<Rect>) -> Result<(), AppError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            visit,
            touched,
            reply,
        };
        self.tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(job)
            .map_err(|_| AppError::Internal("the visit writer has stopped".into()))?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(AppError::Internal(e)),
            Err(_) => Err(AppError::Internal(
                "the visit writer dropped a visit".into(),
            )),
        }
    }
}

fn run(shared: &Weak<Shared>, rx: &Receiver<Job>) {
    crate::priority::lower_this_thread(WRITER_NICE, "visit writer");
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        commit(&shared, batch);
    }
}

/// Starts the checkpoint thread for the store of `shared` (see the module docs), once the
/// state exists; the commits keep checkpointing themselves if it cannot start.
fn start_checkpoints(shared: Weak<Shared>) {
    let spawned = std::thread::Builder::new()
        .name("gridmap-checkpoint".into())
        .spawn(move || {
            // The state is being built when the writer starts: let it finish.
            std::thread::sleep(CHECKPOINT_EVERY);
            let Some(path) = shared.upgrade().and_then(|shared| {
                shared
                    .store
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .as_gpkg()
                    .and_then(gridmap_store::GpkgStore::path)
            }) else {
                // No file (a PostgreSQL store): nothing to checkpoint.
                return;
            };
            let checkpointer = match gridmap_store::Checkpointer::open(&path) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "no checkpoint thread: commits checkpoint themselves");
                    return;
                }
            };
            if let Some(shared) = shared.upgrade() {
                let store = shared
                    .store
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let off = store.as_gpkg().map(|g| g.set_auto_checkpoint(false));
                if let Some(Err(e)) = off {
                    tracing::warn!(error = %e, "commits keep checkpointing themselves");
                    return;
                }
            }
            loop {
                std::thread::sleep(CHECKPOINT_EVERY);
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                if let Err(e) = checkpointer.run() {
                    tracing::warn!(error = %e, "checkpoint failed; the next one tries again");
                }
                drop(shared);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the checkpoint thread");
    }
}

/// Commits a batch, applies what was committed, invalidates its tiles, answers each job.
fn commit(shared: &Arc<Shared>, batch: Vec<Job>) {
    let visits: Vec<Visit> = batch.iter().map(|j| j.visit.clone()).collect();
    let mut store = shared
        .store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let results: Vec<Result<(), String>> = match store.import_visits(&visits, Mode::Append) {
        Ok(_) => vec![Ok(()); visits.len()],
        Err(_) => visits
            .iter()
            .map(|v| {
                store
                    .import_visits(std::slice::from_ref(v), Mode::Append)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .collect(),
    };
    apply(
        &shared.snapshot(),
        visits
            .into_iter()
            .zip(&results)
            .filter(|(_, r)| r.is_ok())
            .map(|(v, _)| v),
    );
    drop(store);
    let touched: Vec<Rect> = batch
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_ok())
        .filter_map(|(j, _)| j.touched)
        .collect();
    shared.tiles.invalidate_many(&touched);
    for (job, result) in batch.into_iter().zip(results) {
        if let Err(e) = &result {
            tracing::error!(error = %e, "a visit could not be stored");
        }
        let _ = job.reply.send(result);
    }
}

/// Applies committed visits, in store order, to the visit log, `project`'s tallies and the
/// heatmap pyramid (call it with the store locked, as the writer does). The cached tiles are
/// the caller's to drop.
pub fn apply(project: &crate::state::Project, visits: impl IntoIterator<Item = Visit>) {
    let mut live = project
        .live
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut tallies = project
        .tallies
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for v in visits {
        if let Some((i, visited)) = live.apply(project, v, &mut tallies)
            && let Some(at) = project.location(i as usize)
        {
            let weight = crate::state::heat_weight(&project.buildings[i as usize]);
            project.pyramid.set_visited(at, weight, visited);
        }
    }
}
