//! `gridmap serve` and `gridmap user add`.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use gridmap_server::{AppState, Settings};
use gridmap_store::User;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The project file, or a PostgreSQL database (postgres://…, see `gridmap init`): there,
    /// the map, tiles and OGC API of the town's grids, buildings and visits; no accounts yet.
    pub(crate) project: PathBuf,
    /// With a PostgreSQL project: the town's code (needed when the database holds several).
    #[arg(long, value_name = "CODE", conflicts_with = "towns")]
    town: Option<String>,
    /// With a PostgreSQL project: serve several of its towns from this one process, each on
    /// its own port — the first on --bind's port, the next on the port after it, and so on
    /// (with port 0, each on a free port). Town codes separated by commas, or `all`.
    #[arg(long, value_name = "CODES", value_delimiter = ',', num_args = 1..)]
    towns: Vec<String>,
    /// Address and port to listen on (the first town's, with --towns).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Flag visits whose GPS point is farther than this from the building (metres).
    #[arg(long, default_value_t = 50.0)]
    gps_flag_m: f64,
    /// Campaign start (YYYY-MM-DD): with --campaign-end, statistics show the visit rate
    /// expected by today.
    #[arg(long, requires = "campaign_end")]
    campaign_start: Option<String>,
    /// Campaign end (YYYY-MM-DD).
    #[arg(long, requires = "campaign_start")]
    campaign_end: Option<String>,
    /// Serve the web app from this folder (with `app/` and `node_modules/`) instead of the
    /// copy embedded in the binary: for working on the app without rebuilding.
    #[arg(long)]
    web: Option<PathBuf>,
    /// How long a sign-in lasts (hours, 1 to 720); `POST /api/logout` ends one sooner.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=720))]
    session_hours: u64,
}

/// The web app's folder given with `--web`, checked; `None`: the embedded app.
fn web_dir(given: Option<PathBuf>) -> Result<Option<PathBuf>> {
    if let Some(dir) = &given
        && !dir.join("app").join("index.html").is_file()
    {
        bail!(
            "{} is not the web app's folder (no app/index.html)",
            dir.display()
        );
    }
    Ok(given)
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user (or change an existing one's role, scope and password).
    Add(UserAddArgs),
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// The project: a GeoPackage file, or a town of a PostgreSQL database
    /// (`postgres://user@host/db`, password from PGPASSWORD or ~/.pgpass).
    pub(crate) project: PathBuf,
    /// The town (its code) of a PostgreSQL database holding several.
    #[arg(long)]
    town: Option<String>,
    /// At most 64 characters, no spaces, control or invisible characters.
    #[arg(long)]
    username: String,
    /// admin, town_supervisor, village_manager, grid_leader, grid_worker or planner.
    #[arg(long)]
    role: String,
    /// The node of the org tree the user sees: the town code for admin and town_supervisor,
    /// the town or a village code for planner, a village code for village_manager, a grid
    /// code for grid_leader and grid_worker.
    #[arg(
        long,
        required_unless_present = "division",
        conflicts_with = "division"
    )]
    scope: Option<String>,
    /// A user of a division above the towns (a district's or city's town_supervisor or
    /// planner), by its code, in a PostgreSQL database: they sign in on the server of every
    /// town under it and reach the whole town there (see `gridmap division`).
    #[arg(long, conflicts_with = "town")]
    division: Option<String>,
    /// Read the password from standard input (one line), so it stays out of shell history.
    /// At least 10 characters; not the username nor containing it, not a common password,
    /// not one character or a short pattern repeated, not a run like 1234567890.
    #[arg(long, required = true)]
    password_stdin: bool,
}

pub fn run_serve(args: ServeArgs) -> Result<ExitCode> {
    for d in [&args.campaign_start, &args.campaign_end]
        .into_iter()
        .flatten()
    {
        let ok = d.len() == 10
            && d.chars().enumerate().all(|(i, c)| {
                if i == 4 || i == 7 {
                    c == '-'
                } else {
                    c.is_ascii_digit()
                }
            });
        if !ok {
            bail!("campaign dates are YYYY-MM-DD, not {d}");
        }
    }
    let mut settings = Settings {
        gps_flag_m: args.gps_flag_m,
        campaign_start: args.campaign_start.clone(),
        campaign_end: args.campaign_end.clone(),
        web_dir: web_dir(args.web.clone())?,
        ..Settings::default()
    };
    settings.session_secs = args.session_hours * 3600;
    match &settings.web_dir {
        Some(dir) if dir.join("node_modules").join("maplibre-gl").is_dir() => {
            eprintln!("web app: {} (from disk)", dir.display())
        }
        Some(dir) => eprintln!(
            "note: {} has no node_modules: run scripts/setup.sh (npm ci) for the web app",
            dir.display()
        ),
        None if gridmap_server::webapp::asset("/vendor/maplibre-gl/maplibre-gl.mjs").is_none() => {
            eprintln!(
                "note: this binary was built without web/node_modules: the web app has no map; rebuild after scripts/setup.sh"
            )
        }
        None => {}
    }
    // People are served only with the registers' key; without it the rest still works.
    let keyed =
        std::env::var_os("GRIDMAP_KEY").is_some() || std::env::var_os("GRIDMAP_KEY_FILE").is_some();
    let key = || -> Result<Option<gridmap_store::registers::RegisterKey>> {
        if !keyed {
            return Ok(None);
        }
        gridmap_store::registers::RegisterKey::from_env()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{e}"))
    };
    if !keyed {
        eprintln!("note: GRIDMAP_KEY is not set: people (personal data) will not be served");
    }
    let towns = towns_to_serve(&args)?;
    let mut served = Vec::with_capacity(towns.len());
    for (i, town) in towns.iter().enumerate() {
        let opened = crate::target::Opened::open(&args.project, town.as_deref())?;
        let name = opened.name();
        if towns.len() > 1 {
            eprintln!("loading {name} ({} of {})", i + 1, towns.len());
        }
        let state = AppState::with_store(opened.into_project_store(), settings.clone(), key()?)
            .map_err(|e| anyhow::anyhow!("cannot load {name}: {e}"))?;
        served.push((state, town_address(args.bind, i)?));
    }
    // More runtime threads than cores: work that would hold a thread runs on the blocking
    // pool, but a slow answer (a large JSON body) should not hold up everyone else.
    // The reading and validation threads first, from this thread; the runtime's run below.
    gridmap_server::start_threads();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(4, |n| n.get().max(4)))
        .on_thread_start(gridmap_server::priority::runtime_thread_started)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime
        .block_on(gridmap_server::serve_towns(served))
        .with_context(|| format!("cannot serve on {}", args.bind))?;
    Ok(ExitCode::SUCCESS)
}

/// The towns `gridmap serve` serves: `None` for the project's one town (or --town's), else the
/// codes given with --towns (`all`: every town of the database, in code order).
fn towns_to_serve(args: &ServeArgs) -> Result<Vec<Option<String>>> {
    if args.towns.is_empty() {
        return Ok(vec![args.town.clone()]);
    }
    let crate::target::Project::Pg(url) = crate::target::project(&args.project)? else {
        bail!("--towns is for a PostgreSQL database; a GeoPackage file holds one town");
    };
    let held = gridmap_pgstore::PgStore::towns_in(url)?;
    let wanted: Vec<String> = if args.towns.iter().any(|t| t == "all") {
        held.iter().map(|(code, _)| code.clone()).collect()
    } else {
        args.towns.iter().map(|t| t.trim().to_string()).collect()
    };
    let mut seen = std::collections::HashSet::new();
    for code in &wanted {
        if !seen.insert(code.as_str()) {
            bail!("--towns names town {code} twice");
        }
        if !held.iter().any(|(c, _)| c == code) {
            let list: Vec<String> = held.iter().map(|(c, n)| format!("{c} ({n})")).collect();
            bail!(
                "the database holds no town {code} (--towns); it holds {}",
                if list.is_empty() {
                    "none yet".to_string()
                } else {
                    list.join(", ")
                }
            );
        }
    }
    if wanted.is_empty() {
        bail!(
            "the database holds no town yet: add one with `gridmap init URL --town NAME --code CODE`"
        );
    }
    Ok(wanted.into_iter().map(Some).collect())
}

/// Where the `i`-th town is served: --bind's port plus `i` (port 0: a free port for each).
fn town_address(bind: SocketAddr, i: usize) -> Result<SocketAddr> {
    if bind.port() == 0 {
        return Ok(bind);
    }
    let port = u16::try_from(usize::from(bind.port()) + i).map_err(|_| {
        anyhow::anyhow!("--bind {bind}: no port left for town {} of --towns", i + 1)
    })?;
    Ok(SocketAddr::new(bind.ip(), port))
}

pub fn run_user(command: UserCommand) -> Result<ExitCode> {
    use gridmap_users::policy;
    match command {
        UserCommand::Add(args) => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.lines().next().unwrap_or_default();
            if let Some(division) = &args.division {
                return add_division_user(&args, division, password);
            }
            let scope = args.scope.clone().unwrap_or_default();
            let opened = crate::target::Opened::open(&args.project, args.town.as_deref())?;
            let name = opened.name();
            let mut store = opened.into_project_store();
            let grids = store.grids()?;
            let org = policy::Org {
                town: store.town()?.code,
                villages: store
                    .villages()?
                    .into_iter()
                    .map(|v| v.code)
                    .chain(grids.iter().filter_map(|g| g.grid.village.clone()))
                    .collect(),
                grids: grids.iter().map(|g| g.grid.code.clone()).collect(),
            };
            // Errors name the field and what is wrong (exit code 2, as every bad input).
            policy::check_new_user(&args.username, password, &args.role, &scope, &org)?;
            let hash = gridmap_users::hash_password(password)?;
            store.put_user(&User {
                username: args.username.clone(),
                role: args.role.clone(),
                scope: scope.clone(),
                password_hash: hash,
            })?;
            println!(
                "user {} ({}, scope {scope}) saved in {name}",
                args.username, args.role,
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `gridmap user add URL --division CODE`: a user of a division, kept in the database's
/// `division_users` (checked by the same username and password policy as a town's users).
fn add_division_user(args: &UserAddArgs, division: &str, password: &str) -> Result<ExitCode> {
    use gridmap_users::{Role, policy};
    let crate::target::Project::Pg(url) = crate::target::project(&args.project)? else {
        anyhow::bail!(
            "{}: --division needs a PostgreSQL database (postgres://…): a GeoPackage project \
             holds one town and no division",
            args.project.display()
        );
    };
    policy::check_username(&args.username)?;
    match Role::parse(&args.role) {
        Some(r) if r.spans_divisions() => {}
        _ => anyhow::bail!(
            "--role {}: a division's user is a town_supervisor or a planner (they oversee \
             towns; the other roles work in one)",
            args.role
        ),
    }
    policy::check_password(&args.username, password)?;
    let hash = gridmap_users::hash_password(password)?;
    gridmap_pgstore::PgStore::put_division_user(
        url,
        division,
        &User {
            username: args.username.clone(),
            role: args.role.clone(),
            scope: division.to_string(),
            password_hash: hash,
        },
    )?;
    println!(
        "user {} ({}, division {division}) saved; they sign in on the servers of its towns",
        args.username, args.role
    );
    Ok(ExitCode::SUCCESS)
}
