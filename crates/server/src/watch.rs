//! Notices when another process writes the served file (`gridmap import`, `gridmap user add`,
//! `gridmap restore` while the server runs) and loads it again in the background, serving the
//! old snapshot meanwhile.
//!
//! SQLite's `PRAGMA data_version` changes on a connection when *another* connection commits,
//! so the server's own writes never trigger a reload. A thread asks once a second; on a change
//! it opens a second connection, loads the project and the users from it without holding the
//! store, then swaps under the store's lock (so the visit writer is between batches) — taking
//! the visits again if the writer committed some after the load read them — and drops the
//! cached tiles and statistics.
//!
//! Only a GeoPackage store is watched ([`gridmap_store::ProjectStore::as_gpkg`]): a PostgreSQL
//! store has no file, and several instances sharing a database hear of each other's writes
//! through `LISTEN/NOTIFY` ([`crate::notify`]), which loads again through [`reload_from`].

use std::path::PathBuf;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use gridmap_store::{GpkgStore, ProjectStore};

use crate::error::AppError;
use crate::live::Live;
use crate::state::{Project, Shared};

/// How often the file is asked whether someone else wrote it.
pub const POLL: Duration = Duration::from_secs(1);

/// The file's `data_version` as `store`'s connection sees it now (`None` for a store without
/// a file). Read it before loading, so that a write landing between the load and the
/// watcher's first look is not missed.
pub fn data_version_of(store: &dyn ProjectStore) -> Option<i64> {
    store.as_gpkg()?.data_version().ok()
}

/// Starts the watcher over `shared` (held weakly: the thread ends with the state); `loaded`
/// is the `data_version` read before the state was loaded.
pub fn start(shared: Weak<Shared>, loaded: Option<i64>) {
    let spawned = std::thread::Builder::new()
        .name("gridmap-watch".into())
        .spawn(move || {
            let mut seen = loaded;
            loop {
                std::thread::sleep(POLL);
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let Some(now) = data_version(&shared) else {
                    continue;
                };
                if seen.is_some_and(|v| v != now) {
                    tracing::info!("the project file was changed by another process: reloading");
                    if let Err(e) = reload(&shared) {
                        tracing::error!(error = %e, "reloading the project file failed; serving the last snapshot");
                    }
                }
                seen = Some(now);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the file watcher");
    }
}

fn data_version(shared: &Shared) -> Option<i64> {
    data_version_of(
        shared
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref(),
    )
}

/// Loads the file again and swaps the new snapshot in.
pub fn reload(shared: &Shared) -> Result<(), AppError> {
    // One snapshot at a time: grid edits queued meanwhile are applied after, on this one.
    let _one_at_a_time = shared
        .grid_writes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let path: PathBuf = shared
        .store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_gpkg()
        .and_then(GpkgStore::path)
        .ok_or_else(|| AppError::Internal("the project file has no path".into()))?;
    let fresh = GpkgStore::open(&path)?;
    fresh.set_page_cache(crate::state::SERVING_PAGE_CACHE_MIB)?;
    reload_from(shared, &fresh)
}

/// Loads the project and the users from `fresh` (a second connection to the served store) and
/// swaps them in, taking the visits again if the writer committed some meanwhile; drops the
/// cached tiles and statistics. The caller holds `shared.grid_writes`.
pub fn reload_from(shared: &Shared, fresh: &dyn ProjectStore) -> Result<(), AppError> {
    let mut next = Project::load(fresh)?;
    let users = fresh.users()?;
    {
        let store = shared
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stored = store.count("visits")?;
        let loaded = next.live().visits.len();
        if stored != loaded {
            // The writer committed visits after the load read them: take them all again.
            let live = Live::load(&next, &**store)?;
            *next
                .tallies
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                crate::live::tallies(&next, &live);
            next.pyramid = Arc::new(crate::state::pyramid_of(&next, &live));
            next.live = Arc::new(RwLock::new(live));
        }
        let previous = std::mem::replace(
            &mut *shared
                .project
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            Arc::new(next),
        );
        drop(previous);
        *shared
            .users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = users;
    }
    shared.tiles.clear();
    shared
        .stats_cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
    Ok(())
}
