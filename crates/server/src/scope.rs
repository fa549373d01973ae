//! Who may read and write what: the one place authorisation is decided.
//!
//! Each user has a [`Role`] and a scope, a node of the org tree. What the scope means follows
//! from the role ([`Reach`]): `admin`, anyone scoped to the town code, and a `town_supervisor`
//! or `planner` scoped to a division above the town (a district or city code that begins the
//! town's, [`gridmap_users::division_holds`]) reach the whole town; a
//! `village_manager` (or a `planner` scoped to a village) reaches one village; a `grid_leader`
//! or `grid_worker` reaches one grid. A grid is **seen** when it lies in the reach: its code is
//! the grid's, or its village is the village's. A building, address or visit is seen when the
//! user's area holds it, by its grid *or by where it lies* — one rule, [`Scope`], used by the
//! OGC API items, tiles, heatmaps, statistics and the building panel: a building in no grid is
//! seen by the whole town and by the village whose boundary holds it, never by a grid role.
//!
//! What each role may do, within its reach, is [`Role`]'s methods: the table is in the
//! `gridmap-users` crate, which defines them for the server and `gridmap user add` alike.
//!
//! Visits come from the field roles (grid_worker, grid_leader) and admin only: a supervisor or
//! planner who records a visit would count towards a grid's rate without having been there.
//!
//! A **grid write** (create, change, delete) is checked on what it touches, not only on the
//! code in its URL ([`check_grid_write`], [`reach_violations`]):
//! - the grid as it is must be seen, and its new code too; a grid leader may change only the
//!   boundary and name of their own grid, and may neither create nor delete grids;
//! - below town level nobody sets another village: the new grid's village is the user's (or the
//!   grid's own, for a grid leader), whatever the request says;
//! - the new boundary may not reach outside the user's village (by more than the validator's
//!   1 m²), may not overlap a grid the user may not edit — `force` overrides overlaps only with
//!   grids the user may edit — and may not take buildings from a grid the user may not edit.

use std::sync::{Arc, Mutex};

use geo::Coord;
use gridmap_core::locate::{Location, PreparedArea};
use gridmap_core::model::Grid;
use gridmap_store::StoredGrid;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::Project;

/// A user's role and its capabilities: defined in `gridmap-users`, shared with the CLI.
pub use gridmap_users::Role;

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
            // A district's or city's user, in a town of their division.
            Some(_) if self.division_above(town).is_some() => Reach::Town,
            Some(Role::VillageManager | Role::Planner) => Reach::Village(scope),
            Some(Role::GridLeader | Role::GridWorker) => Reach::Grid(scope),
            Some(Role::TownSupervisor) | None => Reach::Nothing,
        }
    }

    /// The division above town `town` the user is scoped at, if they are a division's user
    /// (a `town_supervisor` or `planner` whose scope is a district or city code that begins
    /// the town's): what `GET /api/towns` compares.
    pub fn division_above(&self, town: &str) -> Option<&str> {
        let scope = self.0.scope.as_str();
        (self.can(Role::spans_divisions) && gridmap_users::division_holds(scope, town))
            .then_some(scope)
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

    /// Whether building `i` of `p` lies in the user's part (see [`Scope::building`]). For
    /// many buildings, make one [`Scope`] with [`AuthUser::scope`] and ask it.
    pub fn sees_building(&self, p: &Project, i: usize) -> bool {
        self.scope(p).building(i)
    }

    /// Whether the user sees a self-report declaration (自主申报) for building `building` (by
    /// position in the scope's project; `None`: a building no longer in the project): when the
    /// building lies in their part ([`Scope::building`]); one gone from the project, town-wide
    /// users only. People in it are clear or masked as [`Role::sees_people_clear`] says.
    pub fn sees_declaration(&self, scope: &Scope, building: Option<usize>) -> bool {
        match building {
            Some(i) => scope.building(i),
            None => scope.town_wide(),
        }
    }

    /// Whether the user may confirm or reject a declaration they see: the roles that record
    /// visits, since checking a declaration against the household (核查比对) is field work.
    pub fn reviews_declaration(&self, scope: &Scope, building: Option<usize>) -> bool {
        self.can(Role::records_visits) && self.sees_declaration(scope, building)
    }

    /// What the user sees of `p`: the one rule for buildings, addresses and visits.
    pub fn scope<'p>(&self, p: &'p Project) -> Scope<'p> {
        Scope::new(p, self)
    }
}

/// A user's reach, owned (a [`Scope`] outlives the borrow of the user).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Area {
    Town,
    /// A village, by position in `Project::villages` (`None`: a code the project does not
    /// have, whose grids may still be seen by code).
    Village(String, Option<u32>),
    /// A grid, by code and position in `Project::grids` (`None`: not a grid of the project).
    Grid(String, Option<u32>),
    Nothing,
}

/// What one user sees of one project snapshot: **the** rule for what is in scope, used by the
/// items of the OGC API, the tiles, the heatmaps, the statistics and the building panel.
///
/// A building, address or visit is seen when the user's area — the town, a village or a grid —
/// holds it, by its grid *or* by where it lies:
/// - the town (admin, or a scope that is the town code): everything;
/// - a village: what is assigned to one of its grids (a building in several grids: when one of
///   them is the village's), and what lies inside its boundary, in a grid or not;
/// - a grid: what is assigned to it (a building in several grids: when it is one of them); an
///   address or a visit without a building also when its point lies in the grid. A building in
///   no grid is never seen by a grid role: no grid holds it.
///
/// Where each building and address lies among the villages is worked out once per loaded
/// project ([`Placement`]), so asking costs O(1) per building.
pub struct Scope<'p> {
    p: &'p Project,
    area: Area,
    placement: std::sync::OnceLock<Arc<Placement>>,
    prepared: std::sync::OnceLock<Option<PreparedArea>>,
}

impl<'p> Scope<'p> {
    fn new(p: &'p Project, user: &AuthUser) -> Scope<'p> {
        let area = match user.reach(&p.town.code) {
            Reach::Town => Area::Town,
            Reach::Village(v) => Area::Village(
                v.to_string(),
                p.villages
                    .iter()
                    .position(|x| x.code == v)
                    .map(|i| i as u32),
            ),
            Reach::Grid(g) => Area::Grid(g.to_string(), p.grid_by_code.get(g).map(|&i| i as u32)),
            Reach::Nothing => Area::Nothing,
        };
        Scope {
            p,
            area,
            placement: std::sync::OnceLock::new(),
            prepared: std::sync::OnceLock::new(),
        }
    }

    /// The project this scope reads.
    pub fn project(&self) -> &'p Project {
        self.p
    }

    /// Whether the user reaches the whole town.
    pub fn town_wide(&self) -> bool {
        self.area == Area::Town
    }

    fn placement(&self) -> &Placement {
        self.placement.get_or_init(|| placement(self.p))
    }

    /// The user's area, prepared for point tests (a village's boundary or a grid's geometry).
    fn prepared(&self) -> Option<&PreparedArea> {
        self.prepared
            .get_or_init(|| match &self.area {
                Area::Village(_, Some(v)) => self.p.villages[*v as usize]
                    .boundary
                    .as_ref()
                    .map(PreparedArea::new),
                Area::Grid(_, Some(g)) => {
                    Some(PreparedArea::new(&self.p.grids[*g as usize].grid.geometry))
                }
                _ => None,
            })
            .as_ref()
    }

    /// Whether the grid at position `g` of the project is in the user's area.
    pub fn grid_at(&self, g: usize) -> bool {
        let grid = &self.p.grids[g].grid;
        match &self.area {
            Area::Town => true,
            Area::Village(v, _) => grid.village.as_deref() == Some(v.as_str()),
            Area::Grid(c, _) => grid.code == *c,
            Area::Nothing => false,
        }
    }

    /// Whether the grid with `code` is in the user's area (false for an unknown code).
    pub fn grid_code(&self, code: &str) -> bool {
        self.p
            .grid_by_code
            .get(code)
            .is_some_and(|&g| self.grid_at(g))
    }

    /// Whether building `i` is in the user's area.
    pub fn building(&self, i: usize) -> bool {
        use gridmap_core::assign::Assignment;
        let by_grid = |gs: &[u32]| gs.iter().any(|&g| self.grid_at(g as usize));
        match &self.area {
            Area::Town => i < self.p.buildings.len(),
            Area::Nothing => false,
            Area::Grid(..) => match self.p.assignment.get(i) {
                Some(Assignment::One { grid, .. }) => by_grid(&[*grid]),
                Some(Assignment::Many(gs)) => by_grid(gs),
                _ => false,
            },
            Area::Village(_, at) => {
                let assigned = match self.p.assignment.get(i) {
                    Some(Assignment::One { grid, .. }) => by_grid(&[*grid]),
                    Some(Assignment::Many(gs)) => by_grid(gs),
                    _ => false,
                };
                assigned
                    || at.is_some_and(|v| {
                        self.placement().building_village.get(i).copied() == Some(v)
                    })
            }
        }
    }

    /// The buildings in the user's area, by position, ascending.
    pub fn buildings(&self) -> Vec<u32> {
        use gridmap_core::assign::Assignment;
        let p = self.p;
        match &self.area {
            Area::Town => (0..p.buildings.len() as u32).collect(),
            Area::Nothing => Vec::new(),
            _ => {
                let mut out: Vec<u32> = p
                    .grid_buildings
                    .iter()
                    .enumerate()
                    .filter(|(g, _)| self.grid_at(*g))
                    .flat_map(|(_, members)| members.iter().copied())
                    .collect();
                // Buildings in several grids, and (for a village) those lying inside it.
                out.extend(
                    p.assignment
                        .iter()
                        .enumerate()
                        .filter(|(_, a)| !matches!(a, Assignment::One { .. }))
                        .map(|(i, _)| i as u32)
                        .filter(|&i| self.building(i as usize)),
                );
                if let Area::Village(_, Some(v)) = self.area {
                    out.extend(
                        self.placement().village_buildings[v as usize]
                            .iter()
                            .copied(),
                    );
                }
                out.sort_unstable();
                out.dedup();
                out
            }
        }
    }

    /// Whether address `i` is in the user's area: by its stated grid, or by where it lies.
    pub fn address(&self, i: usize) -> bool {
        let Some(a) = self.p.addresses.get(i) else {
            return false;
        };
        match &self.area {
            Area::Town => true,
            Area::Nothing => false,
            Area::Grid(..) => {
                a.declared_grid
                    .as_deref()
                    .is_some_and(|g| self.grid_code(g))
                    || self.holds_point(a.point.0)
            }
            Area::Village(_, at) => {
                a.declared_grid
                    .as_deref()
                    .is_some_and(|g| self.grid_code(g))
                    || at.is_some_and(|v| {
                        self.placement().address_village.get(i).copied() == Some(v)
                    })
            }
        }
    }

    /// Whether a visit is in the user's area: its building's, or (a visit to no known
    /// building) where its point lies.
    pub fn visit(&self, log: &crate::visit_log::VisitLog, i: usize) -> bool {
        match log.building(i) {
            Some(b) => self.building(b as usize),
            None => match &self.area {
                Area::Town => true,
                _ => log.point(i).is_some_and(|pt| self.holds_point(pt.0)),
            },
        }
    }

    /// Whether point `c` lies in (or on) the user's area.
    pub fn holds_point(&self, c: Coord) -> bool {
        match &self.area {
            Area::Town => true,
            Area::Nothing => false,
            _ => self
                .prepared()
                .is_some_and(|a| a.locate(c) != Location::Outside),
        }
    }

    /// The village whose boundary holds building `i` (by code), if any.
    pub fn village_of_building(&self, i: usize) -> Option<&'p str> {
        let v = *self.placement().building_village.get(i)?;
        self.p.villages.get(v as usize).map(|x| x.code.as_str())
    }

    /// The village whose boundary holds address `i` (by code), if any.
    pub fn village_of_address(&self, i: usize) -> Option<&'p str> {
        let v = *self.placement().address_village.get(i)?;
        self.p.villages.get(v as usize).map(|x| x.code.as_str())
    }
}

/// Where the buildings and addresses of a loaded project lie among its villages: by position,
/// the position of the village whose boundary holds each ([`NO_VILLAGE`] for none), and each
/// village's buildings. Made once per loaded project and shared by every snapshot made from
/// it (grid edits change neither buildings, addresses nor villages; a reload makes new ones).
pub struct Placement {
    /// For each building (by position), the position of the village holding its location.
    pub building_village: Vec<u32>,
    /// For each address (by position), the position of the village holding its point.
    pub address_village: Vec<u32>,
    /// The buildings inside each village (by village position), ascending.
    pub village_buildings: Vec<Vec<u32>>,
}

/// No village holds it.
pub const NO_VILLAGE: u32 = u32::MAX;

type PlacementKey = (
    std::sync::Weak<Vec<Option<Coord>>>,
    std::sync::Weak<Vec<gridmap_core::model::Address>>,
    u64,
);

/// The [`Placement`] of `p`, made on first use and kept while its buildings' locations live.
///
/// Kept out of the project snapshot, keyed by the shared location and address vectors (the
/// `Weak`s keep their allocations, so an address is never reused while an entry names it) and
/// a fingerprint of the villages.
pub fn placement(p: &Project) -> Arc<Placement> {
    static CACHE: Mutex<Vec<(PlacementKey, Arc<Placement>)>> = Mutex::new(Vec::new());
    let fingerprint = villages_fingerprint(&p.villages);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cache.retain(|((l, a, _), _)| l.strong_count() > 0 && a.strong_count() > 0);
    let found = cache.iter().find(|((l, a, f), _)| {
        std::ptr::eq(l.as_ptr(), Arc::as_ptr(&p.locations))
            && std::ptr::eq(a.as_ptr(), Arc::as_ptr(&p.addresses))
            && *f == fingerprint
    });
    if let Some((_, made)) = found {
        return made.clone();
    }
    let made = Arc::new(place(p));
    cache.push((
        (
            Arc::downgrade(&p.locations),
            Arc::downgrade(&p.addresses),
            fingerprint,
        ),
        made.clone(),
    ));
    made
}

fn villages_fingerprint(villages: &[gridmap_core::model::Village]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for v in villages {
        v.code.hash(&mut h);
        if let Some(b) = &v.boundary {
            for poly in &b.0 {
                poly.exterior().0.len().hash(&mut h);
                if let Some(c) = poly.exterior().0.first() {
                    c.x.to_bits().hash(&mut h);
                    c.y.to_bits().hash(&mut h);
                }
            }
        }
    }
    h.finish()
}

fn place(p: &Project) -> Placement {
    use rayon::prelude::*;
    use rstar::primitives::{GeomWithData, Rectangle};
    let areas: Vec<Option<PreparedArea>> = p
        .villages
        .iter()
        .map(|v| v.boundary.as_ref().map(PreparedArea::new))
        .collect();
    let tree = rstar::RTree::bulk_load(
        areas
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let r = a.as_ref()?.bbox()?;
                Some(GeomWithData::new(
                    Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                    i as u32,
                ))
            })
            .collect(),
    );
    let locate = |c: Coord| -> u32 {
        let mut hits: Vec<u32> = tree
            .locate_all_at_point(&[c.x, c.y])
            .map(|e| e.data)
            .filter(|&v| {
                areas[v as usize]
                    .as_ref()
                    .is_some_and(|a| a.locate(c) != Location::Outside)
            })
            .collect();
        hits.sort_unstable();
        hits.first().copied().unwrap_or(NO_VILLAGE)
    };
    let building_village: Vec<u32> = p
        .locations
        .par_iter()
        .map(|c| c.map_or(NO_VILLAGE, locate))
        .collect();
    let address_village: Vec<u32> = p.addresses.par_iter().map(|a| locate(a.point.0)).collect();
    let mut village_buildings = vec![Vec::new(); p.villages.len()];
    for (i, &v) in building_village.iter().enumerate() {
        if v != NO_VILLAGE {
            village_buildings[v as usize].push(i as u32);
        }
    }
    Placement {
        building_village,
        address_village,
        village_buildings,
    }
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

/// Checks that `user` may rewrite the grids of `village` as a whole (a repair, an adopted
/// plan): the roles that create grids, whose part holds the village. Each grid written is then
/// checked as any edit is (`grid_edit::check_reach`).
pub fn check_village_write(p: &Project, user: &AuthUser, village: &str) -> Result<(), AppError> {
    user.require(Role::creates_grids)?;
    match user.reach(&p.town.code) {
        Reach::Town => Ok(()),
        Reach::Village(v) if v == village => Ok(()),
        _ => Err(AppError::Forbidden),
    }
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
    OutsideVillage {
        /// Area of the grid outside the village after the edit, in m².
        area_m2: f64,
    },
    /// The grid would overlap, more than today, grids the user may not edit.
    OverlapsForeign {
        /// How many such grids.
        grids: usize,
    },
    /// The grid would take buildings from grids the user may not edit.
    TakesBuildings {
        /// How many buildings, in all.
        buildings: usize,
    },
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

    #[test]
    fn a_division_user_reaches_the_towns_under_the_division_only() {
        let user = |role: &str, scope: &str| {
            AuthUser(crate::state::Session {
                username: "u".into(),
                role: role.into(),
                scope: scope.into(),
                expires: std::time::Instant::now(),
            })
        };
        let town = "310104001";
        for (role, scope, reach) in [
            ("town_supervisor", "310104", Reach::Town),
            ("planner", "31", Reach::Town),
            ("town_supervisor", "310105", Reach::Nothing),
            ("town_supervisor", "3101040", Reach::Nothing),
            ("grid_worker", "310104", Reach::Grid("310104")),
            ("village_manager", "3101", Reach::Village("3101")),
        ] {
            let u = user(role, scope);
            assert_eq!(u.reach(town), reach, "{role} at {scope}");
            let division = (reach == Reach::Town).then_some(scope);
            assert_eq!(u.division_above(town), division, "{role} at {scope}");
        }
    }
}
