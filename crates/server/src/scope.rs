//! Who may read and write what: the one place authorisation is decided.
//!
//! Each user has a [`Role`] and a scope, a node of the org tree. What the scope means follows
//! from the role ([`Reach`]): `admin` and anyone scoped to the town code reach the whole town; a
//! `village_manager` (or a `planner` scoped to a village) reaches one village; a `grid_leader`
//! or `grid_worker` reaches one grid. A grid is **seen** when it lies in the reach: its code is
//! the grid's, or its village is the village's. A building is seen when its grid is seen; a
//! building in no grid only by the whole town, or by a village whose boundary holds it.
//!
//! What each role may do, within its reach ([`Role`]'s methods):
//!
//! | role | edit grids | record visits | people in clear | plan | audit log |
//! |---|---|---|---|---|---|
//! | admin | yes | yes | yes | yes | yes |
//! | town_supervisor | yes | no | no (masked) | yes | no |
//! | village_manager | yes | no | no (masked) | yes | no |
//! | grid_leader | its grid's boundary | yes | yes | no | no |
//! | grid_worker | no | yes | yes | no | no |
//! | planner | no | no | no (masked) | yes | no |
//!
//! Visits come from the field roles (grid_worker, grid_leader) and admin only: a supervisor or
//! planner who records a visit would count towards a grid's rate without having been there.
//!
//! A **grid write** (create, change, delete) is checked on what it touches, not only on the
//! code in its URL ([`check_grid_write`], [`Reach::violations`]):
//! - the grid as it is must be seen, and its new code too; a grid leader may change only the
//!   boundary and name of their own grid, and may neither create nor delete grids;
//! - below town level nobody sets another village: the new grid's village is the user's (or the
//!   grid's own, for a grid leader), whatever the request says;
//! - the new boundary may not reach outside the user's village (by more than the validator's
//!   1 m²), may not overlap a grid the user may not edit — `force` overrides overlaps only with
//!   grids the user may edit — and may not take buildings from a grid the user may not edit.

use geo::Coord;
use gridmap_core::locate::{Location, PreparedArea};
use gridmap_core::model::Grid;
use gridmap_store::StoredGrid;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::Project;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    TownSupervisor,
    VillageManager,
    GridLeader,
    GridWorker,
    Planner,
}

impl Role {
    /// Every role, from broadest to narrowest.
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::TownSupervisor,
        Role::VillageManager,
        Role::GridLeader,
        Role::GridWorker,
        Role::Planner,
    ];

    /// The role named `s` (`grid_leader`, …).
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The role's name as stored and sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::TownSupervisor => "town_supervisor",
            Role::VillageManager => "village_manager",
            Role::GridLeader => "grid_leader",
            Role::GridWorker => "grid_worker",
            Role::Planner => "planner",
        }
    }

    /// May change grid boundaries (within its reach).
    pub fn edits_grids(self) -> bool {
        matches!(
            self,
            Role::Admin | Role::TownSupervisor | Role::VillageManager | Role::GridLeader
        )
    }

    /// May create and delete grids (a grid leader only reshapes their own).
    pub fn creates_grids(self) -> bool {
        matches!(
            self,
            Role::Admin | Role::TownSupervisor | Role::VillageManager
        )
    }

    /// May record visits: the field roles and admin.
    pub fn records_visits(self) -> bool {
        matches!(self, Role::Admin | Role::GridLeader | Role::GridWorker)
    }

    /// Sees people in clear (within its reach); the others see them masked.
    pub fn sees_people_clear(self) -> bool {
        matches!(self, Role::Admin | Role::GridLeader | Role::GridWorker)
    }

    /// May re-partition villages and read plans.
    pub fn plans(self) -> bool {
        matches!(
            self,
            Role::Admin | Role::Planner | Role::TownSupervisor | Role::VillageManager
        )
    }

    /// May read the audit log of clear personal-data reads.
    pub fn reads_audit(self) -> bool {
        self == Role::Admin
    }

    /// The capabilities by name, for `/api/me`.
    pub fn capabilities(self) -> Vec<&'static str> {
        [
            ("edit_grids", self.edits_grids()),
            ("create_grids", self.creates_grids()),
            ("record_visits", self.records_visits()),
            ("people_in_clear", self.sees_people_clear()),
            ("plan", self.plans()),
            ("read_audit", self.reads_audit()),
        ]
        .into_iter()
        .filter_map(|(name, yes)| yes.then_some(name))
        .collect()
    }
}

/// The part of the org tree a user reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach<'a> {
    /// The whole town.
    Town,
    /// One village, by code.
    Village(&'a str),
    /// One grid, by code.
    Grid(&'a str),
    /// Nothing (an unknown role, or a scope that does not fit the role).
    Nothing,
}

impl AuthUser {
    /// The user's role (`None` for a role this server does not know: it may do nothing).
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.0.role)
    }

    /// Whether the user's role has `capability`.
    pub fn can(&self, capability: fn(Role) -> bool) -> bool {
        self.role().is_some_and(capability)
    }

    /// [`AuthUser::can`], or 403.
    pub fn require(&self, capability: fn(Role) -> bool) -> Result<(), AppError> {
        if self.can(capability) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// What the user's scope means for their role, in town `town`.
    pub fn reach(&self, town: &str) -> Reach<'_> {
        let scope = self.0.scope.as_str();
        match self.role() {
            Some(Role::Admin) => Reach::Town,
            Some(_) if scope == town => Reach::Town,
            Some(Role::VillageManager | Role::Planner) => Reach::Village(scope),
            Some(Role::GridLeader | Role::GridWorker) => Reach::Grid(scope),
            Some(Role::TownSupervisor) | None => Reach::Nothing,
        }
    }

    /// A key for what the user reaches: users with the same key see the same (caches).
    pub fn reach_key(&self, town: &str) -> String {
        match self.reach(town) {
            Reach::Town => "*".into(),
            Reach::Village(v) => format!("village:{v}"),
            Reach::Grid(g) => format!("grid:{g}"),
            Reach::Nothing => "nothing".into(),
        }
    }

    /// Whether the user reaches the whole town.
    pub fn town_wide(&self, town: &str) -> bool {
        self.reach(town) == Reach::Town
    }

    /// Whether the grid (by code and village) lies in the user's part of the org tree.
    pub fn sees_grid(&self, town: &str, code: &str, village: Option<&str>) -> bool {
        match self.reach(town) {
            Reach::Town => true,
            Reach::Village(v) => village == Some(v),
            Reach::Grid(c) => code == c,
            Reach::Nothing => false,
        }
    }

    /// Whether the grid with `code` of project `p` is in the user's scope (false for an
    /// unknown code).
    pub fn sees_code(&self, p: &Project, code: &str) -> bool {
        p.grid(code)
            .is_some_and(|g| self.sees_grid(&p.town.code, code, g.grid.village.as_deref()))
    }

    /// Whether the user may change grid boundaries (in their reach).
    pub fn edits_grids(&self) -> bool {
        self.can(Role::edits_grids)
    }

    /// Whether the user may change the grid with `code` as it stands in `p`.
    pub fn edits_code(&self, p: &Project, code: &str) -> bool {
        self.edits_grids() && self.sees_code(p, code)
    }

    /// Whether building `i` of `p` lies in the user's part: its grid is seen; a building in no
    /// grid is seen town-wide, and by a village whose boundary holds it.
    pub fn sees_building(&self, p: &Project, i: usize) -> bool {
        match p.grid_of(i) {
            Some(code) => self.sees_code(p, code),
            None => match self.reach(&p.town.code) {
                Reach::Town => true,
                Reach::Village(v) => p.location(i).is_some_and(|c| in_village(p, v, c)),
                Reach::Grid(_) | Reach::Nothing => false,
            },
        }
    }
}

/// Whether `c` lies in (or on) village `v`'s boundary; false when it has none.
pub fn in_village(p: &Project, v: &str, c: Coord) -> bool {
    p.villages
        .iter()
        .find(|x| x.code == v)
        .and_then(|x| x.boundary.as_ref())
        .is_some_and(|b| PreparedArea::new(b).locate(c) != Location::Outside)
}

/// Checks a grid write before validation and fixes the candidate's village: `existing` is the
/// grid as it stands (`None` when the request creates one; `deleting` for a delete). Answers
/// 403 when the user may not write this grid, 400 when the new code or village is not valid.
pub fn check_grid_write(
    p: &Project,
    user: &AuthUser,
    existing: Option<&StoredGrid>,
    candidate: Option<&mut Grid>,
    deleting: bool,
) -> Result<(), AppError> {
    user.require(Role::edits_grids)?;
    let town = p.town.code.as_str();
    if let Some(g) = existing
        && !user.sees_grid(town, &g.grid.code, g.grid.village.as_deref())
    {
        return Err(AppError::Forbidden);
    }
    if (existing.is_none() || deleting) && !user.can(Role::creates_grids) {
        return Err(AppError::Forbidden);
    }
    let Some(candidate) = candidate else {
        return Ok(());
    };
    let kept = existing.and_then(|g| g.grid.village.clone());
    match user.reach(town) {
        Reach::Town => {
            if candidate.village.is_none() {
                candidate.village = kept;
            }
        }
        Reach::Village(v) => match candidate.village.as_deref() {
            None => candidate.village = Some(v.to_string()),
            Some(x) if x == v => {}
            Some(_) => return Err(forbidden_village()),
        },
        Reach::Grid(c) => {
            if candidate.code != c {
                return Err(AppError::Forbidden);
            }
            match candidate.village.as_deref() {
                None => candidate.village = kept,
                Some(x) if Some(x) == kept.as_deref() => {}
                Some(_) => return Err(forbidden_village()),
            }
        }
        Reach::Nothing => return Err(AppError::Forbidden),
    }
    if let Some(v) = candidate.village.as_deref()
        && !p.villages.is_empty()
        && !p.villages.iter().any(|x| x.code == v)
    {
        return Err(AppError::BadRequest(format!(
            "village {} is not a village of this town",
            crate::input::short(v)
        )));
    }
    if existing.is_none() {
        crate::input::check_new_grid_code(p, &candidate.code, candidate.village.as_deref())?;
    }
    if !user.sees_grid(town, &candidate.code, candidate.village.as_deref()) {
        return Err(AppError::Forbidden);
    }
    Ok(())
}

fn forbidden_village() -> AppError {
    AppError::ForbiddenBecause("only town-level users may put a grid in another village".into())
}

/// What a checked edit would do that reaches outside the user's part, in words (empty: the
/// edit stays inside it). `outside_parent_m2`: the area of the candidate outside its village
/// when the edit makes it larger (by more than the validator's 1 m² floor); `overlapping`: the
/// grids it would overlap more than today; `taken_from`: the grids it would take buildings
/// from, with how many.
pub fn reach_violations(
    p: &Project,
    user: &AuthUser,
    outside_parent_m2: Option<f64>,
    overlapping: &[&str],
    taken_from: &[(String, usize)],
) -> Vec<Violation> {
    let mut out = Vec::new();
    if !user.town_wide(&p.town.code)
        && let Some(a) = outside_parent_m2
    {
        out.push(Violation::OutsideVillage { area_m2: a });
    }
    let grids = overlapping
        .iter()
        .filter(|c| !user.edits_code(p, c))
        .count();
    if grids > 0 {
        out.push(Violation::OverlapsForeign { grids });
    }
    let buildings: usize = taken_from
        .iter()
        .filter(|(c, _)| !user.edits_code(p, c))
        .map(|(_, n)| n)
        .sum();
    if buildings > 0 {
        out.push(Violation::TakesBuildings { buildings });
    }
    out
}

/// A way in which a grid edit reaches outside the user's part of the org tree.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    /// The grid would reach further outside the user's village, by this much in all (m²).
    OutsideVillage { area_m2: f64 },
    /// The grid would overlap, more than today, grids the user may not edit.
    OverlapsForeign { grids: usize },
    /// The grid would take buildings from grids the user may not edit.
    TakesBuildings { buildings: usize },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::OutsideVillage { area_m2 } => {
                write!(f, "reaches {area_m2:.1} m² outside your village")
            }
            Violation::OverlapsForeign { grids } => {
                write!(f, "overlaps {grids} grid(s) you may not edit")
            }
            Violation::TakesBuildings { buildings } => {
                write!(
                    f,
                    "takes {buildings} building(s) from grids you may not edit"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_capabilities() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
        assert!(!Role::Planner.records_visits());
        assert!(!Role::TownSupervisor.records_visits());
        assert!(Role::GridWorker.records_visits());
        assert!(Role::GridLeader.edits_grids() && !Role::GridLeader.creates_grids());
        assert_eq!(
            Role::GridWorker.capabilities(),
            ["record_visits", "people_in_clear"]
        );
    }
}
