//! The org tree above the town (migration 9): provinces, cities and districts by their national
//! division codes, the users scoped at them, and the figures a division compares its towns by.
//! The tree follows the codes (`gridmap_users::division_holds`): nothing records which town
//! lies under which division, so a town added later is under its divisions at once.

use gridmap_store::{Result, StoreError, TownFigures, User};

use crate::{Db, PgStore, connect, migrate};

/// A division of the org tree above the town.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Division {
    /// Its national code: 2 (province), 4 (city) or 6 (district) digits.
    pub code: String,
    /// Its name.
    pub name: String,
}

impl Division {
    /// What the code says it is.
    pub fn level(&self) -> &'static str {
        match self.code.len() {
            2 => "province",
            4 => "city",
            _ => "district",
        }
    }
}

/// Refuses a code that is not a division code.
fn check_code(code: &str) -> Result<()> {
    if matches!(code.len(), 2 | 4 | 6) && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(StoreError::Import {
            layer: "division",
            message: format!(
                "{code:?} is not a division code: a province has 2 digits, a city 4, a district \
                 6 (the national codes, GB/T 2260, such as 31, 3101, 310104)"
            ),
        })
    }
}

impl PgStore {
    /// Adds the division `code` named `name` to the database at `url`, or renames it.
    pub fn put_division(url: &str, code: &str, name: &str) -> Result<()> {
        check_code(code)?;
        let (mut client, target, _) = connect(url)?;
        migrate(&mut client, &target, false)?;
        client
            .execute(
                "INSERT INTO division (code, name) VALUES ($1, $2)
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name",
                &[&code, &name],
            )
            .db()?;
        Ok(())
    }

    /// Every division of the database at `url`, by code.
    pub fn divisions(url: &str) -> Result<Vec<Division>> {
        let (mut client, target, _) = connect(url)?;
        migrate(&mut client, &target, false)?;
        Ok(client
            .query("SELECT code, name FROM division ORDER BY code", &[])
            .db()?
            .iter()
            .map(|r| Division {
                code: r.get(0),
                name: r.get(1),
            })
            .collect())
    }

    /// Adds (or replaces) a user scoped at division `division` of the database at `url`: they
    /// sign in on the servers of every town under it. The caller checks the role
    /// (`gridmap_users::Role::spans_divisions`) and hashes the password; `user.scope` is
    /// ignored (the division is the scope). Fails when the division is not in the database.
    pub fn put_division_user(url: &str, division: &str, user: &User) -> Result<()> {
        check_code(division)?;
        let (mut client, target, _) = connect(url)?;
        migrate(&mut client, &target, false)?;
        let known: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM division WHERE code = $1)",
                &[&division],
            )
            .db()?
            .get(0);
        if !known {
            return Err(StoreError::Open {
                path: target,
                message: format!(
                    "no division {division} in this database (add it with `gridmap division add`)"
                ),
            });
        }
        client
            .execute(
                "INSERT INTO division_users (division, username, role, password_hash)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (division, username) DO UPDATE SET role = excluded.role,
                   password_hash = excluded.password_hash",
                &[&division, &user.username, &user.role, &user.password_hash],
            )
            .db()?;
        Ok(())
    }

    /// The users of the divisions above this town, scoped at their division, but those whose
    /// name a user of the town (or of a division nearer the town) has.
    pub(crate) fn division_users(&self) -> Result<Vec<User>> {
        Ok(self
            .lock()
            .query(
                "SELECT DISTINCT ON (d.username) d.username, d.role, d.division, d.password_hash
                 FROM division_users d
                 WHERE $1 LIKE d.division || '%' AND length($1) > length(d.division)
                   AND NOT EXISTS (SELECT 1 FROM users u
                                   WHERE u.town = $1 AND u.username = d.username)
                 ORDER BY d.username, length(d.division) DESC",
                &[&self.town],
            )
            .db()?
            .iter()
            .map(crate::accounts::user_of)
            .collect())
    }

    /// The towns under `division` with their figures (see [`TownFigures`]), by code: a
    /// building is visited when its latest visit (by instant; a time that does not parse is
    /// the earliest, the later-stored wins a tie) found it visited, as the servers count.
    pub fn towns_under(&self, division: &str) -> Result<Vec<TownFigures>> {
        check_code(division)?;
        let rows = self
            .lock()
            .query(
                "WITH towns AS (
                   SELECT town, name FROM town
                   WHERE town LIKE $1 || '%' AND length(town) > length($1)),
                 latest AS (
                   SELECT DISTINCT ON (v.town, v.building) v.town, v.building, v.outcome
                   FROM visits v JOIN towns t ON t.town = v.town
                   WHERE v.building IS NOT NULL
                   ORDER BY v.town, v.building, gridmap_instant(v.visited_at) DESC NULLS LAST,
                     v.fid DESC),
                 figures AS (
                   SELECT b.town, count(*) AS buildings,
                     coalesce(sum(b.households), 0) AS households,
                     count(*) FILTER (WHERE l.outcome = 'visited') AS visited_buildings,
                     coalesce(sum(b.households) FILTER (WHERE l.outcome = 'visited'), 0)
                       AS visited_households
                   FROM buildings b JOIN towns t ON t.town = b.town
                   LEFT JOIN latest l ON l.town = b.town AND l.building = b.id
                   GROUP BY b.town)
                 SELECT t.town, t.name,
                   (SELECT count(*) FROM grids g WHERE g.town = t.town),
                   coalesce(f.buildings, 0), coalesce(f.households, 0)::bigint,
                   coalesce(f.visited_buildings, 0), coalesce(f.visited_households, 0)::bigint
                 FROM towns t LEFT JOIN figures f ON f.town = t.town
                 ORDER BY t.town",
                &[&division],
            )
            .db()?;
        Ok(rows
            .iter()
            .map(|r| {
                let n = |i: usize| u64::try_from(r.get::<_, i64>(i)).unwrap_or(0);
                let tally = gridmap_stats::Tally {
                    buildings: n(3),
                    households: n(4),
                    visited_buildings: n(5),
                    visited_households: n(6),
                    ..Default::default()
                };
                TownFigures {
                    code: r.get(0),
                    name: r.get(1),
                    grids: n(2),
                    buildings: tally.buildings,
                    households: tally.households,
                    visited_buildings: tally.visited_buildings,
                    visited_households: tally.visited_households,
                    visit_rate: tally.visit_rate(),
                }
            })
            .collect())
    }
}
