//! gridmap's analytics: what the supervisor's dashboard, the planner's comparison and the grid
//! editor's feedback measure, computed from the core model and plain data.
//!
//! - [`tally`]: each grid's (or village's) buildings, households, visits and people, the visit
//!   rate, and the ranking against the campaign's schedule;
//! - [`progress`]: visit progress day by day, against the campaign's straight line;
//! - [`cluster`]: uncovered blocks, buildings clustered by single linkage, with their hulls;
//! - [`compare`](mod@compare): a re-partitioning plan against today's grids (matching and moves);
//! - [`scorecard`]: the campaign's eight rates (三个100%、三个95%, 二维码管理率) per grid,
//!   village and town, against their targets;
//! - [`edit`]: what saving a grid's new boundary would change (overlaps, gaps, buildings that
//!   change grid).
//!
//! # Why a crate of its own
//! `gridmap-core` is the spatial model, its indexes, assignment and validation; these analytics
//! are built on it, and on `gridmap-partition` (a plan is compared with today), which core
//! cannot depend on. They read visits, campaigns and plans, and answer tables the server
//! serialises. Keeping them out of `gridmap-server` leaves the server routing, auth and scope,
//! (de)serialisation and caching, and lets the CLI or a benchmark compute the same figures
//! without an HTTP stack: this crate depends on neither axum nor the server. Who may see which
//! rows (scope) is the caller's business: functions here take the buildings or grids already
//! chosen.
//!
//! The crate does no I/O and holds no async code.

#![warn(missing_docs)]

pub mod cluster;
pub mod compare;
pub mod edit;
pub mod progress;
pub mod scorecard;
pub mod tally;

pub use cluster::{Block, single_linkage};
pub use compare::{Comparison, Move, compare};
pub use edit::{Impact, Layer, impact};
pub use progress::{ProgressDay, days_of_progress};
pub use tally::{StatsRow, Tally, expected_rate, name_rows, rank};
