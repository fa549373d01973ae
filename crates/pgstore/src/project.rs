//! [`gridmap_store::ProjectStore`] for [`PgStore`]: the spatial core ([`gridmap_store::Store`]),
//! accounts, the audit log, saved plans, the household registers, the key subjects, the QR
//! door plates and the declarations made through them, and the reconciliation with the
//! police register and its tasks are served from PostgreSQL (the inherent methods in
//! `accounts.rs`, `plans.rs`, `registers.rs`, `key_subjects.rs`, `plates.rs` and
//! `reconcile.rs`, which behave as `GpkgStore`'s), and so is everything the scorecard counts.

use std::collections::{BTreeMap, HashMap};

use gridmap_core::police::PoliceRow;
use gridmap_core::register::{FormRow, House, Person};
use gridmap_store::declarations::{Declaration, NewDeclaration};
use gridmap_store::plans::{PlanEntry, SavedPlan};
use gridmap_store::plates::{Plate, PlateSet};
use gridmap_store::reconcile::{ReconcileOptions, ReconcileRun, ReconciliationRecord, Task};
use gridmap_store::registers::{
    GroupBy, HouseholdImport, HouseholdOptions, RegisterError, RegisterKey, RegisterStats, View,
};
use gridmap_store::scorecard::PlatesInUse;
use gridmap_store::{AuditEntry, ProjectStore, Result, User};

use crate::{Db, PgStore};

type RegisterResult<T> = std::result::Result<T, RegisterError>;

impl ProjectStore for PgStore {
    fn users(&self) -> Result<Vec<User>> {
        PgStore::users(self)
    }
    fn put_user(&mut self, user: &User) -> Result<()> {
        PgStore::put_user(self, user)
    }
    fn put_session(&mut self, token_sha256: &str, username: &str, expires_unix: i64) -> Result<()> {
        PgStore::put_session(self, token_sha256, username, expires_unix)
    }
    fn session(&self, token_sha256: &str) -> Result<Option<(String, i64)>> {
        PgStore::session(self, token_sha256)
    }
    fn delete_session(&mut self, token_sha256: &str) -> Result<()> {
        PgStore::delete_session(self, token_sha256)
    }
    fn audit(&self, username: &str, action: &str, target: &str, count: usize) -> Result<()> {
        PgStore::audit(self, username, action, target, count)
    }
    fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        PgStore::audit_log(self)
    }

    fn change_feed(&self) -> Result<Option<Box<dyn gridmap_store::ChangeFeed>>> {
        Ok(Some(Box::new(self.listen()?)))
    }
    fn visits_from(&self, position: usize) -> Result<Vec<gridmap_core::model::Visit>> {
        PgStore::visits_from(self, position)
    }
    fn each_visit_from(
        &self,
        position: usize,
        each: &mut dyn FnMut(gridmap_core::model::Visit),
    ) -> Result<()> {
        PgStore::each_visit_from(self, position, each)
    }
    fn scorecard_houses(
        &self,
        building_at: &dyn Fn(&str) -> Option<usize>,
    ) -> RegisterResult<Vec<gridmap_store::scorecard::HouseCount>> {
        PgStore::scorecard_houses(self, building_at)
    }
    fn towns_under(&self, division: &str) -> Result<Vec<gridmap_store::TownFigures>> {
        PgStore::towns_under(self, division)
    }
    fn opener(&self) -> Result<gridmap_store::Opener> {
        Ok(PgStore::opener(self))
    }

    fn visit_worker(&self, id: &str) -> Result<Option<String>> {
        Ok(self
            .lock()
            .query_opt(
                "SELECT worker FROM visits WHERE town = $1 AND id = $2",
                &[&self.town, &id],
            )
            .db()?
            .map(|r| r.get(0)))
    }

    fn save_plan(
        &mut self,
        name: &str,
        village: &str,
        saved_by: &str,
        grids: u32,
        body: &str,
    ) -> Result<i64> {
        PgStore::save_plan(self, name, village, saved_by, grids, body)
    }
    fn plans(&self) -> Result<Vec<PlanEntry>> {
        PgStore::plans(self)
    }
    fn plan(&self, id: i64) -> Result<Option<SavedPlan>> {
        PgStore::plan(self, id)
    }
    fn set_plan_adopted(&mut self, id: i64, adopted: &str) -> Result<bool> {
        PgStore::set_plan_adopted(self, id, adopted)
    }
    fn delete_plan(&mut self, id: i64) -> Result<bool> {
        PgStore::delete_plan(self, id)
    }

    fn houses(&self) -> RegisterResult<Vec<House>> {
        PgStore::houses(self)
    }
    fn people(&self, key: &RegisterKey, view: View) -> RegisterResult<Vec<Person>> {
        PgStore::people(self, key, view)
    }
    fn houses_of(&self, building: &str) -> RegisterResult<Vec<House>> {
        PgStore::houses_of(self, building)
    }
    fn people_of(
        &self,
        key: &RegisterKey,
        view: View,
        building: &str,
    ) -> RegisterResult<Vec<Person>> {
        PgStore::people_of(self, key, view, building)
    }
    fn people_by_building(&self) -> RegisterResult<HashMap<String, u64>> {
        PgStore::people_by_building(self)
    }
    fn people_unlinked(&self) -> RegisterResult<u64> {
        PgStore::people_unlinked(self)
    }
    fn house_in_building(&self, house: &str, building: &str) -> RegisterResult<bool> {
        PgStore::house_in_building(self, house, building)
    }
    fn register_stats(&self, by: GroupBy) -> RegisterResult<RegisterStats> {
        PgStore::register_stats(self, by)
    }
    fn import_households(
        &mut self,
        rows: &[FormRow],
        key: &RegisterKey,
        options: HouseholdOptions,
    ) -> RegisterResult<HouseholdImport> {
        PgStore::import_households(self, rows, key, options)
    }
    fn rekey(&mut self, old: &RegisterKey, new: &RegisterKey) -> RegisterResult<usize> {
        PgStore::rekey(self, old, new)
    }
    fn fingerprint_scheme(&self) -> RegisterResult<u32> {
        PgStore::fingerprint_scheme(self)
    }

    fn plates_for(&mut self, buildings: &[String]) -> RegisterResult<PlateSet> {
        PgStore::plates_for(self, buildings)
    }
    fn mark_printed(&mut self, tokens: &[String]) -> RegisterResult<()> {
        PgStore::mark_printed(self, tokens)
    }
    fn plate(&self, token: &str) -> RegisterResult<Option<Plate>> {
        PgStore::plate(self, token)
    }
    fn count_scan(&mut self, token: &str) -> RegisterResult<bool> {
        PgStore::count_scan(self, token)
    }
    fn buildings_by_grid(&self) -> RegisterResult<BTreeMap<String, Vec<String>>> {
        PgStore::buildings_by_grid(self)
    }
    fn plates_in_use(&self) -> RegisterResult<PlatesInUse> {
        PgStore::plates_in_use(self)
    }

    fn add_declaration(
        &mut self,
        key: &RegisterKey,
        d: &NewDeclaration,
    ) -> RegisterResult<Option<i64>> {
        PgStore::add_declaration(self, key, d)
    }
    fn pending_declarations(
        &self,
        key: &RegisterKey,
        view: View,
    ) -> RegisterResult<Vec<Declaration>> {
        PgStore::pending_declarations(self, key, view)
    }
    fn declaration(
        &self,
        key: &RegisterKey,
        view: View,
        id: i64,
    ) -> RegisterResult<Option<Declaration>> {
        PgStore::declaration(self, key, view, id)
    }
    fn confirm_declaration(
        &mut self,
        key: &RegisterKey,
        id: i64,
        who: &str,
    ) -> RegisterResult<Option<HouseholdImport>> {
        PgStore::confirm_declaration(self, key, id, who)
    }
    fn reject_declaration(&mut self, id: i64) -> RegisterResult<Option<usize>> {
        PgStore::reject_declaration(self, id)
    }
    fn declaration_place(&self, id: i64) -> RegisterResult<Option<(String, Option<String>)>> {
        PgStore::declaration_place(self, id)
    }
    fn reconcile(
        &mut self,
        rows: &[PoliceRow],
        key: &RegisterKey,
        options: &ReconcileOptions,
    ) -> RegisterResult<ReconcileRun> {
        PgStore::reconcile(self, rows, key, options)
    }
    fn open_tasks(&self, grid: Option<&str>) -> RegisterResult<Vec<Task>> {
        PgStore::open_tasks(self, grid)
    }
    fn finish_task(&mut self, id: i64) -> RegisterResult<bool> {
        PgStore::finish_task(self, id)
    }
    fn latest_reconciliation(&self) -> RegisterResult<Option<ReconciliationRecord>> {
        PgStore::latest_reconciliation(self)
    }

    fn put_key_subject(
        &mut self,
        key: &RegisterKey,
        s: &gridmap_store::key_subjects::KeySubject,
    ) -> RegisterResult<()> {
        PgStore::put_key_subject(self, key, s)
    }
    fn key_subjects(
        &self,
        key: &RegisterKey,
    ) -> RegisterResult<Vec<gridmap_store::key_subjects::KeySubject>> {
        PgStore::key_subjects(self, key)
    }
    fn key_subject_building(&self, id: &str) -> RegisterResult<Option<String>> {
        PgStore::key_subject_building(self, id)
    }
    fn key_subject_counts(
        &self,
        building_at: &dyn Fn(&str) -> Option<usize>,
    ) -> RegisterResult<Vec<(Option<usize>, bool)>> {
        PgStore::key_subject_counts(self, building_at)
    }
}
