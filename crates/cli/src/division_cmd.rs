//! `gridmap division`: the org tree above the town in a PostgreSQL database (provinces, cities,
//! districts by their national codes) and the ranking of a division's towns.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use gridmap_pgstore::PgStore;

use crate::target::{Project, project};

#[derive(Debug, Subcommand)]
pub enum DivisionCommand {
    /// Add a province, city or district (or rename it) by its national code (GB/T 2260: 2, 4
    /// or 6 digits). Towns whose codes begin with it lie under it.
    Add(AddArgs),
    /// List the divisions of the database.
    List(ListArgs),
    /// Rank the towns under a division by visit rate, with their grids, buildings and
    /// households visited.
    Rank(RankArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The PostgreSQL database (postgres://user@host/db; the password from PGPASSWORD or
    /// ~/.pgpass).
    database: PathBuf,
    /// The division's code: 31 (a province), 3101 (a city), 310104 (a district).
    #[arg(long)]
    code: String,
    /// Its name (上海市, 徐汇区…).
    #[arg(long)]
    name: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The PostgreSQL database.
    database: PathBuf,
}

#[derive(Debug, Args)]
pub struct RankArgs {
    /// The PostgreSQL database.
    database: PathBuf,
    /// The division whose towns are ranked.
    #[arg(long)]
    code: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// With more than one town in the database: the town whose connection reads (any; the
    /// first by code when left out).
    #[arg(long, hide = true)]
    town: Option<String>,
}

/// The URL of a `postgres://` argument, or an error saying the org tree lives in PostgreSQL.
fn database(arg: &std::path::Path) -> Result<&str> {
    match project(arg)? {
        Project::Pg(url) => Ok(url),
        Project::File(path) => bail!(
            "{}: the org tree above the town lives in a PostgreSQL database (postgres://…); a \
             GeoPackage project holds one town",
            path.display()
        ),
    }
}

pub fn run(command: DivisionCommand) -> Result<ExitCode> {
    match command {
        DivisionCommand::Add(a) => {
            let url = database(&a.database)?;
            PgStore::put_division(url, &a.code, &a.name)?;
            println!("division {} {} saved", a.code, a.name);
        }
        DivisionCommand::List(a) => {
            let url = database(&a.database)?;
            let towns = PgStore::towns_in(url)?;
            for d in PgStore::divisions(url)? {
                let under = towns
                    .iter()
                    .filter(|(code, _)| gridmap_users::division_holds(&d.code, code))
                    .count();
                println!("{:<8} {:<9} {} ({under} towns)", d.code, d.level(), d.name);
            }
        }
        DivisionCommand::Rank(a) => {
            let url = database(&a.database)?;
            if !gridmap_users::division_holds(&a.code, &format!("{}000", a.code)) {
                bail!(
                    "--code {:?}: a division code has 2, 4 or 6 digits (31, 3101, 310104)",
                    a.code
                );
            }
            let town = match a.town {
                Some(t) => t,
                None => match PgStore::towns_in(url)?.into_iter().next() {
                    Some((code, _)) => code,
                    None => bail!("the database holds no town yet"),
                },
            };
            let store = PgStore::open(url, &town)?;
            let mut towns = store.towns_under(&a.code)?;
            towns.sort_by(|x, y| {
                y.visit_rate
                    .total_cmp(&x.visit_rate)
                    .then_with(|| x.code.cmp(&y.code))
            });
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "division": a.code, "towns": towns,
                    }))?
                );
                return Ok(ExitCode::SUCCESS);
            }
            if towns.is_empty() {
                println!("no town of this database lies under {}", a.code);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:>4}  {:<12} {:<16} {:>6} {:>9} {:>11} {:>9} {:>7}",
                "rank", "town", "name", "grids", "buildings", "households", "visited", "rate"
            );
            for (i, t) in towns.iter().enumerate() {
                println!(
                    "{:>4}  {:<12} {:<16} {:>6} {:>9} {:>11} {:>9} {:>6.1}%",
                    i + 1,
                    t.code,
                    t.name,
                    t.grids,
                    t.buildings,
                    t.households,
                    t.visited_households,
                    t.visit_rate * 100.0
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
