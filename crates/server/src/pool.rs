//! Reads from the store that do not wait for its writers: a pool of connections of their own
//! (`r2d2`), opened again from the served store ([`gridmap_store::ProjectStore::opener`]).
//!
//! # Design
//! Every write goes through the served store, one at a time, behind [`Shared::store`]'s lock,
//! and the visit writer holds that lock from a batch's commit until it is applied. A read that
//! took the same lock (a building's people, a grid's history, the audit log, the plans, a
//! restored session) waited for the batch; on PostgreSQL it also waited for the network round
//! trips of the writes before it. [`read_store`] instead lends one of up to
//! [`READ_CONNECTIONS`] connections of the pool: reads run beside the writes and beside each
//! other. A read sees every write committed before it starts (SQLite's write-ahead log gives
//! each read transaction the last commit; PostgreSQL's read committed does the same).
//!
//! Connections are opened when first needed and kept; one that fails to open makes that read
//! answer 503 with the store's message, as the served store does when the database is down.
//! A PostgreSQL connection that the database closed is opened again by the store itself on its
//! next call. A store that cannot open a second connection (an in-memory project) has no pool,
//! and its reads take the served store's lock as before.
//!
//! [`Shared::store`]: crate::state::Shared::store

use std::ops::Deref;
use std::sync::{MutexGuard, PoisonError};
use std::time::Duration;

use gridmap_store::{Opener, ProjectStore, StoreError};

use crate::error::AppError;
use crate::state::Shared;

/// The most connections of the read pool (a GeoPackage's are file handles; PostgreSQL's are
/// backends, of which a database has ~100 for all its servers).
pub const READ_CONNECTIONS: u32 = 4;

/// How long a read waits for a connection of the pool before answering 503.
const CHECKOUT_WAIT: Duration = Duration::from_secs(10);

/// Opens the pool's connections.
pub struct Connections(Opener);

impl r2d2::ManageConnection for Connections {
    type Connection = Box<dyn ProjectStore>;
    type Error = StoreError;

    fn connect(&self) -> Result<Self::Connection, StoreError> {
        (self.0)()
    }

    /// Nothing to ask: the stores reconnect themselves, and a round trip on every loan would
    /// cost every read.
    fn is_valid(&self, _: &mut Self::Connection) -> Result<(), StoreError> {
        Ok(())
    }

    fn has_broken(&self, _: &mut Self::Connection) -> bool {
        false
    }
}

/// The pool of read connections (see the module's documentation).
pub type ReadPool = r2d2::Pool<Connections>;

/// A pool over `store`'s data; `None` when the store cannot open another connection.
pub fn read_pool(store: &dyn ProjectStore) -> Option<ReadPool> {
    let opener = store.opener().ok()?;
    // One thread for the pool's housekeeping (r2d2's default is three).
    let housekeeping = std::sync::Arc::new(
        scheduled_thread_pool::ScheduledThreadPool::builder()
            .num_threads(1)
            .thread_name_pattern("gridmap-pool")
            .build(),
    );
    Some(
        r2d2::Pool::builder()
            .max_size(READ_CONNECTIONS)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(CHECKOUT_WAIT)
            .thread_pool(housekeeping)
            .error_handler(Box::new(LogErrors))
            .build_unchecked(Connections(opener)),
    )
}

/// Logs a connection that failed to open (the store's message names no person).
#[derive(Debug)]
struct LogErrors;

impl r2d2::HandleError<StoreError> for LogErrors {
    fn handle_error(&self, error: StoreError) {
        tracing::warn!(%error, "the read pool could not open a connection");
    }
}

/// A store to read from: a connection of the pool, or the served store when there is no pool.
pub enum ReadStore<'a> {
    /// A connection lent by the pool (returned when dropped).
    Pooled(r2d2::PooledConnection<Connections>),
    /// The served store, locked.
    Served(MutexGuard<'a, Box<dyn ProjectStore>>),
}

impl Deref for ReadStore<'_> {
    type Target = dyn ProjectStore;

    fn deref(&self) -> &Self::Target {
        match self {
            ReadStore::Pooled(c) => c.as_ref(),
            ReadStore::Served(g) => g.as_ref(),
        }
    }
}

/// A store for reads that need not wait for the writers (see the module's documentation).
/// Blocking: call it off the runtime's threads.
pub fn read_store(shared: &Shared) -> Result<ReadStore<'_>, AppError> {
    match &shared.readers {
        Some(pool) => pool
            .get()
            .map(ReadStore::Pooled)
            .map_err(|e| AppError::Store(StoreError::Backend(Box::new(e)))),
        None => Ok(ReadStore::Served(
            shared.store.lock().unwrap_or_else(PoisonError::into_inner),
        )),
    }
}
