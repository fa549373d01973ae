//! [`gridmap_store::ProjectStore`] for [`PgStore`]: the spatial core ([`gridmap_store::Store`])
//! is served from PostgreSQL; accounts, plans, registers and the rest answer
//! [`gridmap_store::StoreError::Unsupported`] (the trait's defaults) until their PostgreSQL
//! versions are wired in here (issue #25).

use gridmap_store::ProjectStore;

use crate::PgStore;

impl ProjectStore for PgStore {}
