//! The test database of the CLI's PostgreSQL tests, as tests/cli_pg.rs takes it: its URL from
//! `GRIDMAP_TEST_PG` (scripts/test.sh starts a throw-away cluster with
//! scripts/pg-test-cluster.sh and sets it); unset, a test is skipped with a message, except
//! under CI (`CI` set), where it fails. Shared through `#[path]`.

#![allow(dead_code)]

/// The URL of the test database; `None` (the test is skipped) when `GRIDMAP_TEST_PG` is unset,
/// except under CI, where that fails.
pub fn pg_url() -> Option<String> {
    match std::env::var("GRIDMAP_TEST_PG") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "GRIDMAP_TEST_PG is not set, and CI is: the CLI's PostgreSQL tests must run \
                 (scripts/test.sh starts a cluster with scripts/pg-test-cluster.sh)"
            );
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: the CLI's PostgreSQL tests, as GRIDMAP_TEST_PG is not set \
                     (scripts/pg-test-cluster.sh start DIR prints a URL for it)"
                );
            });
            None
        }
    }
}

/// A connection to the test database.
pub fn connect(url: &str) -> postgres::Client {
    gridmap_pgstore::config(url, |k| std::env::var(k).ok())
        .expect("the test URL parses")
        .connect(postgres::NoTls)
        .expect("the test database answers")
}

/// A town code of the test database, removed (with all its rows, by cascade) when made, in
/// case an earlier run left it, and when dropped.
pub struct Town {
    pub url: String,
    pub code: &'static str,
}

impl Town {
    pub fn new(url: &str, code: &'static str) -> Town {
        let town = Town {
            url: url.into(),
            code,
        };
        town.remove();
        town
    }

    fn remove(&self) {
        // Before the first `gridmap init` there is no table to delete from.
        let _ = connect(&self.url).execute("DELETE FROM town WHERE town = $1", &[&self.code]);
    }
}

impl Drop for Town {
    fn drop(&mut self) {
        self.remove();
    }
}
