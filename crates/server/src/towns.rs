//! The towns of a division compared (`GET /api/towns`): what a district's or city's user
//! (a `town_supervisor` or `planner` scoped at a division code above the town, see
//! [`gridmap_users::division_holds`]) reads to rank the towns under them. The figures come from
//! the database that holds the towns ([`gridmap_store::ProjectStore::towns_under`]), read on a
//! connection of the read pool ([`crate::pool`]) so that the writers of this town never wait
//! for it.
//!
//! # Performance
//! The ranking reads every building and the latest visit of each from the database: 3.6–4.1 s
//! for a district of 1,000,000 buildings and 1,086,566 visits (`docs/benchmarks.md`). The answer
//! is shared by the division's users ([`crate::api::shared_answer`]): fresh for
//! [`TOWNS_FRESH`], served up to ten times that old while a newer one is made.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;

/// How long a ranking is served without being made again.
pub const TOWNS_FRESH: std::time::Duration = std::time::Duration::from_secs(30);

/// One town in the ranking.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RankedTown {
    /// 1 for the best visit rate (towns with the same rate share a rank).
    pub rank: usize,
    /// The town's figures.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub figures: gridmap_store::TownFigures,
}

/// The answer of `GET /api/towns`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TownsAnswer {
    /// The division compared: the caller's scope.
    pub division: String,
    /// Its towns, best visit rate first (then by code).
    pub towns: Vec<RankedTown>,
}

/// `GET /api/towns`: the towns under the caller's division, ranked by visit rate.
#[utoipa::path(get, path = "/api/towns", tag = "statistics",
    responses((status = 200, description = "The towns of the caller's division, best visit rate first", body = TownsAnswer),
              (status = 403, description = "The caller is not scoped at a division above this town", body = crate::openapi::ErrorBody),
              (status = 501, description = "The store keeps no org tree above the town (a GeoPackage project)", body = crate::openapi::ErrorBody)))]
pub async fn towns(State(state): State<AppState>, user: AuthUser) -> Result<Response, AppError> {
    let town = state.project().town.code.clone();
    let division = user
        .division_above(&town)
        .ok_or(AppError::Forbidden)?
        .to_string();
    let key = format!("towns:{division}");
    let st = state.clone();
    crate::api::shared_answer(&state, key, TOWNS_FRESH, move || {
        let state = st;
        let figures = crate::pool::read_store(&state.0)?.towns_under(&division)?;
        Ok(TownsAnswer {
            towns: ranked(figures),
            division,
        })
    })
    .await
}

/// `figures` best visit rate first (then by code), with ranks shared by equal rates.
fn ranked(mut figures: Vec<gridmap_store::TownFigures>) -> Vec<RankedTown> {
    figures.sort_by(|a, b| {
        b.visit_rate
            .total_cmp(&a.visit_rate)
            .then_with(|| a.code.cmp(&b.code))
    });
    let mut out: Vec<RankedTown> = Vec::with_capacity(figures.len());
    for (i, f) in figures.into_iter().enumerate() {
        let rank = match out.last() {
            Some(prev) if prev.figures.visit_rate == f.visit_rate => prev.rank,
            _ => i + 1,
        };
        out.push(RankedTown { rank, figures: f });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn town(code: &str, rate: f64) -> gridmap_store::TownFigures {
        gridmap_store::TownFigures {
            code: code.into(),
            name: code.into(),
            grids: 1,
            buildings: 10,
            households: 10,
            visited_buildings: 0,
            visited_households: 0,
            visit_rate: rate,
        }
    }

    #[test]
    fn towns_rank_by_rate_and_share_ties() {
        let r = ranked(vec![
            town("c", 0.5),
            town("a", 0.9),
            town("b", 0.5),
            town("d", 0.0),
        ]);
        let got: Vec<(usize, &str)> = r
            .iter()
            .map(|t| (t.rank, t.figures.code.as_str()))
            .collect();
        assert_eq!(got, [(1, "a"), (2, "b"), (2, "c"), (4, "d")]);
    }
}
