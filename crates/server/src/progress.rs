//! Visit progress over time for the dashboard chart: `GET /api/progress`.
//!
//! A building counts as visited from the day of its first visit with outcome `visited` (a later
//! `nobody_home` does not take it back: the chart shows work done). Only buildings assigned to a
//! grid in the caller's scope count, as in `/api/stats`.

use crate::extract::Json;
use crate::extract::Query;
use axum::extract::State;
use gridmap_core::model::VisitOutcome;
use gridmap_stats::ProgressDay;
use serde::Deserialize;

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::input::day_number;
use crate::state::AppState;

/// Query of `GET /api/progress`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgressQuery {
    /// `town` (default), `village` or `grid`.
    by: Option<String>,
    /// The town, village or grid code; for `town`, the project's town by default.
    code: Option<String>,
}

/// The answer of `GET /api/progress`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Progress {
    /// `town`, `village` or `grid`.
    pub by: String,
    /// The town's, village's or grid's code.
    pub code: String,
    /// Households of the selection in the caller's scope.
    pub households: u64,
    /// Buildings of the selection in the caller's scope.
    pub buildings: u64,
    /// Each day on which a building was first visited, oldest first, cumulative.
    pub days: Vec<ProgressDay>,
    /// The campaign's straight line: 0 on its first day, 1 on its last (empty without one).
    pub expected: Vec<Expected>,
}

/// A point of the campaign's expected line.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Expected {
    /// The day, `YYYY-MM-DD`.
    pub date: String,
    /// The visit rate expected by then.
    pub rate: f64,
}

/// `GET /api/progress?by=town|village|grid&code=X` → `{"by", "code", "households",
/// "buildings", "days": [{"date", "visited_households", "visited_buildings", "visit_rate"}],
/// "expected": [{"date", "rate"}]}`.
///
/// `households` and `buildings` are the totals of the selection in the caller's scope; each day
/// on which a building was first visited has a row of cumulative counts, oldest first;
/// `visit_rate` is visited households over households (over buildings when no building has
/// households). `expected` is the campaign's straight line from 0 at its start to 1 at its end,
/// empty without a campaign.
#[utoipa::path(get, path = "/api/progress", tag = "statistics", params(ProgressQuery), responses((status = 200, description = "Cumulative visits by day and the expected line", body = Progress)))]
///
/// Shared for [`STATS_FRESH`](crate::api::STATS_FRESH) by the users who reach the same part,
/// like the statistics: a dashboard's chart over a district's million buildings is made once a
/// second, not once a caller.
pub async fn progress(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ProgressQuery>,
) -> Result<axum::response::Response, AppError> {
    let key = format!(
        "progress|{}|{}|{}",
        user.reach_key(&state.project().town.code),
        q.by.as_deref().unwrap_or("town"),
        q.code.as_deref().unwrap_or("")
    );
    let st = state.clone();
    crate::api::shared_answer(&state, key, crate::api::STATS_FRESH, move || {
        progress_now(st, user, q).map(|Json(p)| p)
    })
    .await
}

/// [`progress`], on a blocking thread.
fn progress_now(
    state: AppState,
    user: AuthUser,
    q: ProgressQuery,
) -> Result<Json<Progress>, AppError> {
    let p = state.project();
    let by = q.by.as_deref().unwrap_or("town");
    let code = match (by, q.code) {
        ("town", None) => p.town.code.clone(),
        ("town" | "village" | "grid", Some(c)) => c,
        ("village" | "grid", None) => {
            return Err(AppError::BadRequest(format!(
                "by={by} needs code=… (the {by}'s code)"
            )));
        }
        (other, _) => {
            return Err(AppError::BadRequest(format!(
                "by must be town, village or grid, not {other}"
            )));
        }
    };
    let town_wide = user.town_wide(&p.town.code);
    match by {
        "town" if code != p.town.code => return Err(AppError::NotFound(format!("town {code}"))),
        "village" => {
            let known = p.villages.iter().any(|v| v.code == code)
                || p.grids
                    .iter()
                    .any(|g| g.grid.village.as_deref() == Some(code.as_str()));
            if !known {
                return Err(AppError::NotFound(format!("village {code}")));
            }
            if !(town_wide || user.reach(&p.town.code) == crate::scope::Reach::Village(&code)) {
                return Err(AppError::Forbidden);
            }
        }
        "grid" => {
            if p.grid(&code).is_none() {
                return Err(AppError::NotFound(format!("grid {code}")));
            }
            if !user.sees_code(&p, &code) {
                return Err(AppError::Forbidden);
            }
        }
        _ => {}
    }
    // The buildings of the selection that the caller sees (the one rule of scope), by index: a
    // building counts towards its grid, and its grid's village; one that counts towards no
    // grid (in none, or in several) towards the village whose boundary holds it, and the town.
    let scope = user.scope(&p);
    let selected = |i: usize| -> bool {
        if !scope.building(i) {
            return false;
        }
        let grid = p.grid_of(i).and_then(|c| p.grid(c));
        match by {
            "village" => match grid {
                Some(g) => g.grid.village.as_deref() == Some(code.as_str()),
                None => scope.village_of_building(i) == Some(code.as_str()),
            },
            "grid" => grid.is_some_and(|g| g.grid.code == code),
            _ => true,
        }
    };
    let (mut households, mut buildings) = (0u64, 0u64);
    for (i, b) in p.buildings.iter().enumerate() {
        if selected(i) {
            households += u64::from(b.households);
            buildings += 1;
        }
    }
    // Every `visited` visit of a selected building, with its day.
    let live = p.live();
    let log = &live.visits;
    let visits = (0..log.len()).filter_map(|n| {
        if log.outcome(n) != VisitOutcome::Visited {
            return None;
        }
        let i = log.building(n)?;
        let day = log.day(n)?;
        selected(i as usize).then_some((i, day))
    });
    let days = gridmap_stats::days_of_progress(
        visits,
        |i| u64::from(p.buildings[i as usize].households),
        (households, buildings),
    );
    let settings = &state.0.settings;
    let expected = match (&settings.campaign_start, &settings.campaign_end) {
        (Some(s), Some(e)) if day_number(s).is_some() && day_number(e).is_some() => vec![
            Expected {
                date: s[..10].to_string(),
                rate: 0.0,
            },
            Expected {
                date: e[..10].to_string(),
                rate: 1.0,
            },
        ],
        _ => Vec::new(),
    };
    Ok(Json(Progress {
        by: by.to_string(),
        code,
        households,
        buildings,
        days,
        expected,
    }))
}
