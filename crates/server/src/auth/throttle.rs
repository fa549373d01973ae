//! Failed sign-ins counted by client and by username in two LRU tables of fixed capacity, and
//! what those counts allow (the policy is in the [`crate::auth`] module doc). Times are passed
//! in, so the rules are tested without waiting.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use hashlink::LruCache;

/// Clients and usernames remembered, each (the least recently seen is forgotten first).
pub const TABLE_CAPACITY: usize = 10_000;
/// Failures a client may have before it must wait.
pub const CLIENT_FREE_FAILURES: u32 = 5;
/// The longest a client is made to wait.
pub const CLIENT_MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// A client's failures are forgotten this long after its last one.
pub const CLIENT_MEMORY: Duration = Duration::from_secs(60 * 60);
/// Failures a username may have before wrong answers for it are slowed.
pub const USER_FREE_FAILURES: u32 = 5;
/// The first delay of a wrong answer for a username under attack; it doubles per failure.
pub const USER_BASE_DELAY: Duration = Duration::from_millis(250);
/// The longest delay of a wrong answer.
pub const USER_MAX_DELAY: Duration = Duration::from_secs(8);
/// A username's failures are forgotten this long after its last one.
pub const USER_MEMORY: Duration = Duration::from_secs(15 * 60);

/// Where a sign-in comes from: an IPv4 address, the /64 network of an IPv6 address (one host
/// has a whole /64 to itself), or no address (requests sent in process, as tests do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    /// No peer address (in-process requests).
    None,
    /// An IPv4 address (IPv4-mapped IPv6 addresses included).
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 address: its /64 network.
    V6Net([u8; 8]),
}

impl Client {
    /// The client of a peer address, `None` when there is none.
    pub fn of(ip: Option<IpAddr>) -> Client {
        match ip.map(|ip| ip.to_canonical()) {
            None => Client::None,
            Some(IpAddr::V4(a)) => Client::V4(a.octets()),
            Some(IpAddr::V6(a)) => {
                let mut net = [0u8; 8];
                net.copy_from_slice(&a.octets()[..8]);
                Client::V6Net(net)
            }
        }
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Client::None => f.write_str("-"),
            Client::V4(a) => write!(f, "{}", std::net::Ipv4Addr::from(*a)),
            Client::V6Net(n) => {
                let mut a = [0u8; 16];
                a[..8].copy_from_slice(n);
                write!(f, "{}/64", std::net::Ipv6Addr::from(a))
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last: Instant,
}

/// How many entries the two tables hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureEntries {
    /// Clients (addresses or /64 networks) with failures remembered.
    pub clients: usize,
    /// User names with failures remembered.
    pub usernames: usize,
}

/// The two tables. Usernames are kept as a keyed 64-bit hash (the key is random per process),
/// so an entry has a fixed size and nothing typed into the username box is kept.
pub struct Throttle {
    clients: LruCache<Client, Record>,
    users: LruCache<u64, Record>,
    hasher: RandomState,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(TABLE_CAPACITY)
    }
}

/// How long a client with `failures` failures waits after its last one.
pub fn client_wait(failures: u32) -> Duration {
    if failures < CLIENT_FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - CLIENT_FREE_FAILURES).min(20);
    Duration::from_secs(1u64 << doublings).min(CLIENT_MAX_WAIT)
}

/// The delay of a wrong answer for a username with `failures` failures.
pub fn user_delay(failures: u32) -> Duration {
    if failures < USER_FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - USER_FREE_FAILURES).min(20);
    USER_BASE_DELAY
        .saturating_mul(1 << doublings)
        .min(USER_MAX_DELAY)
}

/// The record under `key`, or `None` when it is older than `memory` (then forgotten).
fn recent<K: std::hash::Hash + Eq>(
    table: &mut LruCache<K, Record>,
    key: &K,
    now: Instant,
    memory: Duration,
) -> Option<Record> {
    let r = *table.get(key)?;
    if now.saturating_duration_since(r.last) >= memory {
        table.remove(key);
        return None;
    }
    Some(r)
}

fn count<K: std::hash::Hash + Eq>(
    table: &mut LruCache<K, Record>,
    key: K,
    now: Instant,
    memory: Duration,
) {
    let failures = recent(table, &key, now, memory).map_or(0, |r| r.failures);
    table.insert(
        key,
        Record {
            failures: failures.saturating_add(1),
            last: now,
        },
    );
}

impl Throttle {
    /// Tables of `capacity` entries each.
    pub fn new(capacity: usize) -> Throttle {
        Throttle {
            clients: LruCache::new(capacity),
            users: LruCache::new(capacity),
            hasher: RandomState::new(),
        }
    }

    /// The key of `username` in the table.
    pub fn user_key(&self, username: &str) -> u64 {
        self.hasher.hash_one(username)
    }

    /// A short fingerprint of a username for the log: the same username gives the same
    /// fingerprint while the server runs, and it cannot be turned back into the username.
    pub fn fingerprint(key: u64) -> String {
        format!("{:08x}", key >> 32)
    }

    /// How much longer `client` must wait before it may try again (`None`: it may try now).
    pub fn client_must_wait(&mut self, client: Client, now: Instant) -> Option<Duration> {
        let r = recent(&mut self.clients, &client, now, CLIENT_MEMORY)?;
        let until = r.last + client_wait(r.failures);
        (until > now).then(|| until - now)
    }

    /// A try of `client`: `Err(wait)` when it must wait; else the try counts as a failure of
    /// the client from now until it [`succeeded`](Self::succeeded) (so tries sent in parallel
    /// cannot all pass before the first fails), and the answer is the client's earlier failures.
    pub fn begin(&mut self, client: Client, now: Instant) -> Result<u32, Duration> {
        if let Some(wait) = self.client_must_wait(client, now) {
            return Err(wait);
        }
        let earlier = self.client_failures(client, now);
        count(&mut self.clients, client, now, CLIENT_MEMORY);
        Ok(earlier)
    }

    /// The client's failures not yet forgotten.
    pub fn client_failures(&mut self, client: Client, now: Instant) -> u32 {
        recent(&mut self.clients, &client, now, CLIENT_MEMORY).map_or(0, |r| r.failures)
    }

    /// The delay of a wrong answer for the username with `key` now.
    pub fn user_delay(&mut self, key: u64, now: Instant) -> Duration {
        user_delay(recent(&mut self.users, &key, now, USER_MEMORY).map_or(0, |r| r.failures))
    }

    /// Counts a failed sign-in as the username with `key` (the client's was counted by
    /// [`begin`](Self::begin)).
    pub fn failed(&mut self, key: u64, now: Instant) {
        count(&mut self.users, key, now, USER_MEMORY);
    }

    /// A successful sign-in from `client` clears its failures (not the username's: an attack
    /// on it goes on whoever signs in).
    pub fn succeeded(&mut self, client: Client) {
        self.clients.remove(&client);
    }

    /// How many entries the two tables hold now, at most the capacity each; an expired entry
    /// stays until it is looked up again or evicted.
    pub fn entries(&self) -> FailureEntries {
        FailureEntries {
            clients: self.clients.len(),
            usernames: self.users.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_and_delays_double_up_to_their_caps() {
        let secs = |n| client_wait(n).as_secs();
        assert_eq!(
            [0, 4, 5, 6, 7, 14, 15, 40].map(secs),
            [0, 0, 1, 2, 4, 512, 900, 900]
        );
        let ms = |n| user_delay(n).as_millis();
        assert_eq!(
            [0, 4, 5, 6, 8, 9, 10, 1000].map(ms),
            [0, 0, 250, 500, 2000, 4000, 8000, 8000]
        );
    }

    #[test]
    fn a_client_waits_after_five_failures_and_is_forgotten_after_an_hour() {
        let mut t = Throttle::new(100);
        let c = Client::of(Some("10.0.0.1".parse().unwrap_or(IpAddr::from([0u8; 4]))));
        let other = Client::of(Some(IpAddr::from([10, 0, 0, 2])));
        let t0 = Instant::now();
        let key = t.user_key("manager");
        for i in 0..4 {
            assert_eq!(t.begin(c, t0), Ok(i));
            t.failed(key, t0);
            assert_eq!(t.client_must_wait(c, t0), None, "{i}");
        }
        assert_eq!(t.begin(c, t0), Ok(4));
        t.failed(key, t0);
        assert_eq!(t.client_must_wait(c, t0), Some(Duration::from_secs(1)));
        assert_eq!(t.begin(c, t0), Err(Duration::from_secs(1)), "not counted");
        assert_eq!(
            t.client_must_wait(c, t0 + Duration::from_millis(400)),
            Some(Duration::from_millis(600))
        );
        assert_eq!(t.client_must_wait(c, t0 + Duration::from_secs(1)), None);
        assert_eq!(t.client_must_wait(other, t0), None);
        // The username has five failures: its wrong answers are slowed, from anyone.
        assert_eq!(t.user_delay(key, t0), Duration::from_millis(250));
        assert_eq!(t.user_delay(t.user_key("worker"), t0), Duration::ZERO);
        assert_eq!(t.begin(c, t0 + Duration::from_secs(1)), Ok(5));
        t.failed(key, t0 + Duration::from_secs(1));
        assert_eq!(
            t.client_must_wait(c, t0 + Duration::from_secs(1)),
            Some(Duration::from_secs(2))
        );
        assert_eq!(t.client_failures(c, t0 + Duration::from_secs(3599)), 6);
        assert_eq!(t.client_failures(c, t0 + Duration::from_secs(3601)), 0);
        assert_eq!(
            t.user_delay(key, t0 + Duration::from_secs(901)),
            Duration::ZERO
        );
    }

    #[test]
    fn success_clears_the_client_not_the_username() {
        let mut t = Throttle::new(100);
        let c = Client::of(Some(IpAddr::from([10, 0, 0, 1])));
        let key = t.user_key("manager");
        let now = Instant::now();
        for _ in 0..6 {
            let _ = t.begin(c, now);
            t.failed(key, now);
        }
        t.succeeded(c);
        assert_eq!(t.client_must_wait(c, now), None);
        assert_eq!(t.user_delay(key, now), Duration::from_millis(500));
    }

    #[test]
    fn the_tables_never_grow_past_their_capacity() {
        let mut t = Throttle::new(1000);
        let now = Instant::now();
        for i in 0..20_000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            let key = t.user_key(&format!("user{i}"));
            assert_eq!(t.begin(Client::of(Some(ip)), now), Ok(0));
            t.failed(key, now);
        }
        assert_eq!(
            t.entries(),
            FailureEntries {
                clients: 1000,
                usernames: 1000
            }
        );
        assert_eq!(Throttle::default().clients.capacity(), TABLE_CAPACITY);
    }

    #[test]
    fn ipv6_clients_are_their_64_network_and_mapped_ipv4_is_ipv4() {
        let a = |s: &str| Client::of(s.parse().ok());
        assert_eq!(a("2001:db8:1:2::1"), a("2001:db8:1:2:ffff::9"));
        assert_ne!(a("2001:db8:1:2::1"), a("2001:db8:1:3::1"));
        assert_eq!(a("::ffff:10.0.0.1"), a("10.0.0.1"));
        assert_eq!(a("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
        assert_eq!(a("10.0.0.1").to_string(), "10.0.0.1");
        assert_eq!(Client::of(None).to_string(), "-");
    }

    #[test]
    fn fingerprints_are_short_and_stable() {
        let t = Throttle::new(1);
        let f = Throttle::fingerprint(t.user_key("evil\nname"));
        assert_eq!(f.len(), 8);
        assert_eq!(f, Throttle::fingerprint(t.user_key("evil\nname")));
        assert!(f.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
