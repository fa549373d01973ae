//! gridmap's users, apart from how they sign in over HTTP: the [`Role`]s and what each may do
//! (the one definition the server's authorisation, `/api/me` and `gridmap user add` share),
//! password hashing ([`hash_password`], [`verify_password`]: argon2id) and the [`policy`] a new
//! user must meet.
//!
//! Data flows one way: `gridmap user add` checks a new user with [`policy::check_new_user`],
//! hashes the password and stores the record (`gridmap_store::User`, whose `role` is a
//! [`Role::as_str`] name) in the project; the server loads the records, checks sign-ins with
//! [`verify_password`] and decides each request from [`Role::parse`] of the session's role.
//! Nothing here does I/O beyond the random salt: the records live in the store, sessions and
//! sign-in throttling in the server.
//!
//! What each role may do, within its reach (the part of the org tree its scope names):
//!
//! | role | edit grids | record visits | people in clear | plan | audit log |
//! |---|---|---|---|---|---|
//! | admin | yes | yes | yes | yes | yes |
//! | town_supervisor | yes | no | no (masked) | yes | no |
//! | village_manager | yes | no | no (masked) | yes | no |
//! | grid_leader | its grid's boundary | yes | yes | no | no |
//! | grid_worker | no | yes | yes | no | no |
//! | planner | no | no | no (masked) | yes | no |
//!
//! ```
//! use gridmap_users::Role;
//! let role = Role::parse("grid_worker").expect("a role");
//! assert!(role.records_visits() && !role.edits_grids());
//! assert_eq!(role.capabilities(), ["record_visits", "people_in_clear"]);
//! ```

#![warn(missing_docs)]

mod password;
pub mod policy;
mod role;

pub use password::{HashError, hash_password, verify_password};
pub use role::{Role, division_holds};
