//! The project argument: a GeoPackage file, or a town of a PostgreSQL/PostGIS database given
//! as `postgres://…` (or `postgresql://…`) with `--town CODE`. The one place the CLI decides
//! which store a project is.
//!
//! A password is never taken from the command line (it would stay in the shell's history and
//! show in `ps`): a URL holding one is refused, and the message says to use `PGPASSWORD` or
//! `~/.pgpass`. Messages name a database without its password.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use gridmap_pgstore::PgStore;
use gridmap_store::{GpkgStore, ProjectStore, Store};

/// What a project argument names.
pub enum Project<'a> {
    /// A GeoPackage file.
    File(&'a Path),
    /// A PostgreSQL database: the URL, which holds no password.
    Pg(&'a str),
}

/// What a project argument names; a PostgreSQL URL with a password is refused.
pub fn project(arg: &Path) -> Result<Project<'_>> {
    let Some(text) = arg.to_str() else {
        return Ok(Project::File(arg));
    };
    let lower = text.to_ascii_lowercase();
    let Some(scheme) = ["postgres://", "postgresql://"]
        .into_iter()
        .find(|s| lower.starts_with(s))
    else {
        return Ok(Project::File(arg));
    };
    if has_password(&text[scheme.len()..]) {
        bail!(
            "a password in the PostgreSQL URL is refused: a command line is seen by other users \
             and kept in the shell's history. Give the URL without it and put the password in \
             PGPASSWORD or ~/.pgpass"
        );
    }
    Ok(Project::Pg(text))
}

/// Whether the part of a URL after `postgres://` holds a password: `user:password@…` or a
/// `password=` parameter.
fn has_password(rest: &str) -> bool {
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if let Some(at) = authority.rfind('@')
        && authority[..at].contains(':')
    {
        return true;
    }
    rest.split_once('?').is_some_and(|(_, query)| {
        query.split('&').any(|kv| {
            kv.split('=')
                .next()
                .is_some_and(|k| k.trim().eq_ignore_ascii_case("password"))
        })
    })
}

/// Refuses a PostgreSQL project for a command that works on GeoPackage projects only.
pub fn gpkg_only(arg: &Path, command: &str) -> Result<()> {
    match project(arg)? {
        Project::File(_) => Ok(()),
        Project::Pg(_) => bail!(
            "gridmap {command} works on GeoPackage projects only for now; PostgreSQL support is \
             coming (issue #25)"
        ),
    }
}

/// An open project.
pub enum Opened {
    /// A GeoPackage file, and its path.
    Gpkg(Box<GpkgStore>, PathBuf),
    /// A town of a PostgreSQL database.
    Pg(Box<PgStore>),
}

impl Opened {
    /// Opens the project `arg`. `town` (a town code) picks a town of a PostgreSQL database;
    /// without it the database must hold exactly one. Given with a GeoPackage, it must be the
    /// project's town.
    pub fn open(arg: &Path, town: Option<&str>) -> Result<Opened> {
        Ok(match project(arg)? {
            Project::File(path) => {
                let store = GpkgStore::open(path)?;
                if let Some(code) = town {
                    let own = store.town()?.code;
                    if own != code {
                        bail!(
                            "{}: the project's town is {own}, not {code} (--town)",
                            path.display()
                        );
                    }
                }
                Opened::Gpkg(Box::new(store), path.to_path_buf())
            }
            Project::Pg(url) => {
                let code = match town {
                    Some(c) => c.to_string(),
                    None => only_town(url)?,
                };
                Opened::Pg(Box::new(PgStore::open(url, &code)?))
            }
        })
    }

    /// The store, to read.
    pub fn store(&self) -> &dyn Store {
        match self {
            Opened::Gpkg(s, _) => s.as_ref(),
            Opened::Pg(s) => s.as_ref(),
        }
    }

    /// The store, to write.
    pub fn store_mut(&mut self) -> &mut dyn Store {
        match self {
            Opened::Gpkg(s, _) => s.as_mut(),
            Opened::Pg(s) => s.as_mut(),
        }
    }

    /// The store, for everything beyond the spatial core (the server holds it so).
    pub fn into_project_store(self) -> Box<dyn ProjectStore> {
        match self {
            Opened::Gpkg(s, _) => s,
            Opened::Pg(s) => s,
        }
    }

    /// Reports an import's progress to `f` (done, total); the PostgreSQL store reports none.
    pub fn on_progress(&mut self, f: impl Fn(u64, u64) + Send + 'static) {
        if let Opened::Gpkg(s, _) = self {
            s.on_progress(f);
        }
    }

    /// How messages name the project: its file, or the database (no password) and town.
    pub fn name(&self) -> String {
        match self {
            Opened::Gpkg(_, path) => path.display().to_string(),
            Opened::Pg(s) => format!("{} town {}", s.database(), s.town_code()),
        }
    }
}

/// The code of the one town of the database at `url`; an error listing them if it holds
/// several, or saying how to add one if it holds none.
fn only_town(url: &str) -> Result<String> {
    let towns = PgStore::towns_in(url)?;
    match towns.as_slice() {
        [(code, _)] => Ok(code.clone()),
        [] => bail!(
            "the database holds no town yet: add one with `gridmap init URL --town NAME --code CODE`"
        ),
        _ => {
            let list: Vec<String> = towns
                .iter()
                .map(|(code, name)| format!("{code} ({name})"))
                .collect();
            bail!(
                "the database holds {} towns: say which with --town CODE (one of {})",
                towns.len(),
                list.join(", ")
            )
        }
    }
}

/// Creates the project `arg` for the town `code` named `name`: a new GeoPackage file, or a new
/// town in a PostgreSQL database (refused if the database has it). Returns what was done, in
/// a sentence.
pub fn create(arg: &Path, code: &str, name: &str) -> Result<String> {
    Ok(match project(arg)? {
        Project::File(path) => {
            GpkgStore::create(path, code, name)?;
            format!("created {} for {name} ({code})", path.display())
        }
        Project::Pg(url) => {
            let store = PgStore::create(url, code, name)?;
            format!("added {name} ({code}) to {}", store.database())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_url_is_found_in_the_user_part_or_a_parameter() {
        assert!(has_password("u:secret@host/db"));
        assert!(has_password("u:@host"));
        assert!(has_password("u@host/db?sslmode=disable&password=x"));
        assert!(has_password("host/db?PASSWORD=x"));
        assert!(!has_password("u@host:5432/db"));
        assert!(!has_password(
            "host:5432,other:5433/db?application_name=a:b"
        ));
        assert!(!has_password("u@host/db?passwordless=1"));
    }

    #[test]
    fn only_postgres_urls_are_databases() {
        assert!(matches!(
            project(Path::new("town.gpkg")).unwrap(),
            Project::File(_)
        ));
        assert!(matches!(
            project(Path::new("POSTGRESQL://u@h/db")).unwrap(),
            Project::Pg(_)
        ));
        let e = project(Path::new("postgres://u:hunter2@h/db"))
            .err()
            .unwrap();
        let text = format!("{e:#}");
        assert!(
            text.contains("PGPASSWORD") && !text.contains("hunter2"),
            "{text}"
        );
    }
}
