//! Roles: what each may do, by name and by capability.

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `admin`: everything in the town, the audit log included.
    Admin,
    /// `town_supervisor`: edits and plans the town's grids, records no visits, sees people
    /// masked.
    TownSupervisor,
    /// `village_manager`: edits and plans the grids of one village, records no visits, sees
    /// people masked.
    VillageManager,
    /// `grid_leader` (网格长): changes its own grid's boundary and name, records visits, sees
    /// its people in clear.
    GridLeader,
    /// `grid_worker` (网格员): records visits in its grid and sees its people in clear; edits
    /// no grid.
    GridWorker,
    /// `planner`: plans grids for the town or one village, edits none, sees people masked.
    Planner,
}

impl Role {
    /// Every role, from broadest to narrowest.
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::TownSupervisor,
        Role::VillageManager,
        Role::GridLeader,
        Role::GridWorker,
        Role::Planner,
    ];

    /// The role named `s` (`grid_leader`, …).
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The role's name as stored and sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::TownSupervisor => "town_supervisor",
            Role::VillageManager => "village_manager",
            Role::GridLeader => "grid_leader",
            Role::GridWorker => "grid_worker",
            Role::Planner => "planner",
        }
    }

    /// May change grid boundaries (within its reach).
    pub fn edits_grids(self) -> bool {
        matches!(
            self,
            Role::Admin | Role::TownSupervisor | Role::VillageManager | Role::GridLeader
        )
    }

    /// May create and delete grids (a grid leader only reshapes their own).
    pub fn creates_grids(self) -> bool {
        matches!(
            self,
            Role::Admin | Role::TownSupervisor | Role::VillageManager
        )
    }

    /// May record visits: the field roles and admin.
    pub fn records_visits(self) -> bool {
        matches!(self, Role::Admin | Role::GridLeader | Role::GridWorker)
    }

    /// Sees people in clear (within its reach); the others see them masked.
    pub fn sees_people_clear(self) -> bool {
        matches!(self, Role::Admin | Role::GridLeader | Role::GridWorker)
    }

    /// May re-partition villages and read plans.
    pub fn plans(self) -> bool {
        matches!(
            self,
            Role::Admin | Role::Planner | Role::TownSupervisor | Role::VillageManager
        )
    }

    /// Sees and rates key units, places and persons (重点单位、场所、人员: people released from
    /// prison, under community correction, with severe mental disorders, …) within its reach:
    /// admins and grid leaders only — narrower than who sees residents in clear, as the seeds
    /// hand key persons to the grid leader and the police, not every grid worker.
    pub fn sees_key_subjects(self) -> bool {
        matches!(self, Role::Admin | Role::GridLeader)
    }

    /// May read the audit log of clear personal-data reads.
    pub fn reads_audit(self) -> bool {
        self == Role::Admin
    }

    /// The kind of scope the role takes, for messages: see [`crate::policy::check_role_scope`].
    pub const fn scope_kind(self) -> &'static str {
        match self {
            Role::Admin | Role::TownSupervisor => "the town code",
            Role::Planner => "the town code or a village code",
            Role::VillageManager => "a village code",
            Role::GridLeader | Role::GridWorker => "a grid code",
        }
    }

    /// May be scoped at a division above the town (a district's or city's user, see
    /// [`division_holds`]): the roles that oversee a town without working in it.
    pub fn spans_divisions(self) -> bool {
        matches!(self, Role::TownSupervisor | Role::Planner)
    }

    /// The capabilities by name, for `/api/me`.
    pub fn capabilities(self) -> Vec<&'static str> {
        [
            ("edit_grids", self.edits_grids()),
            ("create_grids", self.creates_grids()),
            ("record_visits", self.records_visits()),
            ("people_in_clear", self.sees_people_clear()),
            ("key_subjects", self.sees_key_subjects()),
            ("plan", self.plans()),
            ("read_audit", self.reads_audit()),
        ]
        .into_iter()
        .filter_map(|(name, yes)| yes.then_some(name))
        .collect()
    }
}

/// Whether the division with code `division` holds the town with code `town`: the national
/// administrative division codes nest by prefix (province 2 digits, city 4, district 6; a town
/// 9 in the statistical codes), so a province, city or district code that begins a longer
/// all-digit town code is above that town (`31` and `3101` and `310104` hold `310104001`).
///
/// ```
/// use gridmap_users::division_holds;
/// assert!(division_holds("310104", "310104001"));
/// assert!(division_holds("31", "310104001"));
/// assert!(!division_holds("310105", "310104001"));
/// assert!(!division_holds("310104001", "310104001"), "a town is not its own division");
/// assert!(!division_holds("3101a", "3101a0001"), "digits only");
/// ```
pub fn division_holds(division: &str, town: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    matches!(division.len(), 2 | 4 | 6)
        && digits(division)
        && digits(town)
        && town.len() > division.len()
        && town.starts_with(division)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_none() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("superuser"), None);
        assert_eq!(Role::parse("Admin"), None, "names are exact");
    }

    #[test]
    fn capabilities_follow_the_table() {
        assert_eq!(
            Role::Admin.capabilities(),
            [
                "edit_grids",
                "create_grids",
                "record_visits",
                "people_in_clear",
                "key_subjects",
                "plan",
                "read_audit"
            ]
        );
        assert_eq!(
            Role::GridLeader.capabilities(),
            [
                "edit_grids",
                "record_visits",
                "people_in_clear",
                "key_subjects"
            ]
        );
        assert_eq!(
            Role::GridWorker.capabilities(),
            ["record_visits", "people_in_clear"]
        );
        assert_eq!(Role::Planner.capabilities(), ["plan"]);
        assert_eq!(
            Role::TownSupervisor.capabilities(),
            ["edit_grids", "create_grids", "plan"]
        );
        assert_eq!(
            Role::VillageManager.capabilities(),
            Role::TownSupervisor.capabilities()
        );
    }
}
