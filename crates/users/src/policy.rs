//! Who may be added as a user, with what password, role and scope: the rules `gridmap user add`
//! applies before it stores anyone. Pure functions; the CLI reads the project's org tree into an
//! [`Org`] and calls [`check_new_user`]. The server's sign-in refuses usernames and passwords
//! longer than [`MAX_USERNAME_CHARS`] and [`MAX_PASSWORD_CHARS`] before hashing anything.
//!
//! - Username: not empty, at most [`MAX_USERNAME_CHARS`] characters, no control, whitespace,
//!   invisible or direction-changing characters (so it cannot break or disguise a log line).
//! - Password: not blank, at least [`MIN_PASSWORD_CHARS`] and at most [`MAX_PASSWORD_CHARS`]
//!   characters; not the username and not containing it (case aside; a username of three
//!   characters or more, so that `li` does not forbid every `li` in a password); not one character
//!   repeated, nor a short pattern repeated (`abcabcabc…`, at most four characters), nor a run
//!   of consecutive digits or letters (`0123456789`, `1234567890`, `abcdefghij`, `9876543210`);
//!   not one of the most common passwords (`common-passwords.txt`, case aside), nor one of
//!   them with only digits or symbols added before or after (`woaini1314520`, `password!!`).
//! - Role and scope: `admin` and `town_supervisor` take the town code, `planner` the town or a
//!   village code, `village_manager` a village code, `grid_leader` and `grid_worker` a grid
//!   code; each of the project.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use crate::Role;

/// The longest username (in characters; at most 256 bytes in UTF-8). Sign-in refuses longer
/// ones before doing any work.
pub const MAX_USERNAME_CHARS: usize = 64;
/// The shortest password a new user may have.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest password: sign-in refuses longer ones before hashing (and its body is at most
/// 4 KiB, which holds this many characters however they are escaped).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A field of a new user that breaks the policy, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct PolicyError {
    /// `username`, `password`, `role` or `scope`.
    pub field: &'static str,
    /// What is wrong with it, in English (never the password itself).
    pub problem: String,
}

fn refuse(field: &'static str, problem: impl Into<String>) -> PolicyError {
    PolicyError {
        field,
        problem: problem.into(),
    }
}

/// The codes of a project's org tree.
#[derive(Debug, Clone, Default)]
pub struct Org {
    /// The town's code.
    pub town: String,
    /// Village codes (those of the villages layer and those grids name).
    pub villages: BTreeSet<String>,
    /// Grid codes.
    pub grids: BTreeSet<String>,
}

impl Org {
    /// What `code` is in this project, for messages.
    fn describe(&self, code: &str) -> String {
        if code == self.town {
            format!("{code} is the town")
        } else if self.villages.contains(code) {
            format!("{code} is a village")
        } else if self.grids.contains(code) {
            format!("{code} is a grid")
        } else {
            format!("{code:?} is not a code of this project")
        }
    }
}

/// Checks everything about a new user, in the order username, role and scope, password.
pub fn check_new_user(
    username: &str,
    password: &str,
    role: &str,
    scope: &str,
    org: &Org,
) -> Result<(), PolicyError> {
    check_username(username)?;
    check_role_scope(role, scope, org)?;
    check_password(username, password)
}

/// Characters that do not show or that turn text around: zero-width spaces and joiners,
/// bidirectional marks, embeddings, overrides and isolates, the word joiner, the byte order mark.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
}

/// A username: not empty, at most [`MAX_USERNAME_CHARS`] characters, nothing that is not
/// shown as itself on one line.
pub fn check_username(username: &str) -> Result<(), PolicyError> {
    if username.is_empty() {
        return Err(refuse("username", "must not be empty"));
    }
    let n = username.chars().count();
    if n > MAX_USERNAME_CHARS {
        return Err(refuse(
            "username",
            format!("too long: {n} characters, at most {MAX_USERNAME_CHARS}"),
        ));
    }
    if let Some(c) = username
        .chars()
        .find(|&c| c.is_control() || c.is_whitespace() || invisible(c))
    {
        return Err(refuse(
            "username",
            format!(
                "must not hold spaces, control or invisible characters (it holds U+{:04X})",
                c as u32
            ),
        ));
    }
    Ok(())
}

/// Whether `role` may have `scope` in `org` (see the module doc).
pub fn check_role_scope(role: &str, scope: &str, org: &Org) -> Result<(), PolicyError> {
    let Some(parsed) = Role::parse(role) else {
        let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        return Err(refuse(
            "role",
            format!("unknown role {role:?}: use one of {}", roles.join(", ")),
        ));
    };
    let town = scope == org.town;
    let village = org.villages.contains(scope);
    let grid = org.grids.contains(scope);
    let fits = match parsed {
        Role::Admin | Role::TownSupervisor => town,
        Role::Planner => town || village,
        Role::VillageManager => village,
        Role::GridLeader | Role::GridWorker => grid,
    };
    if fits {
        Ok(())
    } else {
        Err(refuse(
            "scope",
            format!(
                "a {role}'s scope is {} of this project; {}",
                parsed.scope_kind(),
                org.describe(scope)
            ),
        ))
    }
}

/// The common passwords, lower case.
fn common() -> &'static BTreeSet<&'static str> {
    static LIST: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("common-passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Whether `s` (lower case) is a unit of at most four characters repeated (at least twice;
/// once for one character).
fn repeated_pattern(s: &[char]) -> Option<usize> {
    (1..=4)
        .filter(|&unit| s.len() >= 2 * unit && s.len().is_multiple_of(unit))
        .find(|&unit| s.chunks(unit).all(|c| c == &s[..unit]))
}

/// Whether `s` (lower case) runs through consecutive digits or letters, up or down
/// (digits wrap: `7890`).
fn sequential(s: &[char]) -> bool {
    let step = |a: char, b: char| -> Option<i32> {
        if a.is_ascii_digit() && b.is_ascii_digit() {
            let d = (b as i32 - a as i32).rem_euclid(10);
            match d {
                1 => Some(1),
                9 => Some(-1),
                _ => None,
            }
        } else if a.is_ascii_lowercase() && b.is_ascii_lowercase() {
            match b as i32 - a as i32 {
                d @ (1 | -1) => Some(d),
                _ => None,
            }
        } else {
            None
        }
    };
    let mut steps = s.windows(2).map(|w| step(w[0], w[1]));
    match steps.next() {
        Some(Some(first)) => steps.all(|d| d == Some(first)),
        _ => false,
    }
}

/// A password for `username` (see the module doc).
pub fn check_password(username: &str, password: &str) -> Result<(), PolicyError> {
    if password.trim().is_empty() {
        return Err(refuse(
            "password",
            "must not be empty or only spaces".to_string(),
        ));
    }
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(refuse(
            "password",
            format!("too short: {n} characters, at least {MIN_PASSWORD_CHARS}"),
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(refuse(
            "password",
            format!("too long: {n} characters, at most {MAX_PASSWORD_CHARS}"),
        ));
    }
    let lower = password.to_lowercase();
    let user = username.to_lowercase();
    if lower == user || (user.chars().count() >= 3 && lower.contains(&user)) {
        return Err(refuse(
            "password",
            if lower == user {
                "must not be the username"
            } else {
                "must not contain the username"
            },
        ));
    }
    let chars: Vec<char> = lower.chars().collect();
    match repeated_pattern(&chars) {
        Some(1) => return Err(refuse("password", "is one character repeated")),
        Some(_) => return Err(refuse("password", "is a short pattern repeated")),
        None => {}
    }
    if sequential(&chars) {
        return Err(refuse(
            "password",
            "is a run of consecutive digits or letters",
        ));
    }
    if common().contains(lower.as_str()) {
        return Err(refuse("password", "is one of the most common passwords"));
    }
    let core = lower.trim_matches(|c: char| !c.is_alphanumeric() || c.is_ascii_digit());
    if !core.is_empty() && core != lower && common().contains(core) {
        return Err(refuse(
            "password",
            "is a common password with only digits or symbols added",
        ));
    }
    let digits_core = lower.trim_matches(|c: char| !c.is_alphanumeric());
    if digits_core != lower && common().contains(digits_core) {
        return Err(refuse(
            "password",
            "is a common password with only symbols added",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> Org {
        Org {
            town: "310101001".into(),
            villages: ["310101001002".to_string()].into(),
            grids: ["310101001002-03".to_string()].into(),
        }
    }

    fn password_problem(username: &str, password: &str) -> String {
        match check_password(username, password) {
            Err(e) => {
                assert_eq!(e.field, "password");
                e.problem
            }
            Ok(()) => panic!("{password:?} was accepted"),
        }
    }

    #[test]
    fn the_attackers_examples_are_refused() {
        assert!(password_problem("worker", "12345678").starts_with("too short: 8"));
        assert!(password_problem("worker", "password").starts_with("too short"));
        assert_eq!(
            password_problem("worker", "        "),
            "must not be empty or only spaces"
        );
        assert_eq!(
            password_problem("worker", ""),
            "must not be empty or only spaces"
        );
        assert_eq!(
            password_problem("wangxiaoming", "wangxiaoming"),
            "must not be the username"
        );
        assert_eq!(
            password_problem("wangxiaoming", "WangXiaoming88"),
            "must not contain the username"
        );
        assert_eq!(
            check_username(""),
            Err(refuse("username", "must not be empty"))
        );
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for p in [
            "1234567890",
            "qwertyuiop",
            "password123",
            "1qaz2wsx3edc",
            "woaini1314",
            "PassWord123",
            "QWERTYUIOP",
            "qq5201314520",
            "woaini5201314",
            "administrator",
            "1qaz2wsx3edc",
        ] {
            let problem = password_problem("worker", p);
            assert!(
                problem.contains("common") || problem.contains("consecutive"),
                "{p}: {problem}"
            );
        }
        // Too short whatever else: the Chinese favourites of fewer than ten characters.
        for p in ["5201314", "qq123456", "woaini"] {
            assert!(
                password_problem("worker", p).starts_with("too short"),
                "{p}"
            );
        }
        // A common password with digits or symbols around it.
        for p in [
            "woaini1314520!",
            "password2026",
            "!!qwertyuiop",
            "iloveyou-1314",
        ] {
            assert!(password_problem("worker", p).contains("common"), "{p}");
        }
    }

    #[test]
    fn repeats_and_runs_are_refused() {
        assert_eq!(
            password_problem("nobody", "aaaaaaaaaa"),
            "is one character repeated"
        );
        assert_eq!(
            password_problem("nobody", "1111111111111"),
            "is one character repeated"
        );
        assert_eq!(
            password_problem("nobody", "abcabcabcabc"),
            "is a short pattern repeated"
        );
        assert_eq!(
            password_problem("nobody", "12121212121212"),
            "is a short pattern repeated"
        );
        for p in [
            "0123456789",
            "1234567890",
            "9876543210",
            "abcdefghijk",
            "ZYXWVUTSRQ",
            "34567890123",
        ] {
            assert_eq!(
                password_problem("nobody", p),
                "is a run of consecutive digits or letters",
                "{p}"
            );
        }
    }

    #[test]
    fn good_passwords_pass() {
        for (user, p) in [
            ("worker", "tide-lantern-47"),
            ("worker", "Correct horse battery staple"),
            ("zhangsan", "黄浦江边的网格员2026"),
            ("planner", "gridmap-demo-2026"),
            ("sup", "demo-password"),
            ("leader", "x7#Kp2!qLm"),
        ] {
            assert_eq!(check_password(user, p), Ok(()), "{p}");
        }
        // Exactly ten characters is enough; 256 is the most.
        assert_eq!(check_password("nobody", "Kq8#vL2@zP"), Ok(()));
        let long: String = "xK9!".repeat(64);
        assert_eq!(check_password("nobody", &long[..255]), Ok(()));
        assert!(password_problem("nobody", &"xK9!q".repeat(52)).starts_with("too long: 260"));
    }

    #[test]
    fn usernames_are_short_printable_words() {
        for u in ["worker", "王小明", "zhang.san@town", "grid-7"] {
            assert_eq!(check_username(u), Ok(()), "{u}");
        }
        for (u, want) in [
            ("a b", "U+0020"),
            ("evil\nINFO forged", "U+000A"),
            ("tab\there", "U+0009"),
            ("rtl\u{202E}gnp.exe", "U+202E"),
            ("zero\u{200B}width", "U+200B"),
            ("ideographic\u{3000}space", "U+3000"),
        ] {
            let e = check_username(u).expect_err(u);
            assert_eq!(e.field, "username");
            assert!(e.problem.contains(want), "{u:?}: {}", e.problem);
        }
        assert_eq!(check_username(&"a".repeat(64)), Ok(()));
        assert_eq!(
            check_username(&"a".repeat(65)).map_err(|e| e.to_string()),
            Err("username: too long: 65 characters, at most 64".to_string())
        );
    }

    #[test]
    fn each_role_takes_its_kind_of_scope() {
        let org = org();
        let ok = |role: &str, scope: &str| check_role_scope(role, scope, &org);
        for (role, scope) in [
            ("admin", "310101001"),
            ("town_supervisor", "310101001"),
            ("planner", "310101001"),
            ("planner", "310101001002"),
            ("village_manager", "310101001002"),
            ("grid_leader", "310101001002-03"),
            ("grid_worker", "310101001002-03"),
        ] {
            assert_eq!(ok(role, scope), Ok(()), "{role} {scope}");
        }
        for (role, scope, why) in [
            ("grid_worker", "310101001", "310101001 is the town"),
            ("grid_leader", "310101001002", "310101001002 is a village"),
            ("village_manager", "310101001", "310101001 is the town"),
            ("admin", "310101001002", "310101001002 is a village"),
            (
                "town_supervisor",
                "310101001002-03",
                "310101001002-03 is a grid",
            ),
            ("planner", "310101001002-03", "310101001002-03 is a grid"),
            (
                "grid_worker",
                "nowhere",
                "\"nowhere\" is not a code of this project",
            ),
        ] {
            let e = ok(role, scope).expect_err(role);
            assert_eq!(e.field, "scope");
            assert!(e.problem.ends_with(why), "{role} {scope}: {}", e.problem);
        }
        assert_eq!(
            ok("grid_worker", "310101001").map_err(|e| e.to_string()),
            Err(
                "scope: a grid_worker's scope is a grid code of this project; 310101001 is the town"
                    .to_string()
            )
        );
        let e = ok("superuser", "310101001").expect_err("unknown role");
        assert_eq!(e.field, "role");
        assert!(
            e.problem.contains("admin, town_supervisor"),
            "{}",
            e.problem
        );
    }

    #[test]
    fn check_new_user_names_the_first_bad_field() {
        let org = org();
        let e = check_new_user("", "tide-lantern-47", "admin", "310101001", &org);
        assert_eq!(e.map_err(|e| e.field), Err("username"));
        let e = check_new_user("w", "tide-lantern-47", "admin", "nowhere", &org);
        assert_eq!(e.map_err(|e| e.field), Err("scope"));
        let e = check_new_user("w", "12345678", "admin", "310101001", &org);
        assert_eq!(e.map_err(|e| e.field), Err("password"));
        assert_eq!(
            check_new_user("w", "tide-lantern-47", "admin", "310101001", &org),
            Ok(())
        );
    }

    #[test]
    fn the_list_holds_a_few_hundred_lower_case_passwords() {
        let list = common();
        assert!(list.len() >= 300, "{}", list.len());
        assert!(
            list.iter()
                .all(|p| *p == p.to_lowercase() && !p.contains(' '))
        );
        for p in [
            "woaini1314",
            "5201314",
            "qq123456",
            "1qaz2wsx3edc",
            "password123",
        ] {
            assert!(list.contains(p), "{p}");
        }
    }
}
