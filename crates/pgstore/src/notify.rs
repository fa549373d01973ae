//! Hearing of other processes' writes: every statement that changes a town's data bumps the
//! town's change counter (`town.changes`) and sends a notification on [`CHANNEL`] at commit
//! (triggers of migration 3, `migrations/0003_changes.sql`), carrying the town, the counter
//! after the change, what changed ("visits" for added visits, "other" for anything else) and,
//! for visits, the highest `fid` added. The counter grows by one per change in commit order,
//! so a listener that hears `n + 2` after `n`, or reads a counter ahead of what it heard,
//! knows it missed one.
//!
//! A [`Listener`] ([`PgStore::listen`]) holds a connection of its own that runs
//! `LISTEN gridmap_changes` and hands out the notes of its town, with the backend process id of
//! the connection that sent each; [`PgStore::backend_pid`] is the store's own, so a server can
//! tell its own writes (already in memory) from another's.

use std::time::{Duration, Instant};

use gridmap_store::{ChangeFeed, ChangeKind, ChangeNote, ProjectStore, Result, StoreError};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config};

use crate::{Db, PgStore, connect_with};

/// The notification channel of every town's changes.
pub const CHANNEL: &str = "gridmap_changes";

/// Listens for the changes of one town: a connection of its own running `LISTEN gridmap_changes`
/// (migration 0003 announces every committed change of a town, with its counter).
pub struct Listener {
    client: Client,
    config: Config,
    town: String,
    /// The store's sender id, renewed when it reconnects ([`PgStore::backend_pid`]).
    own: std::sync::Arc<std::sync::atomic::AtomicI32>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("database", &crate::describe(&self.config))
            .field("town", &self.town)
            .finish_non_exhaustive()
    }
}

/// A connection to `config` listening on [`CHANNEL`].
fn listening(config: &Config) -> Result<Client> {
    let (mut client, _) = connect_with(config)?;
    client.batch_execute(&format!("LISTEN {CHANNEL}")).db()?;
    Ok(client)
}

/// The note in `payload` if it is about `town`.
fn parse(payload: &str, town: &str, sender: i32) -> Option<ChangeNote> {
    let v: serde_json::Value = serde_json::from_str(payload).ok()?;
    if v.get("town")?.as_str()? != town {
        return None;
    }
    let kind = match v.get("kind")?.as_str()? {
        "visits" => ChangeKind::Visits,
        "sessions" => ChangeKind::Sessions,
        _ => ChangeKind::Other,
    };
    Some(ChangeNote {
        counter: v.get("changes")?.as_i64()?,
        kind,
        last_visit: v.get("fid").and_then(serde_json::Value::as_i64),
        sender,
        sessions: v
            .get("tokens")
            .and_then(serde_json::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            }),
    })
}

/// The town `town` on a new connection made with `config` (the schema is already up to date).
fn store_on(config: &Config, town: &str) -> Result<PgStore> {
    let (client, target) = connect_with(config)?;
    Ok(PgStore {
        client: std::sync::Mutex::new(client),
        town: town.into(),
        target,
        config: config.clone(),
        pid: Default::default(),
    })
}

fn counter_of(client: &mut Client, town: &str) -> Result<i64> {
    client
        .query_opt("SELECT changes FROM town WHERE town = $1", &[&town])
        .db()?
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::Open {
            path: format!("town {town}"),
            message: "the town is no longer in the database".into(),
        })
}

impl PgStore {
    /// A listener for this town's changes, on a connection of its own (the store's settings).
    pub fn listen(&self) -> Result<Listener> {
        Ok(Listener {
            client: listening(&self.config)?,
            config: self.config.clone(),
            town: self.town.clone(),
            own: {
                self.backend_pid()?;
                self.pid.clone()
            },
        })
    }

    /// The town's change counter as committed now.
    pub fn change_counter(&self) -> Result<i64> {
        counter_of(&mut self.lock(), &self.town)
    }

    /// The backend process id of the store's connection: the sender of its changes' notes.
    pub fn backend_pid(&self) -> Result<i32> {
        let id: i32 = self
            .lock()
            .query_one("SELECT pg_backend_pid()", &[])
            .db()?
            .get(0);
        self.pid.store(id, std::sync::atomic::Ordering::Relaxed);
        Ok(id)
    }

    /// The same town on a second connection (the schema is already up to date).
    pub fn reopen(&self) -> Result<PgStore> {
        store_on(&self.config, &self.town)
    }

    /// Opens the same town again, each call on a new connection (a pool's connections).
    pub fn opener(&self) -> gridmap_store::Opener {
        let (config, town) = (self.config.clone(), self.town.clone());
        std::sync::Arc::new(
            move || Ok(Box::new(store_on(&config, &town)?) as Box<dyn ProjectStore>),
        )
    }
}

impl Listener {
    /// Waits up to `timeout` for the next note of this town (notes of other towns are skipped);
    /// `Ok(None)` when none came. An error: the connection is lost, notes may have been
    /// missed ([`Listener::reconnect`]).
    pub fn next(&mut self, timeout: Duration) -> Result<Option<ChangeNote>> {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let next = self.client.notifications().timeout_iter(left).next().db()?;
            match next {
                None => {
                    if self.client.is_closed() {
                        return Err(StoreError::Open {
                            path: crate::describe(&self.config),
                            message: "the listening connection was closed".into(),
                        });
                    }
                    return Ok(None);
                }
                Some(n) => {
                    if n.channel() == CHANNEL
                        && let Some(note) = parse(n.payload(), &self.town, n.process_id())
                    {
                        return Ok(Some(note));
                    }
                }
            }
        }
    }

    /// The town's change counter as committed now (read on the listener's connection).
    pub fn counter(&mut self) -> Result<i64> {
        counter_of(&mut self.client, &self.town)
    }

    /// The backend process id of the listener's own connection.
    pub fn backend_pid(&mut self) -> Result<i32> {
        Ok(self
            .client
            .query_one("SELECT pg_backend_pid()", &[])
            .db()?
            .get(0))
    }

    /// Connects and listens again.
    pub fn reconnect(&mut self) -> Result<()> {
        self.client = listening(&self.config)?;
        Ok(())
    }

    /// The backend process id of the store this listener was made from, as it is now (the
    /// store connects again after the database closed its connection).
    pub fn own_sender(&self) -> i32 {
        self.own.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A new store over the same town.
    pub fn reopen(&self) -> Result<PgStore> {
        store_on(&self.config, &self.town)
    }
}

impl ChangeFeed for Listener {
    fn next(&mut self, timeout: Duration) -> Result<Option<ChangeNote>> {
        Listener::next(self, timeout)
    }
    fn counter(&mut self) -> Result<i64> {
        Listener::counter(self)
    }
    fn reconnect(&mut self) -> Result<()> {
        Listener::reconnect(self)
    }
    fn own_sender(&self) -> i32 {
        Listener::own_sender(self)
    }
    fn reopen(&self) -> Result<Box<dyn ProjectStore>> {
        Ok(Box::new(Listener::reopen(self)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_of_the_town_are_parsed_and_others_skipped() {
        let visits = r#"{"town": "t1", "changes": 7, "kind": "visits", "fid": 42}"#;
        assert_eq!(
            parse(visits, "t1", 9),
            Some(ChangeNote {
                counter: 7,
                kind: ChangeKind::Visits,
                last_visit: Some(42),
                sender: 9,
                sessions: None,
            })
        );
        let other = r#"{"town": "t1", "changes": 8, "kind": "other", "fid": null}"#;
        assert_eq!(
            parse(other, "t1", 9).map(|n| (n.kind, n.last_visit)),
            Some((ChangeKind::Other, None))
        );
        assert_eq!(parse(visits, "t2", 9), None);
        assert_eq!(parse("not json", "t1", 9), None);
    }
}
