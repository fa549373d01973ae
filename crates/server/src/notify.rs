//! Keeps several servers of one PostgreSQL town consistent: each hears of the others' writes
//! through the store's change feed ([`gridmap_store::ProjectStore::change_feed`]: PostgreSQL's
//! `LISTEN/NOTIFY`, see `gridmap_pgstore::Listener`) and takes them in within about a second.
//!
//! # Design
//! A thread of its own (the PostgreSQL client is synchronous and cannot run on the runtime's
//! threads) waits on the feed, which runs on a connection of its own:
//! - a change sent by this server's own store connection is already in memory (the visit
//!   writer and grid edits applied it): it only moves the counter seen;
//! - visits added by another server: with the writer paused (under the store's lock), the
//!   visits after those in memory are read (`ProjectStore::visits_from`) and applied as the
//!   writer applies its own ([`crate::writer::apply`]: the visit log, the tallies, the heatmap
//!   pyramid), their buildings' cached tiles and the cached statistics dropped — no reload.
//!   That is exact when the log in memory is still the store's first visits, which the read
//!   checks (its first visit is the log's last); when a visit was committed late with an
//!   earlier position, the whole log is read again on a second connection and put in place,
//!   the tallies counted again, the pyramid and the tiles of the buildings whose latest visit
//!   changed updated;
//! - anything else (a grid edited, a user added, an import…): the town is loaded again on a
//!   second connection while the old snapshot is served, and swapped in
//!   ([`crate::watch::reload_from`]).
//!
//! Notes are gathered until none comes for [`QUIET`] (at most [`GATHER`]), so a burst (an
//! import's statements, many visits) is taken in once. The counter grows by one per change in
//! commit order: a note more than one ahead of the last seen, a counter read (every
//! [`CHECK_EVERY`]) ahead of what was heard, or a lost connection (reconnected every second
//! until it is back) mean a change was missed, and are answered with a reload.
//!
//! Logs say what was taken in and how long it took; never what a change was about.

use std::sync::{PoisonError, Weak};
use std::time::{Duration, Instant};

use gridmap_store::{ChangeFeed, ChangeKind, ChangeNote, ProjectStore};

use crate::error::AppError;
use crate::live::Live;
use crate::state::Shared;

/// How long the feed is waited on when nothing is pending.
pub const POLL: Duration = Duration::from_millis(500);

/// A burst is over when no note came for this long.
pub const QUIET: Duration = Duration::from_millis(50);

/// The longest a note waits for the burst it is in to end.
pub const GATHER: Duration = Duration::from_millis(300);

/// How often the counter is read, to notice a missed note.
pub const CHECK_EVERY: Duration = Duration::from_secs(3);

/// What the notes heard so far ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pending {
    Nothing,
    Visits,
    Reload,
}

/// Where the thread stands: the last counter seen and what is to be done.
struct Heard {
    seen: i64,
    /// The served store's sender id, read again before each note: the store gets a new one
    /// when it connects again.
    own: i32,
    pending: Pending,
    since: Option<Instant>,
    /// Another server closed sessions: those held in memory are to be asked again.
    sessions_closed: Closed,
}

/// Sessions other servers closed since the listener last dropped any.
#[derive(Debug, Default, PartialEq)]
enum Closed {
    #[default]
    Nothing,
    /// These (hex SHA-256 of each token).
    Tokens(Vec<String>),
    /// Some that the notes did not name: every session held is to be asked again.
    Any,
}

impl Heard {
    fn ask(&mut self, what: Pending) {
        if what > self.pending {
            self.pending = what;
        }
        if what > Pending::Nothing && self.since.is_none() {
            self.since = Some(Instant::now());
        }
    }

    /// Takes a note in: see the module documentation.
    fn note(&mut self, n: ChangeNote) {
        if n.kind == ChangeKind::Sessions {
            // Not a change of what is served: it carries the counter as it was.
            if n.sender != self.own {
                self.sessions_closed = match (std::mem::take(&mut self.sessions_closed), n.sessions)
                {
                    (Closed::Any, _) | (_, None) => Closed::Any,
                    (Closed::Nothing, Some(t)) => Closed::Tokens(t),
                    (Closed::Tokens(mut held), Some(t)) => {
                        held.extend(t);
                        Closed::Tokens(held)
                    }
                };
            }
            return;
        }
        if n.counter <= self.seen {
            return; // Already in what was loaded.
        }
        if n.counter > self.seen + 1 {
            tracing::warn!(
                missed = n.counter - self.seen - 1,
                "change notes were missed: reloading"
            );
            self.ask(Pending::Reload);
        } else if n.sender != self.own {
            self.ask(match n.kind {
                ChangeKind::Visits => Pending::Visits,
                ChangeKind::Other => Pending::Reload,
                ChangeKind::Sessions => Pending::Nothing,
            });
        }
        self.seen = n.counter;
    }
}

/// Starts the thread over `shared` (held weakly: the thread ends with the state); `loaded` is
/// the counter read before the state was loaded.
pub fn start(shared: Weak<Shared>, feed: Box<dyn ChangeFeed>, loaded: i64) {
    let spawned = std::thread::Builder::new()
        .name("gridmap-notify".into())
        .spawn(move || run(&shared, feed, loaded));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the change listener: other servers' writes will not be seen");
    }
}

fn run(shared: &Weak<Shared>, mut feed: Box<dyn ChangeFeed>, loaded: i64) {
    let mut heard = Heard {
        seen: loaded,
        own: feed.own_sender(),
        pending: Pending::Nothing,
        since: None,
        sessions_closed: Closed::Nothing,
    };
    let mut checked = Instant::now();
    loop {
        if shared.strong_count() == 0 {
            return;
        }
        let wait = if heard.pending == Pending::Nothing {
            POLL
        } else {
            QUIET
        };
        let mut quiet = false;
        match feed.next(wait) {
            Ok(Some(note)) => {
                heard.own = feed.own_sender();
                heard.note(note);
            }
            Ok(None) => quiet = true,
            Err(e) => {
                tracing::warn!(error = %e, "the change listener lost its connection: reconnecting");
                if !reconnect(shared, feed.as_mut()) {
                    return;
                }
                // The reload takes in every change up to now: later notes follow on from it.
                if let Ok(now) = feed.counter() {
                    heard.seen = heard.seen.max(now);
                }
                heard.ask(Pending::Reload);
                quiet = true;
            }
        }
        let closed = std::mem::take(&mut heard.sessions_closed);
        if closed != Closed::Nothing {
            // A sign-out on another server: its token must stop working here at once.
            let Some(shared) = shared.upgrade() else {
                return;
            };
            match closed {
                Closed::Tokens(tokens) => shared.sessions.forget_hashed(&tokens),
                _ => shared.sessions.forget_all(),
            }
            tracing::debug!("sessions were closed by another server: dropped here");
        }
        if heard.pending == Pending::Nothing && checked.elapsed() >= CHECK_EVERY {
            checked = Instant::now();
            match feed.counter() {
                // A note on its way is not a missed one: take what has come first.
                Ok(now) if now > heard.seen => {
                    while let Ok(Some(note)) = feed.next(QUIET) {
                        heard.own = feed.own_sender();
                        heard.note(note);
                    }
                    if now > heard.seen {
                        tracing::warn!("the change counter is ahead of the notes heard: reloading");
                        heard.ask(Pending::Reload);
                        heard.seen = now;
                    }
                    quiet = true;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read the change counter"),
            }
        }
        let due = heard.since.is_some_and(|t| t.elapsed() >= GATHER);
        if heard.pending != Pending::Nothing && (quiet || due) {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let what = heard.pending;
            heard.pending = Pending::Nothing;
            heard.since = None;
            take_in(&shared, feed.as_ref(), what);
        }
    }
}

/// Reconnects the feed, trying every second while the state lives; `false` if it is gone.
fn reconnect(shared: &Weak<Shared>, feed: &mut dyn ChangeFeed) -> bool {
    loop {
        std::thread::sleep(Duration::from_secs(1));
        if shared.strong_count() == 0 {
            return false;
        }
        match feed.reconnect() {
            Ok(()) => {
                tracing::info!("the change listener is connected again");
                return true;
            }
            Err(e) => tracing::warn!(error = %e, "the change listener cannot reconnect yet"),
        }
    }
}

/// Does what the notes asked for, logging failures (the last snapshot stays served).
fn take_in(shared: &Shared, feed: &dyn ChangeFeed, what: Pending) {
    let started = Instant::now();
    let done = match what {
        Pending::Visits => visits(shared, feed),
        _ => feed.reopen().map_err(AppError::from).and_then(|fresh| {
            let _one_at_a_time = shared
                .grid_writes
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            crate::watch::reload_from(shared, fresh.as_ref())
        }),
    };
    let ms = started.elapsed().as_secs_f64() * 1e3;
    match (done, what) {
        // Visits come all day: not worth a line each at info.
        (Ok(()), Pending::Visits) => {
            tracing::debug!(ms, "took in visits recorded by another server");
        }
        (Ok(()), _) => tracing::info!(ms, "reloaded the town after another server's writes"),
        (Err(e), _) => {
            tracing::error!(error = %e, "taking in another server's writes failed; serving the last snapshot");
        }
    }
}

/// Takes in the visits other servers added: the new ones only, through the writer's own path
/// ([`crate::writer::apply`]), when the log in memory is still the store's first visits (no
/// visit committed late with an earlier position); else the whole log again
/// ([`all_visits`]).
fn visits(shared: &Shared, feed: &dyn ChangeFeed) -> Result<(), AppError> {
    {
        // The writer paused: every visit of this server's own is in the log.
        let store = shared.store.lock().unwrap_or_else(PoisonError::into_inner);
        let project = shared.snapshot();
        let (held, last) = {
            let live = project.live();
            (
                live.visits.len(),
                live.visits
                    .len()
                    .checked_sub(1)
                    .map(|n| live.visits.id(n).into_owned()),
            )
        };
        let mut tail = store.visits_from(held.saturating_sub(1))?;
        let follows = match &last {
            None => true,
            Some(id) => tail.first().is_some_and(|v| v.id == *id),
        };
        if follows {
            if last.is_some() {
                tail.remove(0);
            }
            let touched: Vec<geo::Rect> = tail
                .iter()
                .filter_map(|v| project.building_by_id.get(v.building.as_deref()?))
                .filter_map(|&i| project.buildings[i as usize].footprint_rect())
                .collect();
            crate::writer::apply(&project, tail);
            drop(store);
            shared.tiles.invalidate_many(&touched);
            shared
                .stats_cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            return Ok(());
        }
    }
    tracing::info!("a visit was committed out of order: reading the visit log again");
    all_visits(shared, feed.reopen()?.as_ref())
}

/// Reads the visit log again from `fresh` and puts it in place (see the module documentation).
fn all_visits(shared: &Shared, fresh: &dyn ProjectStore) -> Result<(), AppError> {
    let project = shared.snapshot();
    let read = Live::load(&project, fresh)?;
    let store = shared.store.lock().unwrap_or_else(PoisonError::into_inner);
    let next = if store.count("visits")? == read.visits.len() {
        read
    } else {
        // The writer committed visits after the read: take them all again.
        drop(read);
        Live::load(&project, &**store)?
    };
    let mut touched = Vec::new();
    {
        let mut live = project.live.write().unwrap_or_else(PoisonError::into_inner);
        for (i, b) in project.buildings.iter().enumerate() {
            let key = i as u32;
            let before = (
                live.latest.get(i).copied().flatten(),
                live.flagged.get(&key),
            );
            if before == (next.latest[i], next.flagged.get(&key)) {
                continue;
            }
            let visited = next.visited(i);
            if live.visited(i) != visited
                && let Some(at) = project.location(i)
            {
                project
                    .pyramid
                    .set_visited(at, crate::state::heat_weight(b), visited);
            }
            touched.extend(b.footprint_rect());
        }
        *live = next;
        *project
            .tallies
            .write()
            .unwrap_or_else(PoisonError::into_inner) = crate::live::tallies(&project, &live);
    }
    drop(store);
    shared.tiles.invalidate_many(&touched);
    shared
        .stats_cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(counter: i64, kind: ChangeKind, sender: i32) -> ChangeNote {
        ChangeNote {
            counter,
            kind,
            last_visit: None,
            sender,
            sessions: None,
        }
    }

    #[test]
    fn notes_ask_for_what_they_need() {
        let mut h = Heard {
            seen: 10,
            own: 1,
            pending: Pending::Nothing,
            since: None,
            sessions_closed: Closed::Nothing,
        };
        // Already loaded, then our own: nothing to do.
        h.note(note(9, ChangeKind::Other, 2));
        h.note(note(11, ChangeKind::Other, 1));
        assert_eq!((h.seen, h.pending), (11, Pending::Nothing));
        // Another's visits, then another's grid edit.
        h.note(note(12, ChangeKind::Visits, 2));
        assert_eq!(h.pending, Pending::Visits);
        h.note(note(13, ChangeKind::Other, 2));
        assert_eq!(h.pending, Pending::Reload);
        // A gap, even in our own notes, is a missed change.
        let mut h = Heard {
            seen: 10,
            own: 1,
            pending: Pending::Nothing,
            since: None,
            sessions_closed: Closed::Nothing,
        };
        h.note(note(12, ChangeKind::Visits, 1));
        assert_eq!((h.seen, h.pending), (12, Pending::Reload));
        // Closed sessions carry the counter as it was: no gap, no reload; only another
        // server's ask for the sessions in memory to be dropped.
        h.note(note(12, ChangeKind::Sessions, 1));
        assert_eq!(h.sessions_closed, Closed::Nothing);
        let named = |tokens: &[&str]| ChangeNote {
            sessions: Some(tokens.iter().map(|t| t.to_string()).collect()),
            ..note(12, ChangeKind::Sessions, 2)
        };
        h.note(named(&["aa"]));
        h.note(named(&["bb"]));
        assert_eq!(
            h.sessions_closed,
            Closed::Tokens(vec!["aa".into(), "bb".into()])
        );
        // A note that names none asks for every session to be dropped.
        h.note(note(12, ChangeKind::Sessions, 2));
        h.note(named(&["cc"]));
        assert_eq!(h.sessions_closed, Closed::Any);
        assert_eq!((h.seen, h.pending), (12, Pending::Reload));
    }
}
