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
    /// Unique code, usually the administrative division code (e.g. `310101001`).
    pub code: String,
    /// Display name, e.g. `汇龙镇`.
    pub name: String,
    /// Its outline, WGS84 lon/lat; `None` when not surveyed.
    pub boundary: Option<MultiPolygon>,
}

/// A village or community (村/社区), parent of grids; its grids should cover it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Village {
    /// Unique code, usually the administrative division code (e.g. `310101001001`).
    pub code: String,
    /// Display name, e.g. `新河村` or `东门社区`.
    pub name: String,
    /// Code of the parent town, `None` when not known.
    pub town: Option<String>,
    /// The outline its grids should cover exactly, WGS84 lon/lat; `None` when not surveyed.
    pub boundary: Option<MultiPolygon>,
}

/// A grid (网格): the unit a grid leader and workers are responsible for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// Unique code, e.g. `310101001001-03`.
    pub code: String,
    /// Display name, e.g. `东门社区第三网格`.
    pub name: Option<String>,
    /// Code of the parent village or community.
    pub village: Option<String>,
    /// Its area, WGS84 lon/lat; may be invalid as read (validation reports it).
    pub geometry: MultiPolygon,
}

/// Where a building is: its footprint, or a point when only a point was surveyed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Footprint {
    /// The outline of the building, WGS84 lon/lat.
    Area(MultiPolygon),
    /// A surveyed point, WGS84 lon/lat: such a building has no area, so it never straddles.
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
    /// Unique id within the layer.
    pub id: String,
    /// Its outline or surveyed point.
    pub footprint: Footprint,
    /// Households (户) living in it; the default workload measure.
    pub households: u32,
    /// Floors above ground, when known.
    pub floors: Option<u32>,
    /// Free-text type as surveyed (e.g. `住宅`, `商业`).
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
    /// Unique id within the layer.
    pub id: String,
    /// Where the address is (usually its door or building), WGS84 lon/lat.
    pub point: Point,
    /// The address as written, e.g. `汇龙镇新河村3组15号`.
    pub text: Option<String>,
    /// The grid the register says the address belongs to.
    pub declared_grid: Option<String>,
    /// The building the register says the address belongs to.
    pub declared_building: Option<String>,
}

/// An actual organisation (实有单位): a company, shop, school or social organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// Unique id within the layer.
    pub id: String,
    /// Its name, e.g. `新河村卫生室`.
    pub name: String,
    /// Free-text category (company, shop, school, social organisation…).
    pub category: Option<String>,
    /// Its address as written.
    pub address: Option<String>,
    /// Contact person or phone number, as registered.
    pub contact: Option<String>,
    /// Where it is, WGS84 lon/lat.
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
    /// Land use: parks, residential and commercial blocks, squares (polygons), drawn under
    /// the water and roads.
    Landuse,
}

impl BasemapLayer {
    /// Every layer.
    pub const ALL: [BasemapLayer; 3] = [
        BasemapLayer::Roads,
        BasemapLayer::Water,
        BasemapLayer::Landuse,
    ];

    /// The layer's name in files, URLs and tiles: `roads`, `water` or `landuse`.
    pub fn as_str(self) -> &'static str {
        match self {
            BasemapLayer::Roads => "roads",
            BasemapLayer::Water => "water",
            BasemapLayer::Landuse => "landuse",
        }
    }

    /// Parses `roads`, `water` or `landuse`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// A basemap feature: a road or a water body with its classification, for drawing only (no
/// grid logic reads it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BasemapFeature {
    /// The layer it is drawn in.
    pub layer: BasemapLayer,
    /// The class: `major_road`, `minor_road`, `path`, `rail`, `ferry`, `highway` for roads;
    /// `water`, `river`, `riverbank`, `swimming_pool`… for water; `park`, `grass`,
    /// `residential`, `commercial`, `pedestrian`… for land use.
    pub kind: Option<String>,
    /// The finer class, e.g. `primary`, `footway`, `subway`.
    pub detail: Option<String>,
    /// Its name (a street or river name) for labels.
    pub name: Option<String>,
    /// WGS84 lines or polygons.
    pub geometry: geo::Geometry,
}

/// What a household visit (入户走访) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitOutcome {
    /// The worker met the household.
    Visited,
    /// Nobody opened the door (敲不开门): the household is still to be visited.
    NobodyHome,
    /// The household refused the visit.
    Refused,
    /// The building or house was found demolished.
    Demolished,
    /// The worker found a building or household the register did not have (清仓见底).
    NewlyFound,
}

impl VisitOutcome {
    /// Every outcome.
    pub const ALL: [VisitOutcome; 5] = [
        VisitOutcome::Visited,
        VisitOutcome::NobodyHome,
        VisitOutcome::Refused,
        VisitOutcome::Demolished,
        VisitOutcome::NewlyFound,
    ];

    /// The snake_case name used in files and the API (`visited`, `nobody_home`, …).
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
    /// Unique id (`visit-` and a UUID when recorded by the server).
    pub id: String,
    /// Id of the building visited.
    pub building: Option<String>,
    /// Id of the house (户/室) visited in that building, when the visit was to one household.
    pub house: Option<String>,
    /// User name of the grid worker who visited.
    pub worker: String,
    /// When, as RFC 3339 text.
    pub time: String,
    /// What the visit found.
    pub outcome: VisitOutcome,
    /// Where the worker's phone said they were.
    pub point: Option<Point>,
    /// The worker's free-text note.
    pub note: Option<String>,
    /// Set by the server, never by the worker: the phone's point lay too far from the building.
    #[serde(default)]
    pub flagged: bool,
    /// The household's answer to "do you know your grid worker?" (群众知晓率), when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knows_worker: Option<bool>,
    /// The household's satisfaction with the grid's work, 1 (very unsatisfied) to 5 (very
    /// satisfied) (群众满意率), when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satisfaction: Option<u8>,
}
