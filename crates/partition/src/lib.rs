//! Workload-balanced re-partitioning of a village (or any boundary) into grids: contiguous,
//! compact grids that cover the boundary exactly, never cut a building or a `keep_whole`
//! polygon, follow barrier lines (roads, rivers) where they can, and hold about the same
//! workload (households by default).
//!
//! # How it works
//! 1. **Atoms** (`atoms.rs`): every building inside the boundary is an item; items whose solids
//!    overlap (overlapping footprints, buildings touching a keep-whole polygon, overlapping
//!    keep-whole polygons) are merged into one atom, which no grid edge may cut. Sites are
//!    sampled along every atom's outline (vertices plus a point every `sample_spacing_m`) and
//!    along the boundary (zero-weight atoms that let grids follow it), in a local metric frame.
//! 2. A Delaunay triangulation of the sites (`spade`) gives the Voronoi diagram; the **atom
//!    graph** joins atoms whose cells share an edge inside the boundary, weighted by the length
//!    of that edge, and flags edges whose Delaunay segment crosses a barrier line: cutting there
//!    puts the grid edge along the barrier, so it is cheap.
//! 3. **Solve** (`solve/`, whose module doc walks through its files): atoms heavier than the target
//!    get a grid of their own. A grid is one polygon, so separate parts of the boundary (components
//!    of the atom graph: a town on both banks of a river) get whole numbers of grids, apportioned
//!    to bring each part's workload per grid closest to the target, and are balanced to their own
//!    share. The rest is split by recursive bisection: each cut puts `k/2` grids' worth of workload
//!    on one side, and is chosen among eight directions, first by balance, then, within a slack, by
//!    cut cost, with the atoms of a barrier-bounded block sorted together so cuts along barriers
//!    are among the candidates. Unlabelled weightless atoms are grown into regions one
//!    breadth-first layer at a time and every region is made contiguous. A second start is a
//!    balanced power diagram seeded by the first (`power.rs`: convex cells, so round grids). From
//!    each start a seeded local search then moves boundary atoms between neighbouring regions
//!    (squared deviation from the target, a steep penalty outside the tolerance, and a cut-length
//!    term, never disconnecting a region: BFS articulation check); when no single move helps,
//!    *chain moves* pass weight from an over-full region to an under-full one along the shortest
//!    chain of neighbouring regions, one boundary atom (with any weightless atoms in front of it)
//!    per step, so weight flows through regions already at target. Two shape terms join the cut:
//!    each region's moment of inertia relative to a disc's of the same area (it sees the overall
//!    shape, so elongated strips left by the bisection round off one boundary atom at a time) and
//!    its Polsby-Popper score computed on the atom graph (cell areas, edge lengths, barrier edges
//!    at their cut cost so grids still follow roads). Shape moves may use most of the tolerance; a
//!    last polish evens the balance out with lighter shape terms. Of the two starts, the plan with
//!    the lower search cost is kept: the bisection's where barriers shape the town, the power
//!    diagram's where the buildings do. Then the shape check (`shape.rs`) moves narrow arms
//!    (tentacles) whole to the neighbour they share most edge with where balance allows it. A grid
//!    still drawn with an arm is then drawn afresh together with one to four of its neighbours
//!    (ReCom-style: the cluster's atoms are split again by a power diagram, the bisection, or both,
//!    and the search rebalances the cluster and the grids around it), and the arms left are handed
//!    whole to a neighbour or shared out among the neighbours beside them. Each such trial is drawn
//!    and kept only when it leaves fewer tentacles on the drawn grids (whose large cells can make
//!    arms the atom graph does not show) without a grid further outside the tolerance, in more
//!    pieces, or thinner than the thinnest so far; a last repair moves single buildings (or a chain
//!    of two through a full neighbour) into the tolerance. On small inputs the search runs from
//!    several seeds derived from the seed, the arms are removed on the six starts with the fewest
//!    defects, and the plan with whole grids, the fewest defects (a grid far outside the tolerance
//!    counting several times) and the highest Polsby-Popper is kept.
//! 4. **Outline** (`outline.rs`): a region's outline is chained from the Voronoi edges between
//!    its sites and the others, so neighbouring regions share the very same vertices; solids
//!    that the outline crosses are added to their own region and cut out of the others, and the
//!    result is clipped to the boundary. A sliver so cut off goes to the neighbour it touches;
//!    a piece with buildings cut off (the atom graph joined it through a corridor another
//!    region's footprint closes) moves to a neighbour and the search rebalances, so every grid
//!    is one polygon.
//! 5. The plan is measured (`report.rs`, into a [`Report`]): workload spread, Polsby-Popper,
//!    contiguity, enclaves and tentacles, barrier length, moved buildings, and the gap and overlap
//!    area found by `gridmap_core::validate`; every grid outside the tolerance and every tentacle
//!    left is noted with why ([`Note`], [`TentacleNote`]).
//!
//! The same input, options and seed always give the same plan.

#![warn(missing_docs)]

mod atoms;
mod outline;
mod power;
mod report;
mod shape;
mod solve;

pub use report::confirmed_straddlers;

use std::time::Instant;

use geo::{LineString, MultiPolygon, Polygon};
use gridmap_core::geodesy::area_m2;
use gridmap_core::model::{Building, Grid};
use serde::Serialize;

/// What to partition.
#[derive(Debug, Clone, Copy)]
pub struct PartitionInput<'a> {
    /// The area the grids must cover exactly (a village), WGS84 lon/lat.
    pub boundary: &'a MultiPolygon,
    /// The buildings to distribute; those whose location is outside the boundary are reported
    /// in [`Report::outside_boundary`] and belong to no grid.
    pub buildings: &'a [Building],
    /// Lines that grid edges should follow where they can (roads, rivers, railways).
    pub barriers: &'a [LineString],
    /// Polygons no grid edge may cut (residential compounds, 小区).
    pub keep_whole: &'a [Polygon],
    /// Today's grids, for minimal-move rebalancing (`--from-current`); `None` draws anew.
    pub current: Option<&'a [Grid]>,
}

/// How many grids to draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Exactly this many grids.
    Grids(usize),
    /// About this much workload per grid; the number of grids is `round(total / n)`, at least 1.
    Workload(f64),
}

/// The workload of a building.
#[derive(Debug, Clone, PartialEq)]
pub enum Weight {
    /// Its `households`.
    Households,
    /// 1 per building.
    Buildings,
    /// One value per building of the input, in order (e.g. a property read by the caller).
    Values(Vec<f64>),
}

/// Options of a partition run.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionOptions {
    /// How many grids to draw: a number, or a workload per grid.
    pub target: Target,
    /// Allowed relative deviation of a grid's workload from the target (0.05 = ±5%).
    pub tolerance: f64,
    /// What a building's workload is (households by default).
    pub weight: Weight,
    /// Seed of the local search's visiting order.
    pub seed: u64,
    /// Distance between sites sampled along footprints and the boundary, in metres.
    pub sample_spacing_m: f64,
    /// Cost of a grid edge along a barrier relative to one elsewhere (0..1).
    pub barrier_factor: f64,
    /// Weight of the cut-length (compactness) term against the balance term.
    pub compactness: f64,
    /// Weight of the roundness term (each region's moment of inertia relative to a disc's)
    /// against the balance term; 0 turns it off.
    pub roundness: f64,
    /// Weight of the Polsby-Popper term (−Σ PP over regions) against the balance term.
    pub shape: f64,
    /// Upper bound on local-search passes.
    pub max_passes: usize,
    /// Prefix of the codes of new grids (`G` gives `G001`, `G002`, …).
    pub code_prefix: String,
    /// Run `gridmap_core::validate` on the plan to measure gaps and overlaps (costs a second or
    /// so per 10⁵ buildings).
    pub validate: bool,
}

impl Default for PartitionOptions {
    fn default() -> Self {
        PartitionOptions {
            target: Target::Grids(1),
            tolerance: 0.05,
            weight: Weight::Households,
            seed: 1,
            sample_spacing_m: 8.0,
            barrier_factor: 0.2,
            compactness: 0.3,
            roundness: 1.0,
            shape: 3.0,
            max_passes: 60,
            code_prefix: "G".into(),
            validate: true,
        }
    }
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PartitionError {
    /// The boundary has no polygon with a positive area.
    #[error("the boundary is empty (no polygon with area)")]
    EmptyBoundary,
    /// Every building's location lies outside the boundary (or there are none).
    #[error("no building lies inside the boundary ({outside} outside)")]
    NoBuildings {
        /// Buildings whose location is outside the boundary.
        outside: usize,
    },
    /// `Target::Grids(0)`, or a workload per grid that is not a finite positive number
    /// (the bad value, as given).
    #[error("the target is {0}: it must be a positive number of grids or a positive workload")]
    BadTarget(f64),
    /// More grids than buildings inside the boundary: every grid needs a building.
    #[error("{grids} grids were asked for but only {buildings} buildings lie inside the boundary")]
    TooManyGrids {
        /// Grids asked for (given, derived from the workload per grid, or today's count).
        grids: usize,
        /// Buildings whose location is inside the boundary.
        buildings: usize,
    },
    /// Every building inside the boundary weighs 0 (e.g. households weighting with no
    /// households recorded), so there is nothing to balance.
    #[error("the total workload of the buildings inside the boundary is 0 (weight by buildings?)")]
    ZeroWorkload,
    /// [`Weight::Values`] does not hold exactly one value per input building.
    #[error("{got} weights were given for {expected} buildings")]
    WeightCount {
        /// Input buildings (all of them, inside the boundary or not).
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// A weight is negative, NaN or infinite.
    #[error("the weight of building {building} is {value}: weights must be finite and ≥ 0")]
    BadWeight {
        /// Id of the building.
        building: String,
        /// Its weight, as given.
        value: f64,
    },
    /// The tolerance (the bad value, as given) is not in `0..1`.
    #[error("the tolerance is {0}: it must be between 0 and 1")]
    BadTolerance(f64),
    /// [`PartitionInput::current`] is `Some` but empty.
    #[error("--from-current was given no grids")]
    NoCurrentGrids,
    /// The Delaunay triangulation of the sites failed (`spade`'s error, e.g. a NaN
    /// coordinate or one too large for it).
    #[error("triangulation failed: {0}")]
    Triangulation(String),
}

/// One grid of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanGrid {
    /// Its code: `code_prefix` and a 3-digit number counted by centre from north to south,
    /// then west to east; with `current`, the code of the grid it rebalances.
    pub code: String,
    /// Its polygon(s), WGS84 lon/lat; more than one only when it is not contiguous.
    #[serde(skip)]
    pub geometry: MultiPolygon,
    /// Workload in the chosen weight.
    pub workload: f64,
    /// Sum of the `households` of its buildings, whatever the weight.
    pub households: u64,
    /// Buildings assigned to it.
    pub buildings: usize,
    /// Geodesic area in m².
    pub area_m2: f64,
    /// Perimeter in metres (holes included), measured in a local planar frame.
    pub perimeter_m: f64,
    /// 4πA/P²: 1 for a disc, about 0.785 for a square.
    pub polsby_popper: f64,
    /// One polygon.
    pub contiguous: bool,
    /// Holes in it (other grids or holes of the boundary enclosed by it).
    pub holes: usize,
    /// Deviation of its workload from its target, in % of the target.
    pub deviation_pct: f64,
    /// For an enclave (off the area's boundary, ≥ 90% of its perimeter along one grid): the
    /// code of the grid around it.
    pub enclave_in: Option<String>,
    /// Narrow arms (see [`Report::tentacles`]).
    pub tentacles: usize,
}

/// A grid whose workload is outside the tolerance (or that is a building of its own), and why:
/// `reason` in English, `kind` and the figures for a client to word it in its own language.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Note {
    /// Code of the grid noted.
    pub grid: String,
    /// Why, as a code a client can translate.
    pub kind: NoteKind,
    /// Why, as a sentence in English with the figures.
    pub reason: String,
    /// Above the target (true) or below it; absent for a grid of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub too_heavy: Option<bool>,
    /// Workload beyond the tolerance window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<f64>,
    /// Workload of the lightest building the grid could give or take.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lightest: Option<f64>,
    /// Most workload the grid can lose (too heavy) or gain and stay within the tolerance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<f64>,
    /// The neighbouring grids concerned.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub neighbours: Vec<String>,
    /// The building (the first of several that must stay together), by id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub building: Option<String>,
    /// How many buildings must stay together with `building` (1 when it is alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buildings: Option<usize>,
    /// Workload of that building (or buildings), or of the part of the boundary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<f64>,
    /// The target, or for a part of the boundary what each of its grids gets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    /// Separate parts of the boundary (for [`NoteKind::SeparateParts`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<usize>,
    /// Grids the part of the boundary this grid lies in gets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grids_in_part: Option<usize>,
}

/// Why a grid is noted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// A building (or buildings that must stay together) heavier than the window alone.
    #[default]
    HeavyBuilding,
    /// Its part of the boundary holds too much or too little for whole grids.
    SeparateParts,
    /// The lightest building it could trade is more than the room left in its window.
    Overshoots,
    /// Every neighbour would leave its own window by the trade.
    NeighboursFull,
    /// A trade would fit; the plan keeps the grids' shape (or moves fewer buildings) instead.
    KeptForShape,
    /// Every trade that would fit would split a grid.
    WouldSplit,
    /// No building on its edge can change grid.
    NoTrade,
}

/// A tentacle left on a grid, and why the plan keeps it: `reason` in English, `kind` and the
/// figures for a client to word it in its own language.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TentacleNote {
    /// Code of the grid with the arm.
    pub grid: String,
    /// Why the arm is kept, as a code a client can translate.
    pub kind: TentacleKind,
    /// Why the arm is kept, as a sentence in English.
    pub reason: String,
    /// Buildings in the arm (0 for an arm of open land).
    pub buildings: usize,
    /// Households of the buildings in the arm.
    pub households: u64,
    /// Workload of the buildings in the arm, in the chosen weight.
    pub workload: f64,
    /// The grids along the arm, longest shared edge first.
    pub neighbours: Vec<String>,
    /// Trials to remove the grid's arms (handing an arm to a neighbour, drawing the grid
    /// afresh with its neighbours) that were not kept, by the first rule each broke: a grid
    /// further outside the tolerance, a grid in pieces, a grid thinner than the thinnest so
    /// far, or no fewer tentacles. This one counts trials refused for balance.
    pub refused_unbalanced: usize,
    /// Trials refused because they left a grid in pieces.
    pub refused_split: usize,
    /// Trials refused because they made a grid thinner than the thinnest so far.
    pub refused_thinner: usize,
    /// Trials refused because they left no fewer tentacles.
    pub refused_no_fewer: usize,
}

/// Why a tentacle is left: the rule most of the trials to remove it broke.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TentacleKind {
    /// Removing it put a grid (further) outside the tolerance.
    #[default]
    Unbalanced,
    /// Removing it made another grid thinner than any in the plan.
    Thinner,
    /// Removing it left as many tentacles: the grid kept an arm, or a neighbour grew one.
    NoFewer,
    /// Removing it left a grid in pieces.
    Split,
    /// Its grid is a building of its own (heavier than the target), which nothing may join.
    HeavyBuilding,
    /// Rebalancing today's grids (`--from-current`) moves as few buildings as it can and
    /// reshapes nothing: the arm is today's, or came with a building that moved.
    FromCurrent,
    /// Nothing was tried: the trials allowed for an input this large ran out, or the arm
    /// came with the last balance repair.
    Untried,
}

/// The numbers a planner judges a plan by.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// Grids in the plan.
    pub grids: usize,
    /// Buildings whose location is inside the boundary (those the plan assigns).
    pub buildings: usize,
    /// Households of all the grids.
    pub households: u64,
    /// Target workload of a grid without a heavy building (total / grids, less what heavy
    /// buildings take alone).
    pub target: f64,
    /// The tolerance asked for (0.05 = ±5%).
    pub tolerance: f64,
    /// Smallest workload of a grid.
    pub workload_min: f64,
    /// Largest workload of a grid.
    pub workload_max: f64,
    /// Mean workload of a grid.
    pub workload_mean: f64,
    /// Largest |workload − target| / target over grids without a heavy building, in %.
    pub max_deviation_pct: f64,
    /// (max − min) / mean of the grids' workloads; 0 when the mean is 0.
    pub spread: f64,
    /// Grids without a heavy building whose workload is within the tolerance of their target.
    pub within_tolerance: usize,
    /// Mean Polsby-Popper score (4πA/P²) of the grids.
    pub polsby_popper_mean: f64,
    /// Lowest Polsby-Popper score of a grid: the least compact one.
    pub polsby_popper_min: f64,
    /// Grids that are one polygon.
    pub contiguous_grids: usize,
    /// Every grid is one polygon.
    pub all_contiguous: bool,
    /// Grids that do not reach the area's boundary and share at least 90% of their perimeter
    /// with one other grid.
    pub enclaves: usize,
    /// Narrow arms left: parts of a grid's polygon that an opening by a disc of radius
    /// 0.15 × √(grid area) removes, holding at least 10% of the grid's area.
    pub tentacles: usize,
    /// Tentacles the shape check removed: arms handed whole to a neighbouring grid, alone or
    /// with the grids around rebalanced, and grids drawn afresh with their neighbours.
    pub tentacles_removed: usize,
    /// Holes in all the grids together (see [`PlanGrid::holes`]).
    pub holes: usize,
    /// Area of the boundary no grid covers, in m², measured on the validator's gap pieces
    /// (planar, local frame); `None` when `validate` is off.
    pub gap_area_m2: Option<f64>,
    /// Area covered by more than one grid, in m², as `gap_area_m2`.
    pub overlap_area_m2: Option<f64>,
    /// Area of grids outside the boundary, in m², as `gap_area_m2`.
    pub outside_area_m2: Option<f64>,
    /// Buildings the validator finds in exactly one new grid (straddlers included); `None`
    /// when `validate` is off.
    pub buildings_in_one_grid: Option<usize>,
    /// Buildings a grid edge cuts (0 but for a bug: atoms are never cut); `None` when
    /// `validate` is off.
    pub buildings_straddling: Option<usize>,
    /// Buildings inside the boundary whose footprint crosses it: in one grid but for the part
    /// outside the boundary (see [`Straddlers`]).
    pub buildings_crossing_boundary: Option<usize>,
    /// Length of the edges between grids that run along barriers, in metres.
    pub boundary_on_barrier_m: f64,
    /// Length of the edges between grids that run off barriers, in metres.
    pub boundary_off_barrier_m: f64,
    /// With `current`: buildings whose grid changed; `None` when drawing anew.
    pub moved_buildings: Option<usize>,
    /// With `current`: households of the buildings whose grid changed.
    pub moved_households: Option<u64>,
    /// Ids of buildings whose location is outside the boundary (in no grid).
    pub outside_boundary: Vec<String>,
    /// Grids outside the tolerance with the reason (e.g. a building heavier than the target).
    pub notes: Vec<Note>,
    /// Every tentacle left, with the reason.
    pub tentacle_notes: Vec<TentacleNote>,
    /// Atoms: buildings merged with those they overlap, the units no grid edge cuts.
    pub atoms: usize,
    /// Sites sampled along atoms' outlines and the boundary for the triangulation.
    pub sites: usize,
    /// Local-search passes run.
    pub passes: usize,
    /// The seed the plan was made with.
    pub seed: u64,
    /// Wall time of the run, in seconds (the one figure that differs between identical runs).
    pub runtime_s: f64,
}

/// What the validator's straddling buildings are, checked again by a general overlay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Straddlers {
    /// Buildings with more than a hair of their footprint in another grid: cut by a grid edge.
    pub cut_by_grid_edge: usize,
    /// Buildings whose footprint crosses the boundary (their location is inside), and lie in
    /// one grid but for the part outside: the boundary cuts them, no grid edge does.
    pub crossing_boundary: usize,
}

/// A proposed set of grids.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The new grids, in code order.
    pub grids: Vec<PlanGrid>,
    /// The new grid (index into `grids`) of every input building; `None` outside the boundary.
    pub assignment: Vec<Option<usize>>,
    /// The plan's figures and notes.
    pub report: Report,
}

impl Plan {
    /// The grids as model records (code and geometry), e.g. to validate or store them.
    pub fn model_grids(&self) -> Vec<Grid> {
        self.grids
            .iter()
            .map(|g| Grid {
                code: g.code.clone(),
                name: None,
                village: None,
                geometry: g.geometry.clone(),
            })
            .collect()
    }
}

/// Partitions `input.boundary` into grids; `progress` is told each phase's name and the overall
/// fraction done (0..1).
///
/// # Performance
/// Near-linear in buildings: one Delaunay triangulation of the sites (about 15 per building),
/// a power diagram of the buildings against the k centres' nearest ten (a few hundred
/// parallel passes), two local searches whose passes each visit every atom once, and one small
/// boolean overlay per grid along its edges. 10⁵ buildings take about 6 s in release builds
/// on two cores.
pub fn partition(
    input: &PartitionInput,
    options: &PartitionOptions,
    progress: &mut dyn FnMut(&str, f64),
) -> Result<Plan, PartitionError> {
    let started = Instant::now();
    if !(0.0..1.0).contains(&options.tolerance) {
        return Err(PartitionError::BadTolerance(options.tolerance));
    }
    match options.target {
        Target::Grids(0) => return Err(PartitionError::BadTarget(0.0)),
        Target::Workload(n) if !(n.is_finite() && n > 0.0) => {
            return Err(PartitionError::BadTarget(n));
        }
        _ => {}
    }
    if input.boundary.0.is_empty() || area_m2(input.boundary) <= 0.0 {
        return Err(PartitionError::EmptyBoundary);
    }
    if let Some(current) = input.current
        && current.is_empty()
    {
        return Err(PartitionError::NoCurrentGrids);
    }
    let weights = building_weights(input.buildings, &options.weight)?;

    progress("building atoms", 0.0);
    let world = atoms::build(input, &weights, options)?;
    let inside = world.inside_buildings;
    if inside == 0 {
        return Err(PartitionError::NoBuildings {
            outside: world.outside.len(),
        });
    }
    let total: f64 = world.atoms.iter().map(|a| a.weight).sum();
    if total <= 0.0 {
        return Err(PartitionError::ZeroWorkload);
    }
    let k = match (input.current, options.target) {
        (Some(current), _) => current.len(),
        (None, Target::Grids(k)) => k,
        (None, Target::Workload(n)) => ((total / n).round() as usize).max(1),
    };
    if k > inside {
        return Err(PartitionError::TooManyGrids {
            grids: k,
            buildings: inside,
        });
    }

    progress("solving and drawing", 0.3);
    let mut solution = solve::solve(
        &world,
        input.buildings,
        input.boundary,
        k,
        input.current,
        options,
    );

    let geometries = std::mem::take(&mut solution.geometry);
    progress("measuring", 0.85);
    let mut plan = report::measure(input, options, &weights, &world, &solution, geometries, k);
    if options.validate {
        progress("validating", 0.9);
        report::measure_coverage(&mut plan, input, &world);
    }
    plan.report.runtime_s = started.elapsed().as_secs_f64();
    progress("done", 1.0);
    Ok(plan)
}

/// The workload of every building of the input, by `weight`, each checked finite and ≥ 0.
fn building_weights(buildings: &[Building], weight: &Weight) -> Result<Vec<f64>, PartitionError> {
    let weights: Vec<f64> = match weight {
        Weight::Households => buildings.iter().map(|b| f64::from(b.households)).collect(),
        Weight::Buildings => vec![1.0; buildings.len()],
        Weight::Values(v) => {
            if v.len() != buildings.len() {
                return Err(PartitionError::WeightCount {
                    expected: buildings.len(),
                    got: v.len(),
                });
            }
            v.clone()
        }
    };
    if let Some((i, &value)) = weights
        .iter()
        .enumerate()
        .find(|(_, w)| !(w.is_finite() && **w >= 0.0))
    {
        return Err(PartitionError::BadWeight {
            building: buildings[i].id.clone(),
            value,
        });
    }
    Ok(weights)
}
