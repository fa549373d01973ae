//! gridmap's HTTP server: the project held in memory, answering the web app and other clients.
//!
//! [`app`] builds the router (tests call it with `tower::ServiceExt::oneshot`, no socket);
//! [`serve`] binds it with request tracing, timeouts, compression and graceful shutdown.
//! Every endpoint but `/health` and `/api/login` needs a bearer token, and answers only with
//! what lies in the caller's part of the org tree (see [`auth`]).

pub mod api;
pub mod auth;
pub mod error;
pub mod features;
pub mod history;
pub mod openapi;
pub mod people;
pub mod plans;
pub mod problems;
pub mod progress;
pub mod state;
pub mod tiles;
pub mod uncovered;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::AppError;
pub use state::{AppState, Settings};

/// The router with every endpoint.
pub fn app(state: AppState) -> Router {
    let web = state.0.settings.web_dir.clone();
    let router = Router::new()
        .route("/health", get(api::health))
        .route(
            "/api/login",
            post(auth::login).layer(DefaultBodyLimit::max(auth::LOGIN_BODY_LIMIT)),
        )
        .route("/api/logout", post(auth::logout))
        .route("/api/me", get(auth::me))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/grids", get(api::grids).post(api::post_grid))
        .route(
            "/api/grids/{code}",
            get(api::grid).put(api::put_grid).delete(api::delete_grid),
        )
        .route("/api/grids/{code}/history", get(history::history))
        .route(
            "/api/grids/{code}/versions/{version}",
            get(history::version),
        )
        .route("/api/problems", get(problems::problems))
        .route("/api/progress", get(progress::progress))
        .route("/api/stats", get(api::stats))
        .route("/api/stats.csv", get(api::stats_csv))
        .route("/api/stats.xlsx", get(api::stats_xlsx))
        .route("/api/visits", post(api::post_visit))
        .route("/api/buildings/{id}", get(people::building))
        .route("/api/audit", get(people::audit))
        .route("/api/uncovered", get(uncovered::uncovered))
        .route("/api/partition", post(plans::start))
        .route("/api/partition/{job}", get(plans::status))
        .route("/api/validate", post(api::validate_candidate))
        .route("/tiles/{layer}", get(tiles::tilejson))
        .route("/tiles/{layer}/{z}/{x}/{y}", get(tiles::vector_tile))
        .route("/heatmap/{kind}/legend.json", get(tiles::legend))
        .route("/heatmap/{kind}/{z}/{x}/{y}", get(tiles::heatmap))
        .route("/collections", get(features::collections))
        .route("/collections/{id}", get(features::one_collection))
        .route("/collections/{id}/items", get(features::items));
    let router = match web {
        Some(dir) => web_app(router, &dir),
        None => router,
    };
    router
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The ES module packages the web app imports, served from `node_modules/NAME/dist` at
/// `/vendor/NAME/`. Nothing else under `node_modules` is served.
pub const VENDOR: [&str; 3] = [
    "maplibre-gl",
    "terra-draw",
    "terra-draw-maplibre-gl-adapter",
];

/// Adds the web app's files: `dir/app` at `/`, the [`VENDOR`] modules at `/vendor/`.
fn web_app(router: Router<AppState>, dir: &Path) -> Router<AppState> {
    let mut router = router;
    for name in VENDOR {
        router = router.nest_service(
            &format!("/vendor/{name}"),
            ServeDir::new(dir.join("node_modules").join(name).join("dist")),
        );
    }
    router.fallback_service(ServeDir::new(dir.join("app")))
}

/// Serves `state` on `addr` until Ctrl-C or SIGTERM, then finishes in-flight requests. Each
/// request knows its peer's address (`ConnectInfo`), which sign-in counts failures by.
pub async fn serve(state: AppState, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    // The first unknown username must not cost more than the next ones.
    auth::warm_up().await;
    println!("gridmap serving on http://{local}/");
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let term = async {
            if let Ok(mut s) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                s.recv().await;
            }
        };
        tokio::select! { _ = ctrl_c => {}, _ = term => {} }
        tracing::info!("shutting down");
    })
    .await
}
