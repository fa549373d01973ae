//! What the PostgreSQL tests share: the database they run against, and a town per test that
//! is removed again afterwards.

#![allow(dead_code)] // each test file uses part of it

use gridmap_pgstore::PgStore;

/// The URL of the test database, from `GRIDMAP_TEST_PG` (scripts/test.sh starts a throw-away
/// cluster and sets it). Unset, the test is skipped with a message, except under CI (the `CI`
/// variable set), where it fails: the PostgreSQL tests never pass silently there.
pub fn pg_url() -> Option<String> {
    match std::env::var("GRIDMAP_TEST_PG") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "GRIDMAP_TEST_PG is not set, and CI is: the PostgreSQL store's tests must run \
                 (scripts/test.sh starts a cluster with scripts/pg-test-cluster.sh)"
            );
            // Straight to stderr, past the test harness's capture, once per test binary.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: the PostgreSQL store's tests, as GRIDMAP_TEST_PG is not set \
                     (scripts/pg-test-cluster.sh start DIR prints a URL for it)"
                );
            });
            None
        }
    }
}

/// A raw connection to the test database, for set-up and inspection.
pub fn client(url: &str) -> postgres::Client {
    gridmap_pgstore::config(url, |k| std::env::var(k).ok())
        .unwrap()
        .connect(postgres::NoTls)
        .unwrap()
}

/// Removes a town and (by cascade) all its rows when dropped, and when made, in case an
/// earlier run left it.
pub struct Town {
    url: String,
    code: String,
}

impl Town {
    pub fn new(url: &str, code: &str) -> Town {
        let town = Town {
            url: url.into(),
            code: code.into(),
        };
        town.remove();
        town
    }

    fn remove(&self) {
        let mut c = client(&self.url);
        // Before the first migration there is no table to delete from.
        let _ = c.execute("DELETE FROM town WHERE town = $1", &[&self.code]);
    }
}

impl Drop for Town {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A new town `code` in the test database, and its guard; `None` when the tests are skipped.
pub fn town(code: &str, name: &str) -> Option<(Town, PgStore)> {
    let url = pg_url()?;
    let guard = Town::new(&url, code);
    let store = PgStore::create(&url, code, name).unwrap();
    Some((guard, store))
}
