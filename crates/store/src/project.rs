//! [`ProjectStore`]: everything the server and the CLI ask of a project beyond the spatial core
//! of [`Store`] — user accounts, sessions and the audit log, saved plans, the household
//! registers, door plates, self-reported declarations, the reconciliation with the police
//! register, key subjects and the scorecard's counts — so that they hold a
//! `Box<dyn ProjectStore>` and do not care which store it is.
//!
//! [`GpkgStore`] implements all of it. Every method outside [`Store`] has a default body that
//! answers [`StoreError::Unsupported`], so a store can implement the trait before it holds
//! those tables: `gridmap_pgstore::PgStore` does so today (issue #25), and serves the spatial
//! core while accounts, registers and the rest answer "not available on this store yet".
//!
//! What only a GeoPackage file has (its path, SQLite's `data_version` for noticing another
//! process's writes, the checkpoint of its write-ahead log) is reached through
//! [`ProjectStore::as_gpkg`], which is `None` for other stores. A store that several processes
//! share (PostgreSQL) announces every committed change through a [`ChangeFeed`]
//! ([`ProjectStore::change_feed`]), which is how a server hears of another's writes.

use std::collections::{BTreeMap, HashMap};

use gridmap_core::police::PoliceRow;
use gridmap_core::register::{FormRow, House, Person};
use gridmap_stats::scorecard::{Counts, GridCounts};

use crate::declarations::{Declaration, NewDeclaration};
use crate::key_subjects::KeySubject;
use crate::plans::{PlanEntry, SavedPlan};
use crate::plates::{Plate, PlateSet};
use crate::reconcile::{ReconcileOptions, ReconcileRun, ReconciliationRecord, Task};
use crate::registers::{
    GroupBy, HouseholdImport, HouseholdOptions, RegisterError, RegisterKey, RegisterStats, View,
};
use crate::scorecard::{HouseCount, PlatesInUse};
use crate::{AuditEntry, GpkgStore, Result, Store, StoreError, User};

/// Opens a store again on a connection of its own ([`ProjectStore::opener`]).
pub type Opener = std::sync::Arc<dyn Fn() -> Result<Box<dyn ProjectStore>> + Send + Sync>;

/// The page cache of a store opened again by [`ProjectStore::opener`] for short reads: the
/// served connection keeps the large one.
const REOPENED_PAGE_CACHE_MIB: u32 = 2;

/// A register operation's result (see [`RegisterError`]).
type RegisterResult<T> = std::result::Result<T, RegisterError>;

/// What a store that lacks `what` answers.
fn unsupported<T, E: From<StoreError>>(what: &'static str) -> std::result::Result<T, E> {
    Err(StoreError::Unsupported { what }.into())
}

const ACCOUNTS: &str = "user accounts";
const DIVISIONS: &str = "the org tree above the town";
const AUDIT: &str = "the audit log";
const VISIT_LOOKUP: &str = "looking a visit up by id";
const PLANS: &str = "saved plans";
const REGISTERS: &str = "the household registers";
const PLATES: &str = "door plates";
const DECLARATIONS: &str = "self-reported declarations";
const RECONCILE: &str = "the reconciliation with the police register";
const KEY_SUBJECTS: &str = "key subjects";
const SCORECARD: &str = "the scorecard";

/// A project store as the server and the CLI use it: the spatial core ([`Store`]) and the rest.
/// The methods have the names and signatures of [`GpkgStore`]'s own, whose documentation says
/// what each does; the defaults answer [`StoreError::Unsupported`] (through
/// [`RegisterError::Store`] where the result is a register one).
pub trait ProjectStore: Store + Send {
    // ---- GeoPackage-only facilities -------------------------------------------------------

    /// The GeoPackage store, when this is one: its file, `data_version`, checkpoints.
    fn as_gpkg(&self) -> Option<&GpkgStore> {
        None
    }
    /// [`as_gpkg`](Self::as_gpkg), to write.
    fn as_gpkg_mut(&mut self) -> Option<&mut GpkgStore> {
        None
    }

    // ---- Stores shared by several processes ----------------------------------------------

    /// A feed of the changes committed to this store's data, when other processes may write
    /// it too (PostgreSQL): `Ok(None)` for a store that has none (a GeoPackage file, watched
    /// through its `data_version` instead). The feed listens on a connection of its own from
    /// the moment it is made.
    fn change_feed(&self) -> Result<Option<Box<dyn ChangeFeed>>> {
        Ok(None)
    }
    /// The visits from the `position`-th on (counting from 0, in the order of
    /// [`Store::visits`]): what a log holding the first `position` has not seen. The default
    /// reads them all and drops the first.
    fn visits_from(&self, position: usize) -> Result<Vec<gridmap_core::model::Visit>> {
        let mut all = self.visits()?;
        Ok(all.split_off(position.min(all.len())))
    }

    /// Hands the visits from the `position`-th on to `each`, in store order, as they are read,
    /// so that a campaign's millions of visits are never all in memory at once. The default
    /// reads them with [`ProjectStore::visits_from`].
    fn each_visit_from(
        &self,
        position: usize,
        each: &mut dyn FnMut(gridmap_core::model::Visit),
    ) -> Result<()> {
        self.visits_from(position)?.into_iter().for_each(each);
        Ok(())
    }

    /// The towns under division `division` (a province, city or district code, see
    /// `gridmap_users::division_holds`) that this store's database holds, with their figures,
    /// for a division's users to compare them. A GeoPackage holds one town and no division.
    fn towns_under(&self, division: &str) -> Result<Vec<TownFigures>> {
        let _ = division;
        unsupported(DIVISIONS)
    }

    /// How to open the same data again, each time on a connection of its own: what a pool of
    /// readers is made of (the server's reads that must not wait for its writers). Stores
    /// without connections answer [`StoreError::Unsupported`].
    fn opener(&self) -> Result<Opener> {
        unsupported("a second connection")
    }

    /// The same data on a connection of its own (see [`ProjectStore::opener`]), for a long read
    /// that must not hold the served store (whose lock the writers wait for).
    fn reopen(&self) -> Result<Box<dyn ProjectStore>> {
        (self.opener()?)()
    }

    // ---- Accounts: users, sessions, the audit log ----------------------------------------

    /// Every user ([`GpkgStore::users`]).
    fn users(&self) -> Result<Vec<User>> {
        unsupported(ACCOUNTS)
    }
    /// Adds or replaces a user ([`GpkgStore::put_user`]).
    fn put_user(&mut self, user: &User) -> Result<()> {
        let _ = user;
        unsupported(ACCOUNTS)
    }
    /// Keeps a session by its token's SHA-256 ([`GpkgStore::put_session`]).
    fn put_session(&mut self, token_sha256: &str, username: &str, expires_unix: i64) -> Result<()> {
        let _ = (token_sha256, username, expires_unix);
        unsupported(ACCOUNTS)
    }
    /// A kept session's user and expiry ([`GpkgStore::session`]).
    fn session(&self, token_sha256: &str) -> Result<Option<(String, i64)>> {
        let _ = token_sha256;
        unsupported(ACCOUNTS)
    }
    /// Forgets a session ([`GpkgStore::delete_session`]).
    fn delete_session(&mut self, token_sha256: &str) -> Result<()> {
        let _ = token_sha256;
        unsupported(ACCOUNTS)
    }
    /// Records a read of clear personal data ([`GpkgStore::audit`]).
    fn audit(&self, username: &str, action: &str, target: &str, count: usize) -> Result<()> {
        let _ = (username, action, target, count);
        unsupported(AUDIT)
    }
    /// The audit log, newest first ([`GpkgStore::audit_log`]).
    fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        unsupported(AUDIT)
    }

    // ---- Visits beyond Store -------------------------------------------------------------

    /// The worker of the visit `id` ([`GpkgStore::visit_worker`]).
    fn visit_worker(&self, id: &str) -> Result<Option<String>> {
        let _ = id;
        unsupported(VISIT_LOOKUP)
    }

    // ---- Saved re-partitioning plans -----------------------------------------------------

    /// Saves a plan ([`GpkgStore::save_plan`]).
    fn save_plan(
        &mut self,
        name: &str,
        village: &str,
        saved_by: &str,
        grids: u32,
        body: &str,
    ) -> Result<i64> {
        let _ = (name, village, saved_by, grids, body);
        unsupported(PLANS)
    }
    /// Every saved plan ([`GpkgStore::plans`]).
    fn plans(&self) -> Result<Vec<PlanEntry>> {
        unsupported(PLANS)
    }
    /// One saved plan ([`GpkgStore::plan`]).
    fn plan(&self, id: i64) -> Result<Option<SavedPlan>> {
        let _ = id;
        unsupported(PLANS)
    }
    /// Marks a plan adopted ([`GpkgStore::set_plan_adopted`]).
    fn set_plan_adopted(&mut self, id: i64, adopted: &str) -> Result<bool> {
        let _ = (id, adopted);
        unsupported(PLANS)
    }
    /// Deletes a saved plan ([`GpkgStore::delete_plan`]).
    fn delete_plan(&mut self, id: i64) -> Result<bool> {
        let _ = id;
        unsupported(PLANS)
    }

    // ---- Household registers (houses and people) -----------------------------------------

    /// Every house ([`GpkgStore::houses`]).
    fn houses(&self) -> RegisterResult<Vec<House>> {
        unsupported(REGISTERS)
    }
    /// Every person, masked unless `view` is clear ([`GpkgStore::people`]).
    fn people(&self, key: &RegisterKey, view: View) -> RegisterResult<Vec<Person>> {
        let _ = (key, view);
        unsupported(REGISTERS)
    }
    /// The houses of one building ([`GpkgStore::houses_of`]).
    fn houses_of(&self, building: &str) -> RegisterResult<Vec<House>> {
        let _ = building;
        unsupported(REGISTERS)
    }
    /// The people of one building's houses, masked unless `view` is clear; only they are
    /// decrypted ([`GpkgStore::people_of`]).
    fn people_of(
        &self,
        key: &RegisterKey,
        view: View,
        building: &str,
    ) -> RegisterResult<Vec<Person>> {
        let _ = (key, view, building);
        unsupported(REGISTERS)
    }
    /// People registered in each building ([`GpkgStore::people_by_building`]).
    fn people_by_building(&self) -> RegisterResult<HashMap<String, u64>> {
        unsupported(REGISTERS)
    }
    /// People whose house is linked to no building ([`GpkgStore::people_unlinked`]).
    fn people_unlinked(&self) -> RegisterResult<u64> {
        unsupported(REGISTERS)
    }
    /// Whether `house` is a registered house of `building` ([`GpkgStore::house_in_building`]).
    fn house_in_building(&self, house: &str, building: &str) -> RegisterResult<bool> {
        let _ = (house, building);
        unsupported(REGISTERS)
    }
    /// The register statistics ([`GpkgStore::register_stats`]).
    fn register_stats(&self, by: GroupBy) -> RegisterResult<RegisterStats> {
        let _ = by;
        unsupported(REGISTERS)
    }
    /// Imports a household form ([`GpkgStore::import_households`]).
    fn import_households(
        &mut self,
        rows: &[FormRow],
        key: &RegisterKey,
        options: HouseholdOptions,
    ) -> RegisterResult<HouseholdImport> {
        let _ = (rows, key, options);
        unsupported(REGISTERS)
    }
    /// Re-encrypts the registers under a new key ([`GpkgStore::rekey`]).
    fn rekey(&mut self, old: &RegisterKey, new: &RegisterKey) -> RegisterResult<usize> {
        let _ = (old, new);
        unsupported(REGISTERS)
    }
    /// The ID fingerprint scheme the registers use ([`GpkgStore::fingerprint_scheme`]).
    fn fingerprint_scheme(&self) -> RegisterResult<u32> {
        unsupported(REGISTERS)
    }

    // ---- Door plates ---------------------------------------------------------------------

    /// The plates of `buildings`, made where missing ([`GpkgStore::plates_for`]).
    fn plates_for(&mut self, buildings: &[String]) -> RegisterResult<PlateSet> {
        let _ = buildings;
        unsupported(PLATES)
    }
    /// Records plates as printed ([`GpkgStore::mark_printed`]).
    fn mark_printed(&mut self, tokens: &[String]) -> RegisterResult<()> {
        let _ = tokens;
        unsupported(PLATES)
    }
    /// The plate of a token ([`GpkgStore::plate`]).
    fn plate(&self, token: &str) -> RegisterResult<Option<Plate>> {
        let _ = token;
        unsupported(PLATES)
    }
    /// Counts a scan of a plate ([`GpkgStore::count_scan`]).
    fn count_scan(&mut self, token: &str) -> RegisterResult<bool> {
        let _ = token;
        unsupported(PLATES)
    }
    /// Building ids by grid, for plates ([`GpkgStore::buildings_by_grid`]).
    fn buildings_by_grid(&self) -> RegisterResult<BTreeMap<String, Vec<String>>> {
        unsupported(PLATES)
    }
    /// The plates in use, by building ([`GpkgStore::plates_in_use`]).
    fn plates_in_use(&self) -> RegisterResult<PlatesInUse> {
        unsupported(PLATES)
    }

    // ---- Self-reported declarations (from the plates' page) ------------------------------

    /// Records a declaration ([`GpkgStore::add_declaration`]).
    fn add_declaration(
        &mut self,
        key: &RegisterKey,
        d: &NewDeclaration,
    ) -> RegisterResult<Option<i64>> {
        let _ = (key, d);
        unsupported(DECLARATIONS)
    }
    /// The declarations waiting for a decision ([`GpkgStore::pending_declarations`]).
    fn pending_declarations(
        &self,
        key: &RegisterKey,
        view: View,
    ) -> RegisterResult<Vec<Declaration>> {
        let _ = (key, view);
        unsupported(DECLARATIONS)
    }
    /// One declaration ([`GpkgStore::declaration`]).
    fn declaration(
        &self,
        key: &RegisterKey,
        view: View,
        id: i64,
    ) -> RegisterResult<Option<Declaration>> {
        let _ = (key, view, id);
        unsupported(DECLARATIONS)
    }
    /// Takes a declaration into the registers ([`GpkgStore::confirm_declaration`]).
    fn confirm_declaration(
        &mut self,
        key: &RegisterKey,
        id: i64,
        who: &str,
    ) -> RegisterResult<Option<HouseholdImport>> {
        let _ = (key, id, who);
        unsupported(DECLARATIONS)
    }
    /// Rejects a declaration ([`GpkgStore::reject_declaration`]).
    fn reject_declaration(&mut self, id: i64) -> RegisterResult<Option<usize>> {
        let _ = id;
        unsupported(DECLARATIONS)
    }
    /// A declaration's building and grid ([`GpkgStore::declaration_place`]).
    fn declaration_place(&self, id: i64) -> RegisterResult<Option<(String, Option<String>)>> {
        let _ = id;
        unsupported(DECLARATIONS)
    }

    // ---- Reconciliation with the police register, and its tasks --------------------------

    /// Compares a police extract with the registers ([`GpkgStore::reconcile`]).
    fn reconcile(
        &mut self,
        rows: &[PoliceRow],
        key: &RegisterKey,
        options: &ReconcileOptions,
    ) -> RegisterResult<ReconcileRun> {
        let _ = (rows, key, options);
        unsupported(RECONCILE)
    }
    /// The open tasks, of one grid or all ([`GpkgStore::open_tasks`]).
    fn open_tasks(&self, grid: Option<&str>) -> RegisterResult<Vec<Task>> {
        let _ = grid;
        unsupported(RECONCILE)
    }
    /// Marks a task done ([`GpkgStore::finish_task`]).
    fn finish_task(&mut self, id: i64) -> RegisterResult<bool> {
        let _ = id;
        unsupported(RECONCILE)
    }
    /// The latest reconciliation ([`GpkgStore::latest_reconciliation`]).
    fn latest_reconciliation(&self) -> RegisterResult<Option<ReconciliationRecord>> {
        unsupported(RECONCILE)
    }

    // ---- Key subjects (重点对象) -----------------------------------------------------------

    /// Adds or replaces a key subject ([`GpkgStore::put_key_subject`]).
    fn put_key_subject(&mut self, key: &RegisterKey, s: &KeySubject) -> RegisterResult<()> {
        let _ = (key, s);
        unsupported(KEY_SUBJECTS)
    }
    /// Every key subject ([`GpkgStore::key_subjects`]).
    fn key_subjects(&self, key: &RegisterKey) -> RegisterResult<Vec<KeySubject>> {
        let _ = key;
        unsupported(KEY_SUBJECTS)
    }
    /// A key subject's building ([`GpkgStore::key_subject_building`]).
    fn key_subject_building(&self, id: &str) -> RegisterResult<Option<String>> {
        let _ = id;
        unsupported(KEY_SUBJECTS)
    }
    /// Each key subject's building position and attention ([`GpkgStore::key_subject_counts`]).
    fn key_subject_counts(
        &self,
        building_at: &dyn Fn(&str) -> Option<usize>,
    ) -> RegisterResult<Vec<(Option<usize>, bool)>> {
        let _ = building_at;
        unsupported(KEY_SUBJECTS)
    }

    // ---- Scorecard -----------------------------------------------------------------------

    /// The houses as the scorecard counts them ([`GpkgStore::scorecard_houses`]).
    fn scorecard_houses(
        &self,
        building_at: &dyn Fn(&str) -> Option<usize>,
    ) -> RegisterResult<Vec<HouseCount>> {
        let _ = building_at;
        unsupported(SCORECARD)
    }
    /// Each grid's counts and the town's ([`GpkgStore::scorecard_counts`]).
    fn scorecard_counts(&self) -> RegisterResult<(Vec<GridCounts>, Counts)> {
        crate::scorecard::scorecard_counts_of(self)
    }
}

/// Every method is the inherent one of the same name.
impl ProjectStore for GpkgStore {
    fn as_gpkg(&self) -> Option<&GpkgStore> {
        Some(self)
    }
    fn opener(&self) -> Result<Opener> {
        let Some(path) = self.path() else {
            return unsupported("a second connection to an in-memory project");
        };
        Ok(std::sync::Arc::new(move || {
            let store = GpkgStore::open(&path)?;
            store.set_page_cache(REOPENED_PAGE_CACHE_MIB)?;
            Ok(Box::new(store) as Box<dyn ProjectStore>)
        }))
    }
    fn each_visit_from(
        &self,
        position: usize,
        each: &mut dyn FnMut(gridmap_core::model::Visit),
    ) -> Result<()> {
        let mut skip = position;
        self.each_visit(&mut |v| {
            if skip > 0 {
                skip -= 1;
            } else {
                each(v);
            }
        })
    }
    fn as_gpkg_mut(&mut self) -> Option<&mut GpkgStore> {
        Some(self)
    }

    fn users(&self) -> Result<Vec<User>> {
        GpkgStore::users(self)
    }
    fn put_user(&mut self, user: &User) -> Result<()> {
        GpkgStore::put_user(self, user)
    }
    fn put_session(&mut self, token_sha256: &str, username: &str, expires_unix: i64) -> Result<()> {
        GpkgStore::put_session(self, token_sha256, username, expires_unix)
    }
    fn session(&self, token_sha256: &str) -> Result<Option<(String, i64)>> {
        GpkgStore::session(self, token_sha256)
    }
    fn delete_session(&mut self, token_sha256: &str) -> Result<()> {
        GpkgStore::delete_session(self, token_sha256)
    }
    fn audit(&self, username: &str, action: &str, target: &str, count: usize) -> Result<()> {
        GpkgStore::audit(self, username, action, target, count)
    }
    fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        GpkgStore::audit_log(self)
    }

    fn visit_worker(&self, id: &str) -> Result<Option<String>> {
        GpkgStore::visit_worker(self, id)
    }

    fn save_plan(
        &mut self,
        name: &str,
        village: &str,
        saved_by: &str,
        grids: u32,
        body: &str,
    ) -> Result<i64> {
        GpkgStore::save_plan(self, name, village, saved_by, grids, body)
    }
    fn plans(&self) -> Result<Vec<PlanEntry>> {
        GpkgStore::plans(self)
    }
    fn plan(&self, id: i64) -> Result<Option<SavedPlan>> {
        GpkgStore::plan(self, id)
    }
    fn set_plan_adopted(&mut self, id: i64, adopted: &str) -> Result<bool> {
        GpkgStore::set_plan_adopted(self, id, adopted)
    }
    fn delete_plan(&mut self, id: i64) -> Result<bool> {
        GpkgStore::delete_plan(self, id)
    }

    fn houses(&self) -> RegisterResult<Vec<House>> {
        GpkgStore::houses(self)
    }
    fn people(&self, key: &RegisterKey, view: View) -> RegisterResult<Vec<Person>> {
        GpkgStore::people(self, key, view)
    }
    fn houses_of(&self, building: &str) -> RegisterResult<Vec<House>> {
        GpkgStore::houses_of(self, building)
    }
    fn people_of(
        &self,
        key: &RegisterKey,
        view: View,
        building: &str,
    ) -> RegisterResult<Vec<Person>> {
        GpkgStore::people_of(self, key, view, building)
    }
    fn people_by_building(&self) -> RegisterResult<HashMap<String, u64>> {
        GpkgStore::people_by_building(self)
    }
    fn people_unlinked(&self) -> RegisterResult<u64> {
        GpkgStore::people_unlinked(self)
    }
    fn house_in_building(&self, house: &str, building: &str) -> RegisterResult<bool> {
        GpkgStore::house_in_building(self, house, building)
    }
    fn register_stats(&self, by: GroupBy) -> RegisterResult<RegisterStats> {
        GpkgStore::register_stats(self, by)
    }
    fn import_households(
        &mut self,
        rows: &[FormRow],
        key: &RegisterKey,
        options: HouseholdOptions,
    ) -> RegisterResult<HouseholdImport> {
        GpkgStore::import_households(self, rows, key, options)
    }
    fn rekey(&mut self, old: &RegisterKey, new: &RegisterKey) -> RegisterResult<usize> {
        GpkgStore::rekey(self, old, new)
    }
    fn fingerprint_scheme(&self) -> RegisterResult<u32> {
        GpkgStore::fingerprint_scheme(self)
    }

    fn plates_for(&mut self, buildings: &[String]) -> RegisterResult<PlateSet> {
        GpkgStore::plates_for(self, buildings)
    }
    fn mark_printed(&mut self, tokens: &[String]) -> RegisterResult<()> {
        GpkgStore::mark_printed(self, tokens)
    }
    fn plate(&self, token: &str) -> RegisterResult<Option<Plate>> {
        GpkgStore::plate(self, token)
    }
    fn count_scan(&mut self, token: &str) -> RegisterResult<bool> {
        GpkgStore::count_scan(self, token)
    }
    fn buildings_by_grid(&self) -> RegisterResult<BTreeMap<String, Vec<String>>> {
        GpkgStore::buildings_by_grid(self)
    }
    fn plates_in_use(&self) -> RegisterResult<PlatesInUse> {
        GpkgStore::plates_in_use(self)
    }

    fn add_declaration(
        &mut self,
        key: &RegisterKey,
        d: &NewDeclaration,
    ) -> RegisterResult<Option<i64>> {
        GpkgStore::add_declaration(self, key, d)
    }
    fn pending_declarations(
        &self,
        key: &RegisterKey,
        view: View,
    ) -> RegisterResult<Vec<Declaration>> {
        GpkgStore::pending_declarations(self, key, view)
    }
    fn declaration(
        &self,
        key: &RegisterKey,
        view: View,
        id: i64,
    ) -> RegisterResult<Option<Declaration>> {
        GpkgStore::declaration(self, key, view, id)
    }
    fn confirm_declaration(
        &mut self,
        key: &RegisterKey,
        id: i64,
        who: &str,
    ) -> RegisterResult<Option<HouseholdImport>> {
        GpkgStore::confirm_declaration(self, key, id, who)
    }
    fn reject_declaration(&mut self, id: i64) -> RegisterResult<Option<usize>> {
        GpkgStore::reject_declaration(self, id)
    }
    fn declaration_place(&self, id: i64) -> RegisterResult<Option<(String, Option<String>)>> {
        GpkgStore::declaration_place(self, id)
    }

    fn reconcile(
        &mut self,
        rows: &[PoliceRow],
        key: &RegisterKey,
        options: &ReconcileOptions,
    ) -> RegisterResult<ReconcileRun> {
        GpkgStore::reconcile(self, rows, key, options)
    }
    fn open_tasks(&self, grid: Option<&str>) -> RegisterResult<Vec<Task>> {
        GpkgStore::open_tasks(self, grid)
    }
    fn finish_task(&mut self, id: i64) -> RegisterResult<bool> {
        GpkgStore::finish_task(self, id)
    }
    fn latest_reconciliation(&self) -> RegisterResult<Option<ReconciliationRecord>> {
        GpkgStore::latest_reconciliation(self)
    }

    fn put_key_subject(&mut self, key: &RegisterKey, s: &KeySubject) -> RegisterResult<()> {
        GpkgStore::put_key_subject(self, key, s)
    }
    fn key_subjects(&self, key: &RegisterKey) -> RegisterResult<Vec<KeySubject>> {
        GpkgStore::key_subjects(self, key)
    }
    fn key_subject_building(&self, id: &str) -> RegisterResult<Option<String>> {
        GpkgStore::key_subject_building(self, id)
    }
    fn key_subject_counts(
        &self,
        building_at: &dyn Fn(&str) -> Option<usize>,
    ) -> RegisterResult<Vec<(Option<usize>, bool)>> {
        GpkgStore::key_subject_counts(self, building_at)
    }

    fn scorecard_houses(
        &self,
        building_at: &dyn Fn(&str) -> Option<usize>,
    ) -> RegisterResult<Vec<HouseCount>> {
        GpkgStore::scorecard_houses(self, building_at)
    }
    fn scorecard_counts(&self) -> RegisterResult<(Vec<GridCounts>, Counts)> {
        GpkgStore::scorecard_counts(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store with the spatial core only, as the PostgreSQL store is today.
    struct Core(GpkgStore);

    impl Store for Core {
        fn town(&self) -> Result<gridmap_core::model::Town> {
            self.0.town()
        }
        fn set_town_boundary(&mut self, b: &geo::MultiPolygon) -> Result<()> {
            self.0.set_town_boundary(b)
        }
        fn villages(&self) -> Result<Vec<gridmap_core::model::Village>> {
            self.0.villages()
        }
        fn import_villages(
            &mut self,
            v: &[gridmap_core::model::Village],
            m: crate::Mode,
        ) -> Result<crate::ImportCounts> {
            self.0.import_villages(v, m)
        }
        fn grids(&self) -> Result<Vec<crate::StoredGrid>> {
            self.0.grids()
        }
        fn grid(&self, code: &str) -> Result<Option<crate::StoredGrid>> {
            self.0.grid(code)
        }
        fn save_grid(
            &mut self,
            g: &gridmap_core::model::Grid,
            e: Option<u32>,
            c: &crate::Change,
        ) -> Result<u32> {
            self.0.save_grid(g, e, c)
        }
        fn delete_grid(&mut self, code: &str, e: Option<u32>, c: &crate::Change) -> Result<()> {
            self.0.delete_grid(code, e, c)
        }
        fn replace_grids(
            &mut self,
            d: &[(String, u32)],
            s: &[(gridmap_core::model::Grid, Option<u32>)],
            c: &crate::Change,
        ) -> Result<Vec<u32>> {
            self.0.replace_grids(d, s, c)
        }
        fn grid_history(&self, code: &str) -> Result<Vec<crate::GridVersion>> {
            self.0.grid_history(code)
        }
        fn restore_grid(&mut self, code: &str, v: u32, c: &crate::Change) -> Result<u32> {
            self.0.restore_grid(code, v, c)
        }
        fn import_grids(
            &mut self,
            g: &[gridmap_core::model::Grid],
            m: crate::Mode,
            c: &crate::Change,
        ) -> Result<crate::ImportCounts> {
            self.0.import_grids(g, m, c)
        }
        fn buildings(&self) -> Result<Vec<gridmap_core::model::Building>> {
            self.0.buildings()
        }
        fn import_buildings(
            &mut self,
            b: &[gridmap_core::model::Building],
            m: crate::Mode,
        ) -> Result<crate::ImportCounts> {
            self.0.import_buildings(b, m)
        }
        fn addresses(&self) -> Result<Vec<gridmap_core::model::Address>> {
            self.0.addresses()
        }
        fn import_addresses(
            &mut self,
            a: &[gridmap_core::model::Address],
            m: crate::Mode,
        ) -> Result<crate::ImportCounts> {
            self.0.import_addresses(a, m)
        }
        fn units(&self) -> Result<Vec<gridmap_core::model::Unit>> {
            self.0.units()
        }
        fn import_units(
            &mut self,
            u: &[gridmap_core::model::Unit],
            m: crate::Mode,
        ) -> Result<crate::ImportCounts> {
            self.0.import_units(u, m)
        }
        fn visits(&self) -> Result<Vec<gridmap_core::model::Visit>> {
            self.0.visits()
        }
        fn import_visits(
            &mut self,
            v: &[gridmap_core::model::Visit],
            m: crate::Mode,
        ) -> Result<crate::ImportCounts> {
            self.0.import_visits(v, m)
        }
        fn basemap(&self) -> Result<Vec<gridmap_core::model::BasemapFeature>> {
            self.0.basemap()
        }
        fn import_basemap(
            &mut self,
            l: gridmap_core::model::BasemapLayer,
            f: &[gridmap_core::model::BasemapFeature],
            m: crate::Mode,
        ) -> Result<crate::ImportCounts> {
            self.0.import_basemap(l, f, m)
        }
        fn count(&self, layer: &str) -> Result<usize> {
            self.0.count(layer)
        }
    }

    impl ProjectStore for Core {}

    #[test]
    fn a_store_without_accounts_says_so_and_the_geopackage_answers_through_the_trait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.gpkg");
        let gpkg = GpkgStore::create(&path, "T1", "Town").unwrap();
        let mut boxed: Box<dyn ProjectStore> = Box::new(gpkg);
        assert!(boxed.users().unwrap().is_empty());
        assert_eq!(boxed.as_gpkg().unwrap().path(), Some(path.clone()));
        assert!(boxed.as_gpkg_mut().is_some());
        assert_eq!(boxed.people_unlinked().unwrap(), 0);

        let core: Box<dyn ProjectStore> = Box::new(Core(GpkgStore::open(&path).unwrap()));
        assert!(core.as_gpkg().is_none());
        assert_eq!(core.town().unwrap().code, "T1");
        let e = core.users().unwrap_err();
        assert!(matches!(
            e,
            StoreError::Unsupported {
                what: "user accounts"
            }
        ));
        assert_eq!(
            e.to_string(),
            "user accounts: not available on this store yet (issue #25)"
        );
        assert!(matches!(
            core.people_by_building(),
            Err(RegisterError::Store(StoreError::Unsupported { .. }))
        ));
        assert!(matches!(
            core.plans(),
            Err(StoreError::Unsupported {
                what: "saved plans"
            })
        ));
    }
}

/// What a committed change was, as far as a server holding the data in memory cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Visits were added (and nothing else by that statement).
    Visits,
    /// Anything else: grids, buildings, users, registers, visits changed or removed…
    Other,
    /// Sessions were closed before they lapsed (a sign-out): nothing served changed, so the
    /// note carries the counter as it was; sessions held in memory are to be asked again.
    Sessions,
}

/// One announced change of the data behind a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeNote {
    /// The store's change counter after it: it grows by one per change, in commit order.
    pub counter: i64,
    /// What changed.
    pub kind: ChangeKind,
    /// For added visits, the highest position (`fid`) among them.
    pub last_visit: Option<i64>,
    /// Which connection made the change (a database backend's process id).
    pub sender: i32,
    /// For [`ChangeKind::Sessions`], the sessions closed (hex SHA-256 of each token); `None`:
    /// any may have been.
    pub sessions: Option<Vec<String>>,
}

/// A town's figures, as its division compares its towns ([`ProjectStore::towns_under`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TownFigures {
    /// The town's code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Its grids.
    pub grids: u64,
    /// Its buildings.
    pub buildings: u64,
    /// Their households.
    pub households: u64,
    /// The buildings whose latest visit found them visited.
    pub visited_buildings: u64,
    /// Their households.
    pub visited_households: u64,
    /// Visited households over households (over buildings when there are none), as the
    /// statistics count it.
    pub visit_rate: f64,
}

/// The changes other processes commit to a shared store's data ([`ProjectStore::change_feed`]),
/// on a connection of the feed's own. Blocking: call it from a thread of its own.
pub trait ChangeFeed: Send {
    /// Waits up to `timeout` for the next change; `Ok(None)` when none came. An error means
    /// the connection is lost (changes may have been missed): [`reconnect`](Self::reconnect).
    fn next(&mut self, timeout: std::time::Duration) -> Result<Option<ChangeNote>>;
    /// The change counter as committed now.
    fn counter(&mut self) -> Result<i64>;
    /// Connects and listens again after an error.
    fn reconnect(&mut self) -> Result<()>;
    /// The sender that the store the feed was made from writes as: its own changes are
    /// already in memory.
    fn own_sender(&self) -> i32;
    /// A new store over the same data (another connection), to load it again without holding
    /// the served one.
    fn reopen(&self) -> Result<Box<dyn ProjectStore>>;
}
