//! The server's state: the project held in memory (grids, buildings and where each building
//! lies, addresses, visits, the basemap), the store for writes, sessions.
//!
//! # Design
//! - **Snapshots.** The in-memory [`Project`] is shared through an `Arc`; readers take the
//!   current one and never wait for a writer. What only `gridmap import` changes (buildings,
//!   addresses, their indexes, geometries for tiles, people counts, the basemap) is `Arc`-shared
//!   by every snapshot.
//! - **Visits** change no snapshot: the one writer thread ([`crate::writer`]) commits them in
//!   batches and then updates, in place, the visit log shared by all snapshots ([`Live`]), the
//!   current snapshot's grid tallies and the heatmap pyramid (atomics).
//! - **Grid edits** make the next snapshot copy-on-write: the grid list and the validation
//!   report are new, made from the current snapshot's by
//!   [`gridmap_core::validate::revalidate`], which assigns again only the buildings in the old
//!   and new envelopes of the changed grids and redoes only the problems there (a property test
//!   holds the result equal to a fresh load). The assignment of every building is shared in
//!   chunks ([`gridmap_core::assign::Assignments`]): an edit copies the few chunks whose
//!   buildings it assigned again. The buildings of each grid and its tallies carry
//!   over but for the grids that changed or gained or lost a building. The swap happens with the
//!   writer of visits paused between two batches, so no visit is counted twice or lost.
//! - **Another process's writes** (`gridmap import` into the served file) are noticed by
//!   [`crate::watch`], which loads the file again in the background and swaps it in; other
//!   servers' writes to a shared PostgreSQL town are heard by [`crate::notify`].
//! - **Read work** (tiles, heatmaps, statistics, lists) runs off the runtime's threads, on half
//!   the cores at most ([`crate::reading`]), so that the writer of visits and the validation of
//!   edits keep a core.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use geo::{BoundingRect, Coord};
use gridmap_core::assign::Assignments;
use gridmap_core::model::{Address, BasemapFeature, BasemapLayer, Building, Town, Village};
use gridmap_store::{ProjectStore, StoredGrid, User};
use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};

use crate::error::AppError;
use crate::live::Live;

/// The basemap (roads and water) with an R-tree of feature envelopes. Only `gridmap import`
/// changes it, so a write through the server keeps the one it has.
pub struct Basemap {
    /// Every road and water feature, in import order.
    pub features: Vec<BasemapFeature>,
    /// Envelopes of `features`, by position.
    pub tree: RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>,
}

impl Basemap {
    /// Indexes `features`; those without an envelope (empty geometries) are left out.
    pub fn new(features: Vec<BasemapFeature>) -> Basemap {
        let tree = RTree::bulk_load(
            features
                .iter()
                .enumerate()
                .filter_map(|(i, f)| {
                    let r = f.geometry.bounding_rect()?;
                    Some(GeomWithData::new(
                        Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                        i as u32,
                    ))
                })
                .collect(),
        );
        Basemap { features, tree }
    }

    /// The features of `layer` whose envelope meets `area`, in import order.
    pub fn in_area(&self, layer: BasemapLayer, area: geo::Rect) -> Vec<(usize, &BasemapFeature)> {
        let env =
            rstar::AABB::from_corners([area.min().x, area.min().y], [area.max().x, area.max().y]);
        let mut out: Vec<(usize, &BasemapFeature)> = self
            .tree
            .locate_in_envelope_intersecting(&env)
            .map(|e| e.data as usize)
            .map(|i| (i, &self.features[i]))
            .filter(|(_, f)| f.layer == layer)
            .collect();
        out.sort_by_key(|(i, _)| *i);
        out
    }
}

/// The page cache (MiB) of a served GeoPackage's connections. The server reads each layer once,
/// in order, to load it, then writes visits and grids: the 256 MiB a connection opens with
/// (for imports) would only fill with pages read once, and C's allocator keeps them from the
/// process after SQLite frees them. On the district under a campaign's load, 16 MiB took idle
/// RSS from 881 to 704 MiB and answered visits faster (`docs/benchmarks.md`, session 17).
pub(crate) const SERVING_PAGE_CACHE_MIB: u32 = 16;

/// The project as the server reads it.
pub struct Project {
    /// The project's town.
    pub town: Town,
    /// Every village or community.
    pub villages: Vec<Village>,
    /// The current grids with their versions; positions here are the grid positions used
    /// throughout (assignment, tallies, `grid_by_code`).
    pub grids: Vec<StoredGrid>,
    /// The grids as validation takes them (same order as `grids`): the next snapshot's
    /// validation starts from them and this snapshot's report.
    pub grid_models: Vec<gridmap_core::model::Grid>,
    /// Buildings and addresses, with their indexes below, are shared between snapshots: only a
    /// reload (`gridmap import`) changes them.
    pub buildings: Arc<Vec<Building>>,
    /// Where each building lies (same order as `buildings`), in chunks shared with the
    /// snapshot before where a grid edit did not change them.
    pub assignment: Assignments,
    /// Every standard address (shared between snapshots, like `buildings`).
    pub addresses: Arc<Vec<Address>>,
    /// Every visit and each building's latest, shared between snapshots and updated in place by
    /// the writer (see [`Live`]).
    pub live: Arc<RwLock<Live>>,
    /// Each grid's tallies (by position), this snapshot's own.
    pub tallies: RwLock<Vec<crate::live::Tally>>,
    /// Visited and unvisited households of every building by map cell at every zoom, for the
    /// heatmaps and the overview layer of town-wide users; shared between snapshots, updated
    /// in place by the writer (atomics).
    pub pyramid: Arc<gridmap_tiles::Pyramid>,
    /// The buildings of each grid (by position), for scoped users' heatmaps.
    pub grid_buildings: Vec<Vec<u32>>,
    /// Each building's location (see `Building::location`), computed once.
    pub locations: Arc<Vec<Option<Coord>>>,
    /// Roads and water, drawn under everything (shared between snapshots).
    pub basemap: Arc<Basemap>,
    /// Building envelopes, for tiles and lookups.
    pub building_tree: Arc<RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>>,
    /// Building footprints encoded per tile, shared by the snapshots of the same buildings.
    pub building_shapes: Arc<crate::tiles::ShapeCache>,
    /// Building position by id.
    pub building_by_id: Arc<HashMap<String, u32>>,
    /// Grid position by code: tiles and statistics look grids up once per building.
    pub grid_by_code: HashMap<String, usize>,
    /// The coverage validation of this snapshot (for the problems layer).
    pub report: gridmap_core::validate::Report,
    /// People registered in each building's houses (by position), from the registers: shared
    /// between snapshots (only `gridmap import` changes them).
    pub people: Arc<Vec<u32>>,
    /// People in the registers whose house is linked to no building (人房未关联): they count
    /// against the linkage rate of the town, not of any grid.
    pub people_unlinked: u64,
    /// For each grid whose buildings are those it had in the snapshot this one was made from,
    /// its position there: its tallies carry over ([`crate::live::tallies_after`]).
    pub tallied: Vec<Option<u32>>,
}

/// Starts the validation thread now (see [`crate::start_threads`]).
pub(crate) fn start_validation() {
    let _ = regrid_pool();
}

/// The pool that validates grid edits (`None` if it could not be made): one thread. Session 18
/// gave it two, to share the scans of a district's million assignments that every edit made;
/// those scans are gone (`gridmap_core::validate::revalidate`), edits are made one at a time
/// anyway, and with one thread under a campaign's full load (`bench/run_live.sh`, 40 s) the
/// edits' p99 fell from 241 to 205 ms and visits rose from 2,480 to 2,520 a second
/// (`docs/benchmarks.md`, session 20). Its thread runs below the reading thread and above the
/// runtime's ([`crate::priority::VALIDATION`]).
fn regrid_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "gridmap-regrid".into())
            .start_handler(|_| {
                crate::priority::lower_this_thread(crate::priority::VALIDATION, "grid validation");
            })
            .build()
            .ok()
    })
    .as_ref()
}

/// A register read, or its empty answer when the store has no registers yet
/// ([`gridmap_store::StoreError::Unsupported`]); other failures are internal errors.
fn without_registers<T: Default>(
    read: Result<T, gridmap_store::registers::RegisterError>,
) -> Result<T, AppError> {
    use gridmap_store::{StoreError, registers::RegisterError};
    match read {
        Err(RegisterError::Store(StoreError::Unsupported { .. })) => Ok(T::default()),
        other => other.map_err(|e| AppError::Internal(e.to_string())),
    }
}

/// The heatmap weight of a building: its households, at least 1.
pub fn heat_weight(b: &Building) -> u32 {
    b.households.max(1)
}

/// The count pyramid of every located building, visited as `live` says.
pub fn pyramid_of(p: &Project, live: &Live) -> gridmap_tiles::Pyramid {
    let points: Vec<gridmap_tiles::CountPoint> = p
        .buildings
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            Some(gridmap_tiles::CountPoint {
                at: p.location(i)?,
                weight: heat_weight(b),
                visited: live.visited(i),
            })
        })
        .collect();
    gridmap_tiles::Pyramid::build(&points)
}

/// The buildings of each grid (by position), from every building's assignment.
fn members(grids: usize, assignments: &Assignments) -> Vec<Vec<u32>> {
    let mut members = vec![Vec::new(); grids];
    for (i, a) in assignments.iter().enumerate() {
        if let Some(g) = a.grid() {
            members[g as usize].push(i as u32);
        }
    }
    members
}

/// The buildings of each grid after an incremental validation of `old`'s grids, and for each
/// grid its position in `old` when it holds the same buildings as there. Only the grids that
/// changed, or lost or gained a building, are listed again.
fn members_after(
    old: &Project,
    delta: &gridmap_core::validate::Delta,
    assignments: &Assignments,
) -> (Vec<Vec<u32>>, Vec<Option<u32>>) {
    let mut same = delta.old_grid.clone();
    let mut new_of = vec![None; old.grids.len()];
    for (i, o) in delta.old_grid.iter().enumerate() {
        if let Some(o) = o {
            new_of[*o as usize] = Some(i);
        }
    }
    // Grids that lost or gained a building.
    for &b in &delta.reassigned {
        if let Some(g) = old.assignment[b as usize].grid()
            && let Some(i) = new_of[g as usize]
        {
            same[i] = None;
        }
        if let Some(g) = assignments[b as usize].grid() {
            same[g as usize] = None;
        }
    }
    let members = (0..same.len())
        .map(|i| match (same[i], delta.old_grid[i]) {
            (Some(o), _) => old.grid_buildings[o as usize].clone(),
            (None, kept) => {
                let mut list: Vec<u32> = kept
                    .map(|o| old.grid_buildings[o as usize].as_slice())
                    .unwrap_or_default()
                    .iter()
                    .chain(&delta.reassigned)
                    .copied()
                    .filter(|&b| assignments[b as usize].grid() == Some(i as u32))
                    .collect();
                list.sort_unstable();
                list.dedup();
                list
            }
        })
        .collect();
    (members, same)
}

impl Project {
    /// Reads everything from the store and assigns buildings to grids.
    pub fn load(store: &dyn ProjectStore) -> Result<Project, AppError> {
        let basemap = Arc::new(Basemap::new(store.basemap()?));
        Self::load_with(store, basemap)
    }

    /// [`Project::load`], keeping `basemap` instead of reading it again.
    pub fn load_with(store: &dyn ProjectStore, basemap: Arc<Basemap>) -> Result<Project, AppError> {
        let buildings = store.buildings()?;
        let addresses = store.addresses()?;
        let building_tree = Arc::new(RTree::bulk_load(
            buildings
                .iter()
                .enumerate()
                .filter_map(|(i, b)| {
                    let r = b.footprint_rect()?;
                    Some(GeomWithData::new(
                        Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                        i as u32,
                    ))
                })
                .collect(),
        ));
        let building_by_id = Arc::new(
            buildings
                .iter()
                .enumerate()
                .map(|(i, b)| (b.id.clone(), i as u32))
                .collect(),
        );
        let locations = Arc::new(buildings.iter().map(Building::location).collect());
        let ground = Project {
            town: store.town()?,
            villages: store.villages()?,
            grids: Vec::new(),
            grid_models: Vec::new(),
            buildings: Arc::new(buildings),
            assignment: Assignments::default(),
            addresses: Arc::new(addresses),
            live: Arc::new(RwLock::new(Live::default())),
            tallies: RwLock::new(Vec::new()),
            pyramid: Arc::new(gridmap_tiles::Pyramid::build(&[])),
            grid_buildings: Vec::new(),
            locations,
            basemap,
            building_tree,
            building_shapes: Arc::default(),
            building_by_id,
            grid_by_code: HashMap::new(),
            report: gridmap_core::validate::Report::default(),
            people: Arc::new(Vec::new()),
            people_unlinked: 0,
            tallied: Vec::new(),
        };
        // A store without registers counts nobody.
        let people_of = without_registers(store.people_by_building())?;
        let people = ground
            .buildings
            .iter()
            .map(|b| {
                people_of
                    .get(&b.id)
                    .map_or(0, |&n| n.min(u64::from(u32::MAX)) as u32)
            })
            .collect();
        let people_unlinked = without_registers(store.people_unlinked())?;
        let mut ground = ground;
        ground.people = Arc::new(people);
        ground.people_unlinked = people_unlinked;
        let mut project = Project::regrid(
            &ground,
            ground.town.clone(),
            ground.villages.clone(),
            store.grids()?,
        );
        let live = Live::load(&project, store)?;
        project.tallies = RwLock::new(crate::live::tallies(&project, &live));
        project.pyramid = Arc::new(pyramid_of(&project, &live));
        project.live = Arc::new(RwLock::new(live));
        Ok(project)
    }

    /// The project `old` with `grids` (and the town and villages as they now are): the buildings,
    /// addresses, their indexes and the visit log are shared with `old`; the assignment and the
    /// validation are made from `old`'s, again only where grids changed
    /// ([`gridmap_core::validate::revalidate`]). The tallies are left empty: the caller makes
    /// them when it swaps the snapshot in ([`crate::live::tallies`]).
    pub fn regrid(
        old: &Project,
        town: Town,
        villages: Vec<Village>,
        grids: Vec<StoredGrid>,
    ) -> Project {
        use gridmap_core::validate::{
            Before, CoverageInput, Options, Revalidation, revalidate, validate,
        };
        let model: Vec<_> = grids.iter().map(|g| g.grid.clone()).collect();
        let input = CoverageInput {
            grids: &model,
            buildings: &old.buildings,
            boundary: town.boundary.as_ref(),
            addresses: &old.addresses,
            input_defects: &[],
        };
        let options = Options::default();
        let started = Instant::now();
        let revalidation = if old.town.boundary == town.boundary {
            let near = |r: geo::Rect| -> Vec<u32> {
                let env = rstar::AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
                old.building_tree
                    .locate_in_envelope_intersecting(&env)
                    .map(|e| e.data)
                    .collect()
            };
            let before = Before {
                grids: &old.grid_models,
                report: &old.report,
                assignments: &old.assignment,
            };
            revalidate(before, &input, &options, &near)
        } else {
            let coverage = validate(&input, &options, &mut |_| {});
            Revalidation {
                report: coverage.report,
                assignments: coverage.assignments.into(),
                delta: None,
            }
        };
        tracing::debug!(
            ms = started.elapsed().as_secs_f64() * 1e3,
            incremental = revalidation.delta.is_some(),
            "grids validated"
        );
        let grid_by_code = grids
            .iter()
            .enumerate()
            .map(|(i, g)| (g.grid.code.clone(), i))
            .collect();
        let (grid_buildings, tallied) = match &revalidation.delta {
            Some(delta) => members_after(old, delta, &revalidation.assignments),
            None => (
                members(grids.len(), &revalidation.assignments),
                vec![None; grids.len()],
            ),
        };
        Project {
            pyramid: old.pyramid.clone(),
            grid_buildings,
            town,
            villages,
            grids,
            grid_models: model,
            buildings: old.buildings.clone(),
            assignment: revalidation.assignments,
            addresses: old.addresses.clone(),
            live: old.live.clone(),
            tallies: RwLock::new(Vec::new()),
            locations: old.locations.clone(),
            basemap: old.basemap.clone(),
            building_tree: old.building_tree.clone(),
            building_shapes: old.building_shapes.clone(),
            building_by_id: old.building_by_id.clone(),
            grid_by_code,
            report: revalidation.report,
            people: old.people.clone(),
            people_unlinked: old.people_unlinked,
            tallied,
        }
    }

    /// Each grid's tallies (by position), for reading.
    pub fn tallies(&self) -> std::sync::RwLockReadGuard<'_, Vec<crate::live::Tally>> {
        self.tallies
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The visit-derived state, for reading (held briefly: the writer waits for it).
    pub fn live(&self) -> std::sync::RwLockReadGuard<'_, Live> {
        self.live
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The code of the grid a building counts towards.
    pub fn grid_of(&self, building: usize) -> Option<&str> {
        self.assignment
            .get(building)?
            .grid()
            .map(|g| self.grids[g as usize].grid.code.as_str())
    }

    /// The grid record with `code`.
    pub fn grid(&self, code: &str) -> Option<&StoredGrid> {
        self.grids.get(*self.grid_by_code.get(code)?)
    }

    /// Building `i`'s footprint (or point) as a geometry, made when asked: footprints are kept
    /// once, in `buildings` (a second copy as `geo::Geometry` was 200 MB at a million
    /// buildings).
    pub fn building_shape(&self, i: usize) -> geo::Geometry {
        geo::Geometry::from(&self.buildings[i].footprint)
    }

    /// A building's location.
    pub fn location(&self, building: usize) -> Option<Coord> {
        self.locations.get(building).copied().flatten()
    }
}

/// A signed-in user's session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who signed in.
    pub username: String,
    /// Their role's name, as stored with the user when they signed in.
    pub role: String,
    /// Their scope (a town, village or grid code), as when they signed in.
    pub scope: String,
    /// When the token stops being accepted.
    pub expires: Instant,
}

/// Campaign settings the statistics are measured against.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A visit whose GPS point is farther than this from its building is flagged (metres).
    pub gps_flag_m: f64,
    /// Session lifetime (seconds; `gridmap serve --session-hours`; 0: every token is refused
    /// at once).
    pub session_secs: u64,
    /// Campaign start and end (YYYY-MM-DD) for expected-by-today progress.
    pub campaign_start: Option<String>,
    /// See `campaign_start`; progress expects 100% on this day.
    pub campaign_end: Option<String>,
    /// The web app's folder (`web/`) to serve from disk instead of the app embedded in the
    /// binary: its `app/` at `/` and the ES modules it imports from `node_modules/` at
    /// `/vendor/`. `None`: the embedded app ([`crate::webapp`]).
    pub web_dir: Option<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            gps_flag_m: 50.0,
            session_secs: 12 * 3600,
            campaign_start: None,
            campaign_end: None,
            web_dir: None,
        }
    }
}

/// Everything the handlers share.
pub struct Shared {
    /// The project store (a GeoPackage file, or a town of a PostgreSQL database); every write
    /// goes through it, one at a time.
    pub store: Mutex<Box<dyn ProjectStore>>,
    /// Connections of their own for reads that need not wait for the writers
    /// ([`crate::pool`]); `None` when the store cannot open another.
    pub readers: Option<crate::pool::ReadPool>,
    /// The current snapshot of the project: readers clone the `Arc` and read without locks
    /// held; a write builds a new snapshot and swaps it in.
    pub project: RwLock<Arc<Project>>,
    /// The users, loaded from the store at start and again when the project file changes
    /// under the server (see `watch`).
    pub users: RwLock<Vec<User>>,
    /// Why there are no accounts, when the store has none yet (what its
    /// [`gridmap_store::StoreError::Unsupported`] said): every sign-in and every endpoint that
    /// needs one then answers 501 with that message. `None`: the store keeps accounts.
    pub no_accounts: Option<&'static str>,
    /// Open sessions by bearer token.
    pub sessions: crate::auth::sessions::Sessions,
    /// Failed sign-ins by client and username, and the argon2 permits.
    pub signin: crate::auth::SignIn,
    /// The campaign's settings, fixed at start.
    pub settings: Settings,
    /// Cached vector tiles and heatmaps, by layer, tile and scope.
    pub tiles: crate::tiles::TileCache,
    /// Heatmap tiles drawn in the last second.
    pub heatmaps: crate::tiles::HeatmapCache,
    /// The map label font and the glyph ranges made from it.
    pub glyphs: crate::glyphs::GlyphCache,
    /// The key of the household registers (personal data); `None`: people are not served.
    pub register_key: Option<gridmap_store::registers::RegisterKey>,
    /// The counters of the public self-report page (`/r/{token}`).
    pub self_report: crate::plates::Limits,
    /// Re-partitioning jobs.
    pub plans: crate::plans::Jobs,
    /// The one writer of visits (group commit).
    pub writer: crate::writer::Writer,
    /// Held while a snapshot is made after grid writes, so that one is made at a time.
    pub grid_writes: Mutex<()>,
    /// Grids saved but not yet in a snapshot, in commit order: (code, as saved or `None` when
    /// deleted).
    pub pending_grids: Mutex<Vec<(String, Option<StoredGrid>)>>,
    /// Statistics answers by reach and grouping, with when they were made.
    pub stats_cache: Mutex<HashMap<String, (Instant, axum::body::Bytes)>>,
    /// Keys of `stats_cache` whose answer is being made again in the background.
    pub refreshing: Mutex<std::collections::HashSet<String>>,
    /// One gate per key of `stats_cache` for callers who wait for an answer: the first makes
    /// it, those who come meanwhile wait for the gate and take what it made
    /// ([`crate::api::shared_answer`]).
    pub making: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Shared {
    /// The current project snapshot.
    pub fn snapshot(&self) -> Arc<Project> {
        self.project
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Drops `value` on a thread of its own (or here, if that thread could not start).
pub fn drop_later(value: impl Send + 'static) {
    type Parcel = Box<dyn Send>;
    static DROPPER: std::sync::OnceLock<Option<std::sync::mpsc::Sender<Parcel>>> =
        std::sync::OnceLock::new();
    let sender = DROPPER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Parcel>();
        std::thread::Builder::new()
            .name("gridmap-drop".into())
            .spawn(move || {
                crate::priority::lower_this_thread(crate::priority::BELOW_READS, "dropper");
                rx.into_iter().for_each(drop);
            })
            .ok()
            .map(|_| tx)
    });
    if let Some(tx) = sender {
        let _ = tx.send(Box::new(value));
    }
}

/// Freeing a district's snapshot (the report's strings, the grids' rings, the member lists,
/// the assignment: a few hundred thousand allocations) takes tens of milliseconds, and it
/// happens wherever the last reference goes: in the swap under the locks the visit writer and
/// every reader wait for, in a grid edit's answer, or on the one thread reads take turns on.
/// The snapshot's own parts are freed on a thread of their own instead.
impl Drop for Project {
    fn drop(&mut self) {
        use std::mem::take;
        let tallies = take(
            self.tallies
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        drop_later((
            take(&mut self.grids),
            take(&mut self.grid_models),
            take(&mut self.assignment),
            take(&mut self.grid_buildings),
            take(&mut self.grid_by_code),
            take(&mut self.report),
            take(&mut self.tallied),
            tallies,
        ));
    }
}

/// The state handed to every handler.
#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

impl AppState {
    /// Opens the state over a project store, without access to personal data.
    pub fn new(
        store: impl ProjectStore + 'static,
        settings: Settings,
    ) -> Result<AppState, AppError> {
        Self::with_register_key(store, settings, None)
    }

    /// Opens the state with the registers' key, so that people can be served (masked or clear
    /// by role, audited).
    pub fn with_register_key(
        store: impl ProjectStore + 'static,
        settings: Settings,
        register_key: Option<gridmap_store::registers::RegisterKey>,
    ) -> Result<AppState, AppError> {
        Self::with_store(Box::new(store), settings, register_key)
    }

    /// [`with_register_key`](Self::with_register_key) over a boxed store (as the CLI opens
    /// one). The file watcher and the checkpoints run for a GeoPackage store only
    /// ([`ProjectStore::as_gpkg`]); the change listener ([`crate::notify`]) for a store with a
    /// change feed ([`ProjectStore::change_feed`]: PostgreSQL).
    pub fn with_store(
        store: Box<dyn ProjectStore>,
        settings: Settings,
        register_key: Option<gridmap_store::registers::RegisterKey>,
    ) -> Result<AppState, AppError> {
        let loaded_version = crate::watch::data_version_of(store.as_ref());
        let watched = store.as_gpkg().is_some();
        // Listening, and the counter read, before the load: no change after it goes unheard.
        let feed = match store.change_feed() {
            Ok(Some(mut feed)) => match feed.counter() {
                Ok(counter) => Some((feed, counter)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the change counter: other servers' writes will not be seen");
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for changes: other servers' writes will not be seen");
                None
            }
        };
        if let Some(gpkg) = store.as_gpkg() {
            gpkg.set_page_cache(SERVING_PAGE_CACHE_MIB)?;
        }
        let project = Project::load(store.as_ref())?;
        let (users, no_accounts) = match store.users() {
            Ok(users) => (users, None),
            Err(gridmap_store::StoreError::Unsupported { what }) => {
                tracing::warn!("{what}: not available on this store yet: nobody can sign in");
                (Vec::new(), Some(what))
            }
            Err(e) => return Err(e.into()),
        };
        let state = AppState(Arc::new_cyclic(|me| Shared {
            readers: crate::pool::read_pool(store.as_ref()),
            store: Mutex::new(store),
            project: RwLock::new(Arc::new(project)),
            users: RwLock::new(users),
            no_accounts,
            sessions: Default::default(),
            signin: Default::default(),
            settings,
            tiles: crate::tiles::TileCache::default(),
            heatmaps: crate::tiles::HeatmapCache::default(),
            glyphs: Default::default(),
            register_key,
            self_report: Default::default(),
            plans: crate::plans::Jobs::default(),
            writer: crate::writer::Writer::start(me.clone()),
            grid_writes: Mutex::new(()),
            pending_grids: Mutex::new(Vec::new()),
            stats_cache: Mutex::new(HashMap::new()),
            refreshing: Mutex::new(std::collections::HashSet::new()),
            making: Mutex::new(HashMap::new()),
        }));
        if watched {
            crate::watch::start(Arc::downgrade(&state.0), loaded_version);
        }
        if let Some((feed, counter)) = feed {
            crate::notify::start(Arc::downgrade(&state.0), feed, counter);
        }
        Ok(state)
    }

    /// The current project snapshot.
    pub fn project(&self) -> Arc<Project> {
        self.0.snapshot()
    }

    /// Runs a grid write on the store, makes the next snapshot, and drops the cached tiles that
    /// meet `touched` (lon/lat bounds of what changed; `None`: every tile).
    ///
    /// The store is locked only for the write and to read the saved grid back; the new
    /// assignment and validation are made while visits and readers go on with the current
    /// snapshot (buildings, addresses and the visit log are shared, not reread). Snapshots are
    /// made one at a time, each taking in every grid saved by then.
    /// The swap itself happens under the store's lock, so the writer of visits is between two
    /// batches: the new tallies are made from the log as it then is, and no visit is lost.
    pub fn write<T>(
        &self,
        touched: Option<geo::Rect>,
        code: &str,
        write: impl FnOnce(&mut dyn ProjectStore) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        self.write_grids(touched, &[code], write)
    }

    /// [`write`](Self::write) for a write of several grids at once (a repair): one new
    /// snapshot takes in all of them.
    pub fn write_grids<T>(
        &self,
        touched: Option<geo::Rect>,
        codes: &[&str],
        write: impl FnOnce(&mut dyn ProjectStore) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let out = {
            let mut store = self
                .0
                .store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let out = write(store.as_mut())?;
            for code in codes {
                let saved = store.grid(code)?;
                // Queued in commit order, under the store's lock.
                self.0
                    .pending_grids
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(((*code).to_string(), saved));
            }
            out
        };
        // One new snapshot at a time; it takes in every grid saved by then, so edits that
        // arrive together share one validation instead of queueing for one each.
        let _one_at_a_time = self
            .0
            .grid_writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changes = std::mem::take(
            &mut *self
                .0
                .pending_grids
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if changes.is_empty() {
            // Another edit's snapshot took this one in; it is already served.
            self.invalidate(touched);
            return Ok(out);
        }
        let old = self.project();
        let mut grids: Vec<StoredGrid> = old.grids.clone();
        for (code, saved) in changes {
            let at = grids.iter().position(|g| g.grid.code == code);
            match (at, saved) {
                (Some(i), Some(g)) => grids[i] = g,
                (Some(i), None) => {
                    grids.remove(i);
                }
                (None, Some(g)) => grids.push(g),
                (None, None) => {}
            }
        }
        let (town, villages) = (old.town.clone(), old.villages.clone());
        let started = Instant::now();
        // On the validation pool (one thread), not on a thread of the blocking pool.
        let next = match regrid_pool() {
            Some(pool) => pool.install(|| Project::regrid(&old, town, villages, grids)),
            None => Project::regrid(&old, town, villages, grids),
        };
        let regridded = started.elapsed();
        self.swap_in(next, |next, live| {
            crate::live::tallies_after(next, &old.tallies(), live)
        });
        tracing::debug!(
            regrid_ms = regridded.as_secs_f64() * 1e3,
            swap_ms = (started.elapsed() - regridded).as_secs_f64() * 1e3,
            "grid snapshot made"
        );
        self.invalidate(touched);
        Ok(out)
    }

    /// Takes in a change of the registers made through the server (a confirmed self-report):
    /// the people of each building and the unlinked people are read again, and the next
    /// snapshot (the same grids, buildings and visits) counts them; cached statistics are
    /// dropped.
    ///
    /// # Performance
    /// One count of people by building in the store, the snapshot made again without
    /// reassigning anything (no grid changed), the grid tallies counted again.
    pub fn registers_changed(&self) -> Result<(), AppError> {
        let internal =
            |e: gridmap_store::registers::RegisterError| AppError::Internal(e.to_string());
        let _one_at_a_time = self
            .0
            .grid_writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (people_of, unlinked) = {
            let store = self
                .0
                .store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (
                store.people_by_building().map_err(internal)?,
                store.people_unlinked().map_err(internal)?,
            )
        };
        let old = self.project();
        let mut next = Project::regrid(
            &old,
            old.town.clone(),
            old.villages.clone(),
            old.grids.clone(),
        );
        next.people = Arc::new(
            old.buildings
                .iter()
                .map(|b| {
                    people_of
                        .get(&b.id)
                        .map_or(0, |&n| n.min(u64::from(u32::MAX)) as u32)
                })
                .collect(),
        );
        next.people_unlinked = unlinked;
        self.swap_in(next, crate::live::tallies);
        self.0
            .stats_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        Ok(())
    }

    /// Makes `next` the served snapshot, with the grid tallies `tallies` makes from it and the
    /// visit log. The swap happens under the store's lock, so the writer of visits is between
    /// two batches: the tallies are made from the log as it then is, and no visit is lost.
    fn swap_in(
        &self,
        next: Project,
        tallies: impl FnOnce(&Project, &Live) -> Vec<crate::live::Tally>,
    ) {
        let _writer_paused = self
            .0
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let made = tallies(&next, &next.live());
        *next
            .tallies
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = made;
        let previous = std::mem::replace(
            &mut *self
                .0
                .project
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            Arc::new(next),
        );
        drop(previous);
    }

    /// Drops the cached tiles that meet `touched` (`None`: every tile).
    fn invalidate(&self, touched: Option<geo::Rect>) {
        match touched {
            Some(bbox) => self.0.tiles.invalidate(bbox),
            None => self.0.tiles.clear(),
        }
    }
}
