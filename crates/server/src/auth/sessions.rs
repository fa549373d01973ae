//! The open sessions by bearer token: expired ones are dropped when met and swept out at most
//! once every [`SWEEP_EVERY`]; a user holds at most [`MAX_SESSIONS_PER_USER`] (signing in once
//! more closes the one that would expire first), so the table stays bounded by the users.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::state::Session;

/// Sessions one user may hold at once.
pub const MAX_SESSIONS_PER_USER: usize = 32;
/// How often expired sessions are swept out (on a sign-in).
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Table {
    by_token: HashMap<String, Session>,
    next_sweep: Instant,
}

/// The open sessions.
#[derive(Debug)]
pub struct Sessions(Mutex<Table>);

impl Default for Sessions {
    fn default() -> Self {
        Sessions(Mutex::new(Table {
            by_token: HashMap::new(),
            next_sweep: Instant::now(),
        }))
    }
}

impl Sessions {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens a session under `token`.
    pub fn open(&self, token: String, session: Session, now: Instant) {
        let mut t = self.table();
        if now >= t.next_sweep {
            t.by_token.retain(|_, s| s.expires > now);
            t.next_sweep = now + SWEEP_EVERY;
        }
        loop {
            let mine = t
                .by_token
                .iter()
                .filter(|(_, s)| s.username == session.username);
            if mine.clone().count() < MAX_SESSIONS_PER_USER {
                break;
            }
            let Some(oldest) = mine.min_by_key(|(_, s)| s.expires).map(|(k, _)| k.clone()) else {
                break;
            };
            t.by_token.remove(&oldest);
        }
        t.by_token.insert(token, session);
    }

    /// The live session of `token` (an expired one is dropped).
    pub fn get(&self, token: &str, now: Instant) -> Option<Session> {
        let mut t = self.table();
        match t.by_token.get(token) {
            Some(s) if s.expires > now => Some(s.clone()),
            Some(_) => {
                t.by_token.remove(token);
                None
            }
            None => None,
        }
    }

    /// Closes the session of `token`; the session when it was live.
    pub fn close(&self, token: &str, now: Instant) -> Option<Session> {
        self.table()
            .by_token
            .remove(token)
            .filter(|s| s.expires > now)
    }

    /// Forgets the sessions whose tokens hash to `hashes` (hex SHA-256, as the store keeps
    /// sessions): another server closed them.
    pub fn forget_hashed(&self, hashes: &[String]) {
        let hashes: std::collections::HashSet<&str> = hashes.iter().map(String::as_str).collect();
        self.table()
            .by_token
            .retain(|token, _| !hashes.contains(crate::auth::token_hash(token).as_str()));
    }

    /// Forgets every session held: each is asked of the store again on its next use (another
    /// server closed some it did not name).
    pub fn forget_all(&self) {
        self.table().by_token.clear();
    }

    /// Sessions held, live or expired but not yet swept.
    pub fn len(&self) -> usize {
        self.table().by_token.len()
    }

    /// No session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(user: &str, expires: Instant) -> Session {
        Session {
            username: user.into(),
            role: "grid_worker".into(),
            scope: "g".into(),
            expires,
        }
    }

    #[test]
    fn expired_sessions_are_refused_and_swept() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let hour = Duration::from_secs(3600);
        s.open("a".into(), session("u", t0 + hour), t0);
        s.open("b".into(), session("v", t0 + Duration::from_secs(10)), t0);
        assert!(s.get("b", t0 + Duration::from_secs(9)).is_some());
        assert!(s.get("b", t0 + Duration::from_secs(10)).is_none());
        assert_eq!(s.len(), 1, "met expired: dropped");
        s.open("c".into(), session("v", t0 + Duration::from_secs(1)), t0);
        // The next sign-in after a minute sweeps the expired "c" out.
        s.open("d".into(), session("w", t0 + hour), t0 + SWEEP_EVERY);
        assert_eq!(s.len(), 2);
        assert!(s.close("a", t0).is_some());
        assert!(s.close("a", t0).is_none());
        assert!(s.get("a", t0).is_none());
    }

    #[test]
    fn sessions_named_by_their_hash_are_forgotten_alone() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let hour = Duration::from_secs(3600);
        s.open("tok-a".into(), session("u", t0 + hour), t0);
        s.open("tok-b".into(), session("v", t0 + hour), t0);
        s.forget_hashed(&[crate::auth::token_hash("tok-a")]);
        assert!(s.get("tok-a", t0).is_none());
        assert!(s.get("tok-b", t0).is_some());
    }

    #[test]
    fn a_user_holds_a_bounded_number_of_sessions() {
        let s = Sessions::default();
        let t0 = Instant::now();
        for i in 0..100u64 {
            let expires = t0 + Duration::from_secs(1000 + i);
            s.open(format!("t{i}"), session("u", expires), t0);
        }
        s.open(
            "other".into(),
            session("v", t0 + Duration::from_secs(5)),
            t0,
        );
        assert_eq!(s.len(), MAX_SESSIONS_PER_USER + 1);
        // The newest ones are kept.
        assert!(s.get("t99", t0).is_some());
        assert!(s.get("t0", t0).is_none());
        assert!(s.get("other", t0).is_some());
    }
}
