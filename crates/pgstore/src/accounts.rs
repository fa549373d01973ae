//! Users, sessions and the audit log of a town: the same methods, with the same behaviour, as
//! `GpkgStore`'s (`crates/store/src/gpkg.rs`), in the tables `users`, `sessions` and `audit`.

use gridmap_store::{AuditEntry, Result, User};

use crate::{Db, PgStore};

impl PgStore {
    /// Adds a user, or replaces the role, scope and password of an existing one. The password
    /// arrives hashed (argon2, PHC string); the store never sees it in clear, and it is in no
    /// error.
    pub fn put_user(&mut self, user: &User) -> Result<()> {
        let town = self.town.clone();
        self.conn()
            .execute(
                "INSERT INTO users (town, username, role, scope, password_hash)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (town, username) DO UPDATE SET role = excluded.role,
                   scope = excluded.scope, password_hash = excluded.password_hash",
                &[
                    &town,
                    &user.username,
                    &user.role,
                    &user.scope,
                    &user.password_hash,
                ],
            )
            .db()?;
        Ok(())
    }

    /// Every user of the town, by name (in byte order, as SQLite sorts), then the users of the
    /// divisions above it (scoped at their division) whose names no user of the town has.
    pub fn users(&self) -> Result<Vec<User>> {
        let mut all = self.town_users()?;
        all.extend(self.division_users()?);
        Ok(all)
    }

    /// The town's own users, by name.
    fn town_users(&self) -> Result<Vec<User>> {
        Ok(self
            .lock()
            .query(
                "SELECT username, role, scope, password_hash FROM users WHERE town = $1
                 ORDER BY username COLLATE \"C\"",
                &[&self.town],
            )
            .db()?
            .iter()
            .map(user_of)
            .collect())
    }

    /// Keeps a signed-in session so that it survives a restart of the server: only the
    /// SHA-256 of its token (hex), the user, and when it expires (Unix seconds). Expired
    /// sessions (of the town) are dropped on the way.
    pub fn put_session(
        &mut self,
        token_sha256: &str,
        username: &str,
        expires_unix: i64,
    ) -> Result<()> {
        let town = self.town.clone();
        let mut tx = self.conn().transaction().db()?;
        tx.execute(
            "DELETE FROM sessions WHERE town = $1 AND expires_unix <= extract(epoch FROM now())::bigint",
            &[&town],
        )
        .db()?;
        tx.execute(
            "INSERT INTO sessions (town, token_sha256, username, expires_unix) VALUES ($1, $2, $3, $4)
             ON CONFLICT (town, token_sha256) DO UPDATE SET username = excluded.username,
               expires_unix = excluded.expires_unix",
            &[&town, &token_sha256, &username, &expires_unix],
        )
        .db()?;
        tx.commit().db()
    }

    /// The user and expiry (Unix seconds) of the session whose token hashes to
    /// `token_sha256`, if it is kept and not expired.
    pub fn session(&self, token_sha256: &str) -> Result<Option<(String, i64)>> {
        Ok(self
            .lock()
            .query_opt(
                "SELECT username, expires_unix FROM sessions
                 WHERE town = $1 AND token_sha256 = $2
                   AND expires_unix > extract(epoch FROM now())::bigint",
                &[&self.town, &token_sha256],
            )
            .db()?
            .map(|r| (r.get(0), r.get(1))))
    }

    /// Forgets a session (sign-out).
    pub fn delete_session(&mut self, token_sha256: &str) -> Result<()> {
        let town = self.town.clone();
        self.conn()
            .execute(
                "DELETE FROM sessions WHERE town = $1 AND token_sha256 = $2",
                &[&town, &token_sha256],
            )
            .db()?;
        Ok(())
    }

    /// Records that `username` read personal data in clear: what (`action`), about what
    /// (`target`, e.g. a building id), how many records. Never the data itself.
    pub fn audit(&self, username: &str, action: &str, target: &str, count: usize) -> Result<()> {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        self.lock()
            .execute(
                "INSERT INTO audit (town, username, action, target, count) VALUES ($1, $2, $3, $4, $5)",
                &[&self.town, &username, &action, &target, &count],
            )
            .db()?;
        Ok(())
    }

    /// The town's audit log, oldest first.
    pub fn audit_log(&self) -> Result<Vec<AuditEntry>> {
        Ok(self
            .lock()
            .query(
                r#"SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                     username, action, target, count
                   FROM audit WHERE town = $1 ORDER BY seq"#,
                &[&self.town],
            )
            .db()?
            .iter()
            .map(|r| AuditEntry {
                at: r.get(0),
                user: r.get(1),
                action: r.get(2),
                target: r.get(3),
                count: r.get(4),
            })
            .collect())
    }
}

/// A user from a row of (username, role, scope, password hash).
pub(crate) fn user_of(r: &postgres::Row) -> User {
    User {
        username: r.get(0),
        role: r.get(1),
        scope: r.get(2),
        password_hash: r.get(3),
    }
}
