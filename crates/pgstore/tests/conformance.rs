//! The store conformance suite (`gridmap_store::conformance`) on the PostgreSQL store: each
//! test gets its own town in the database `GRIDMAP_TEST_PG` names, so the tests run in
//! parallel and leave nothing behind.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

mod common;

use gridmap_store::conformance::TOWN_NAME;

fn fresh(test: &str) -> Option<(common::Town, gridmap_pgstore::PgStore)> {
    common::town(&format!("conformance_{test}"), TOWN_NAME)
}

gridmap_store::store_conformance_tests!(fresh);
