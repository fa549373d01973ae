//! The domain model: the org tree (town → village → grid) and what grid workers visit
//! (buildings and their standard addresses).
//!
//! Records are plain data in WGS84 longitude/latitude. Visits, houses (户/室), people and
//! organisations (实有单位) hang on buildings and addresses by id and come with later modules.

use geo::{Coord, MultiPolygon, Point};
use serde::{Deserialize, Serialize};

/// A town or sub-district (镇/街道), the top of the hierarchy gridmap manages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Town {
    pub code: String,
    pub name: String,
    pub boundary: Option<MultiPolygon>,
}

/// A village or community (村/社区), parent of grids; its grids should cover it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Village {
    pub code: String,
    pub name: String,
    pub town: Option<String>,
    pub boundary: Option<MultiPolygon>,
}

/// A grid (网格): the unit a grid leader and workers are responsible for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// Unique code, e.g. `310101001001-03`.
    pub code: String,
    pub name: Option<String>,
    /// Code of the parent village or community.
    pub village: Option<String>,
    pub geometry: MultiPolygon,
}

/// Where a building is: its footprint, or a point when only a point was surveyed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Footprint {
    Area(MultiPolygon),
    Point(Point),
}

impl From<Footprint> for geo::Geometry {
    fn from(f: Footprint) -> geo::Geometry {
        match f {
            Footprint::Area(a) => geo::Geometry::MultiPolygon(a),
            Footprint::Point(p) => geo::Geometry::Point(p),
        }
    }
}

impl From<&Footprint> for geo::Geometry {
    fn from(f: &Footprint) -> geo::Geometry {
        f.clone().into()
    }
}

/// A building (实有房屋 at building level).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Building {
    pub id: String,
    pub footprint: Footprint,
    /// Households (户) living in it; the default workload measure.
    pub households: u32,
    pub floors: Option<u32>,
    pub kind: Option<String>,
}

impl Building {
    /// The envelope of the footprint, `None` when it is empty.
    pub fn footprint_rect(&self) -> Option<geo::Rect> {
        crate::index::footprint_bbox(&self.footprint)
    }

    /// The building's location: a point inside its footprint (see
    /// [`point_on_surface`](crate::surface::point_on_surface)), or the point itself.
    /// `None` only for an empty footprint.
    pub fn location(&self) -> Option<Coord> {
        match &self.footprint {
            Footprint::Area(area) => crate::surface::point_on_surface(area),
            Footprint::Point(p) => Some(p.0),
        }
    }
}

/// A standard address (标准地址), optionally with the grid and building it was registered to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub id: String,
    pub point: Point,
    pub text: Option<String>,
    /// The grid the register says the address belongs to.
    pub declared_grid: Option<String>,
    /// The building the register says the address belongs to.
    pub declared_building: Option<String>,
}

/// An actual organisation (实有单位): a company, shop, school or social organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub id: String,
    pub name: String,
    pub category: Option<String>,
    pub address: Option<String>,
    pub contact: Option<String>,
    pub point: Point,
}

/// Which basemap layer a feature belongs to: the town's own streets and water, drawn under
/// the grids on an intranet with no external basemap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BasemapLayer {
    /// Roads, paths, railways and ferries (lines).
    Roads,
    /// Rivers, lakes and pools (polygons, or lines for narrow waterways).
    Water,
}

impl BasemapLayer {
    pub const ALL: [BasemapLayer; 2] = [BasemapLayer::Roads, BasemapLayer::Water];

    pub fn as_str(self) -> &'static str {
        match self {
            BasemapLayer::Roads => "roads",
            BasemapLayer::Water => "water",
        }
    }

    /// Parses `roads` or `water`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// A basemap feature: a road or a water body with its classification, for drawing only (no
/// grid logic reads it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BasemapFeature {
    pub layer: BasemapLayer,
    /// The class: `major_road`, `minor_road`, `path`, `rail`, `ferry`, `highway` for roads;
    /// `water`, `river`, `riverbank`, `swimming_pool`… for water.
    pub kind: Option<String>,
    /// The finer class, e.g. `primary`, `footway`, `subway`.
    pub detail: Option<String>,
    pub name: Option<String>,
    /// WGS84 lines or polygons.
    pub geometry: geo::Geometry,
}

/// What a household visit (入户走访) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitOutcome {
    Visited,
    NobodyHome,
    Refused,
    Demolished,
    NewlyFound,
}

impl VisitOutcome {
    pub const ALL: [VisitOutcome; 5] = [
        VisitOutcome::Visited,
        VisitOutcome::NobodyHome,
        VisitOutcome::Refused,
        VisitOutcome::Demolished,
        VisitOutcome::NewlyFound,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VisitOutcome::Visited => "visited",
            VisitOutcome::NobodyHome => "nobody_home",
            VisitOutcome::Refused => "refused",
            VisitOutcome::Demolished => "demolished",
            VisitOutcome::NewlyFound => "newly_found",
        }
    }

    /// Parses the snake_case name (`visited`, `nobody_home`, …).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// A visit by a grid worker to a building or a house (户/室).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    pub id: String,
    pub building: Option<String>,
    pub house: Option<String>,
    pub worker: String,
    /// When, as RFC 3339 text.
    pub time: String,
    pub outcome: VisitOutcome,
    /// Where the worker's phone said they were.
    pub point: Option<Point>,
    pub note: Option<String>,
    /// Set by the server, never by the worker: the phone's point lay too far from the building.
    #[serde(default)]
    pub flagged: bool,
}
