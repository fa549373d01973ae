//! gridmap's HTTP server: the project held in memory, answering the web app and other clients.
//!
//! [`app`] builds the router (tests call it with `tower::ServiceExt::oneshot`, no socket);
//! [`serve`] binds it with request tracing, timeouts, compression and graceful shutdown.
//! Every endpoint but `/health`, `/api/login` and the map's glyphs (`/fonts/…`) needs a bearer
//! token, and answers only with what lies in the caller's part of the org tree (see [`auth`]).

#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod declarations;
pub mod error;
pub mod extract;
pub mod features;
pub mod glyphs;
pub mod grid_edit;
pub mod history;
pub mod input;
pub mod key_subjects;
pub mod live;
pub mod notify;
pub mod openapi;
pub mod people;
pub mod plans;
pub mod plates;
pub mod pool;
pub mod priority;
pub mod problems;
pub mod progress;
pub mod repair;
pub mod scope;
pub mod scorecard;
pub mod state;
pub mod tasks;
pub mod tiles;
pub mod towns;
pub mod uncovered;
pub mod visit_log;
pub mod watch;
pub mod webapp;
pub mod writer;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::routing::{any, get, post, put};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
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
        .route(
            "/api/oauth/token",
            post(auth::oauth_token).layer(DefaultBodyLimit::max(auth::LOGIN_BODY_LIMIT)),
        )
        .route("/api/logout", post(auth::logout))
        .route("/api/me", get(auth::me))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/grids", get(api::grids).post(grid_edit::post_grid))
        .route(
            "/api/grids/{code}",
            get(api::grid)
                .put(grid_edit::put_grid)
                .delete(grid_edit::delete_grid),
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
        .route("/api/scorecard", get(scorecard::get))
        .route("/api/tasks", get(tasks::list))
        .route("/api/tasks/{id}/done", post(tasks::done))
        .route(
            "/api/key-subjects",
            get(key_subjects::list).post(key_subjects::create),
        )
        .route("/api/towns", get(towns::towns))
        .route("/api/key-subjects/{id}", put(key_subjects::update))
        .route("/api/scorecard.xlsx", get(scorecard::xlsx))
        .route("/api/scorecard.pdf", get(scorecard::pdf_report))
        .route("/api/visits", post(api::post_visit))
        .route("/api/buildings/{id}", get(people::building))
        .route("/api/audit", get(people::audit))
        .route("/api/plates.pdf", get(plates::plates_pdf))
        .route("/api/declarations", get(declarations::list))
        .route(
            "/api/declarations/{id}/confirm",
            post(declarations::confirm),
        )
        .route("/api/declarations/{id}/reject", post(declarations::reject))
        .route(
            "/r/{token}",
            get(plates::page)
                .post(plates::declare)
                .layer(DefaultBodyLimit::max(plates::DECLARATION_BODY_LIMIT)),
        )
        .route("/api/uncovered", get(uncovered::uncovered))
        .route("/api/partition", post(plans::start))
        .route("/api/partition/{job}", get(plans::status))
        .route("/api/partition/{job}/adopt", post(plans::adopt))
        .route("/api/partition/{job}/save", post(plans::save))
        .route("/api/partition/{job}/grids.gpkg", get(plans::export_gpkg))
        .route("/api/plans", get(plans::list))
        .route("/api/plans/{id}", get(plans::open).delete(plans::delete))
        .route("/api/validate", post(grid_edit::validate_candidate))
        .route("/api/repair", post(repair::preview))
        .route("/api/repair/apply", post(repair::apply))
        .route("/tiles/{layer}", get(tiles::tilejson))
        .route("/tiles/{layer}/{z}/{x}/{y}", get(tiles::vector_tile))
        .route("/heatmap/{kind}/legend.json", get(tiles::legend))
        .route("/heatmap/{kind}/{z}/{x}/{y}", get(tiles::heatmap))
        // OGC API – Features, and the paths it had before /ogc (aliases).
        .route("/ogc", get(features::landing))
        .route("/ogc/", get(features::landing))
        .route("/ogc/conformance", get(features::conformance))
        .route("/conformance", get(features::conformance))
        .route("/ogc/api", get(features::api_document))
        .route("/ogc/collections", get(features::collections))
        .route("/collections", get(features::collections))
        .route("/ogc/collections/{id}", get(features::one_collection))
        .route("/collections/{id}", get(features::one_collection))
        .route("/ogc/collections/{id}/items", get(features::items))
        .route("/collections/{id}/items", get(features::items))
        .route("/ogc/collections/{id}/items/{fid}", get(features::item))
        .route("/collections/{id}/items/{fid}", get(features::item))
        .route(
            "/ogc/collections/{id}/queryables",
            get(features::queryables_doc),
        )
        .route(
            "/collections/{id}/queryables",
            get(features::queryables_doc),
        )
        .route("/api/{*rest}", any(api_not_found))
        .method_not_allowed_fallback(method_not_allowed)
        // Every API answer may hold scoped or personal data: never cached, anywhere.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    // `/`: the web app, or the OGC landing page for a client that asks for JSON (after the
    // no-store layer: the app's page is revalidated, not refetched). The map's label glyphs
    // hold no data and are cached by the browser for a day: after the no-store layer too.
    let router = router
        .route("/", get(root))
        .route("/fonts/{fontstack}/{range}", get(glyphs::glyph_range));
    let index = match &web {
        Some(dir) => std::fs::read_to_string(dir.join("app").join("index.html")).ok(),
        None => webapp::index_html().map(String::from),
    };
    let csp = content_security_policy(index.as_deref());
    let router = match web {
        Some(dir) => web_app(router, &dir),
        None => router.fallback(webapp::serve),
    };
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            csp,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Runs read work (tiles, heatmaps, statistics, lists) off the runtime's threads, on a pool of
/// its own of half the cores (at least one thread; `GRIDMAP_READERS` sets another number): the
/// other reads wait their turn in its queue without taking CPU, so that a crowd of readers
/// never starves the writer of visits and the validation of grid edits, which the campaign's
/// records depend on.
///
/// The reading thread runs at the process's priority, above the server's other busy threads
/// ([`priority`]); start it with [`start_threads`] before those are lowered, since a thread is
/// born with its creator's priority and cannot raise its own. Two reading threads took the
/// visits below 2,000 a second (session 19; session 21: 1,540).
///
/// The pool's threads take the next read as soon as one is done. (Reads used to take turns on
/// a semaphore around tokio's blocking pool, and each turn passed only once a runtime thread
/// came round to answer the last caller: under a campaign's load that hop left the one reading
/// thread idle between reads.) A read whose caller has gone (a closed connection, a timeout)
/// before its turn is not made.
pub async fn reading<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    let Some(pool) = reading_pool() else {
        return blocking(f).await;
    };
    let (answer, answered) = tokio::sync::oneshot::channel();
    pool.spawn(move || {
        if answer.is_closed() {
            return;
        }
        // A panic is this read's failure, not the pool's (rayon would abort the process).
        let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .unwrap_or_else(|_| Err(AppError::Internal("a read failed".into())));
        let _ = answer.send(made);
    });
    answered
        .await
        .map_err(|_| AppError::Internal("a read was dropped".into()))?
}

/// Starts the server's long-lived worker threads now, from the calling thread, which should be
/// the main thread before the runtime starts: the reading threads of [`reading`], at its
/// priority, and the grid validation thread, which lowers itself [`priority::VALIDATION`]
/// steps below. Started later by a request, each would be born on a runtime thread, already
/// [`priority::BELOW_READS`] below, and could not climb back.
pub fn start_threads() {
    priority::remember_start();
    let _ = reading_pool();
    state::start_validation();
}

/// The pool of [`reading`], started on first use; `None` when no thread could start.
fn reading_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let readers = std::env::var("GRIDMAP_READERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cores / 2)
            .max(1);
        rayon::ThreadPoolBuilder::new()
            .num_threads(readers)
            .thread_name(|i| format!("gridmap-read-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// Runs `f` on tokio's blocking pool (SQLite, validation, clustering: work that must not hold
/// a runtime thread, or readers would wait for it).
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
}

/// `GET /`: the OGC API landing page for a client that asks for JSON (`f=json`, or an
/// `Accept` naming JSON and not HTML, as OWSLib, GDAL and QGIS send), else the web app.
#[utoipa::path(get, path = "/", tag = "server", security(()),
    responses((status = 200, description = "The web app (HTML); the OGC API landing page to a client asking for JSON", content_type = "text/html", body = String)))]
pub(crate) async fn root(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let headers = req.headers().clone();
    if features::wants_json(&headers, req.uri()) {
        return features::root_landing(&state, &headers).await;
    }
    match &state.0.settings.web_dir {
        Some(dir) => match ServeDir::new(dir.join("app")).try_call(req).await {
            Ok(r) => r.map(axum::body::Body::new),
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        },
        None => webapp::serve(req.uri().clone(), headers).await,
    }
    .into_response()
}

/// 404 for a path under `/api` (or anywhere, without the web app) that names no endpoint.
async fn api_not_found(uri: Uri) -> AppError {
    let path: String = uri.path().chars().take(80).collect();
    AppError::Rejected(StatusCode::NOT_FOUND, format!("no endpoint {path}"))
}

/// 405 for a known path with another method.
async fn method_not_allowed(method: Method) -> AppError {
    AppError::Rejected(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed here"),
    )
}

/// The app's content security policy: everything from this origin only — no CDN, no inline
/// script but those of `index_html` (the import map, allowed by its SHA-256), workers from blob
/// URLs (MapLibre makes its worker so), images from data and blob URLs, no framing, no plugins.
pub fn content_security_policy(index_html: Option<&str>) -> HeaderValue {
    use base64::Engine;
    use sha2::Digest;
    let hashes: String = index_html
        .map(|html| {
            inline_scripts(html)
                .map(|body| {
                    let digest = sha2::Sha256::digest(body.as_bytes());
                    format!(
                        " 'sha256-{}'",
                        base64::engine::general_purpose::STANDARD.encode(digest)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self'{hashes}; style-src 'self'; img-src 'self' data: blob:; \
         worker-src 'self' blob:; child-src blob:; connect-src 'self'; font-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"))
}

/// The bodies of the inline `<script>` elements of an HTML page (those without `src`).
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.split("<script").skip(1).filter_map(|rest| {
        let (tag, after) = rest.split_once('>')?;
        if tag.contains("src=") {
            return None;
        }
        after.split_once("</script>").map(|(body, _)| body)
    })
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
    serve_towns(vec![(state, addr)]).await
}

/// Serves each town's state on its own address from this one process (`gridmap serve
/// --towns`), until Ctrl-C or SIGTERM; then every server finishes its in-flight requests. Every
/// address is bound before any is served: a port in use fails the whole start. Prints one
/// line a town with its address (`gridmap serving on http://…/` when there is one town).
pub async fn serve_towns(towns: Vec<(AppState, SocketAddr)>) -> std::io::Result<()> {
    let mut bound = Vec::with_capacity(towns.len());
    for (state, addr) in towns {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        bound.push((state, listener));
    }
    // The first unknown username must not cost more than the next ones.
    auth::warm_up().await;
    let several = bound.len() > 1;
    for (state, listener) in &bound {
        let local = listener.local_addr()?;
        if several {
            println!(
                "gridmap serving town {} on http://{local}/",
                state.project().town.code
            );
        } else {
            println!("gridmap serving on http://{local}/");
        }
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    for (state, listener) in bound {
        let mut stopped = stopped.clone();
        servers.spawn(async move {
            let last = state.clone();
            let served = axum::serve(
                listener,
                app(state).into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await;
            // The store is closed off the runtime's threads: the PostgreSQL client blocks (on
            // a runtime of its own) when it closes, which a runtime thread must not do.
            let _ = tokio::task::spawn_blocking(move || drop(last)).await;
            served
        });
    }
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    let mut result = Ok(());
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
        // A server that stops on its own (its listener failed) stops the others.
        Some(ended) = servers.join_next() => result = flatten(ended),
    }
    tracing::info!("shutting down");
    let _ = stop.send(true);
    while let Some(ended) = servers.join_next().await {
        if result.is_ok() {
            result = flatten(ended);
        }
    }
    result
}

fn flatten(ended: Result<std::io::Result<()>, tokio::task::JoinError>) -> std::io::Result<()> {
    ended.unwrap_or_else(|e| Err(std::io::Error::other(e)))
}
