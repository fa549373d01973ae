//! Every visit of the campaign, held in memory at about 80 bytes a visit.
//!
//! # Design
//! A [`Visit`] is ten fields, five of them heap strings: with the allocator's rounding it took
//! ~560 bytes in the server's log, so a three-month campaign of a district (millions of
//! visits) grew the server by gigabytes. Here a visit is one fixed-size `Record`:
//! - the id as the 16 bytes of its UUID when it is `visit-` and a hyphenated lowercase UUID
//!   (what the server makes), else interned text;
//! - the building as its position among the project's buildings (positions do not change while
//!   a server runs; see [`crate::live`]), else interned text; the house and the worker interned
//!   (a worker makes thousands of visits, a house is visited a few times);
//! - the time as seconds, nanoseconds and the offset in minutes, when printing them again gives
//!   the stored text exactly (RFC 3339 as the server and the phones write it), else interned
//!   text;
//! - the note, rare, in a side list.
//!
//! [`VisitLog::get`] makes the [`Visit`] back, equal to the one pushed (a test holds every
//! field to it, including the texts that do not compact). Readers that scan the log use the
//! accessors instead and make no strings.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use geo::Point;
use gridmap_core::model::{Building, Visit, VisitOutcome};

/// No value in a `u32` field.
const NONE: u32 = u32::MAX;

// `Record::flags`.
const ID_TEXT: u16 = 1;
const BUILDING_TEXT: u16 = 1 << 1;
const TIME_TEXT: u16 = 1 << 2;
const TIME_Z: u16 = 1 << 3;
const HAS_POINT: u16 = 1 << 4;
const FLAGGED: u16 = 1 << 5;
const HAS_SATISFACTION: u16 = 1 << 6;
const KNOWS_YES: u16 = 1 << 7;
const KNOWS_NO: u16 = 1 << 8;

/// One visit (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Record {
    /// The UUID's bytes, or the id's text position in the first four.
    id: [u8; 16],
    /// The building's position, or its text's ([`BUILDING_TEXT`]), or [`NONE`].
    building: u32,
    /// The house's text, or [`NONE`].
    house: u32,
    /// The worker's text.
    worker: u32,
    /// The note's position in [`VisitLog::notes`], or [`NONE`].
    note: u32,
    /// Seconds since 1970 (`i64::MIN` for a time that does not parse).
    at: i64,
    /// The nanoseconds of the second, or the time's text position ([`TIME_TEXT`]).
    nanos: u32,
    /// The offset from UTC in minutes.
    offset: i16,
    flags: u16,
    point: [f64; 2],
    /// The position of the building's visit before this one, or [`NONE`].
    previous: u32,
    outcome: VisitOutcome,
    satisfaction: u8,
}

/// Texts stored once each, by position.
#[derive(Debug, Clone, Default, PartialEq)]
struct Texts {
    all: Vec<Arc<str>>,
    position: HashMap<Arc<str>, u32>,
}

impl Texts {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&n) = self.position.get(s) {
            return n;
        }
        let n = self.all.len() as u32;
        let s: Arc<str> = Arc::from(s);
        self.all.push(s.clone());
        self.position.insert(s, n);
        n
    }

    fn get(&self, n: u32) -> &str {
        &self.all[n as usize]
    }

    fn find(&self, s: &str) -> Option<u32> {
        self.position.get(s).copied()
    }
}

/// Records in chunks of this many: the log never moves what it holds to grow (a campaign's
/// hundreds of megabytes copied under the writer's lock), and wastes at most one chunk.
const CHUNK: usize = 1 << 16;

/// Records by position, in chunks of [`CHUNK`].
#[derive(Debug, Clone, Default, PartialEq)]
struct Records {
    chunks: Vec<Vec<Record>>,
    len: usize,
}

impl Records {
    fn push(&mut self, r: Record) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < CHUNK => c.push(r),
            _ => {
                let mut c = Vec::with_capacity(CHUNK);
                c.push(r);
                self.chunks.push(c);
            }
        }
        self.len += 1;
    }

    fn get(&self, i: usize) -> Option<&Record> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    fn iter(&self) -> impl Iterator<Item = &Record> {
        self.chunks.iter().flatten()
    }
}

impl std::ops::Index<usize> for Records {
    type Output = Record;
    fn index(&self, i: usize) -> &Record {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

/// The visit log (see the module documentation): visits in store order, and each building's
/// visits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VisitLog {
    records: Records,
    texts: Texts,
    notes: Vec<Box<str>>,
    /// The position of each building's latest-stored visit ([`NONE`] if none), by building
    /// position; grown as buildings are visited.
    last_of: Vec<u32>,
}

/// The UUID of a server-made visit id, when `id` prints back from it exactly.
fn uuid_of(id: &str) -> Option<[u8; 16]> {
    let text = id.strip_prefix("visit-")?;
    let u = uuid::Uuid::try_parse(text).ok()?;
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    (u.hyphenated().encode_lower(&mut buf) == text).then(|| *u.as_bytes())
}

/// `time` as (seconds, nanoseconds, offset in minutes, written with `Z`), when it prints back
/// from them exactly.
fn compact_time(time: &str) -> Option<(i64, u32, i16, bool)> {
    let t = DateTime::parse_from_rfc3339(time).ok()?;
    let offset = t.offset().local_minus_utc();
    if offset % 60 != 0 {
        return None;
    }
    let z = time.ends_with('Z');
    (t.to_rfc3339_opts(SecondsFormat::AutoSi, z) == time).then(|| {
        (
            t.timestamp(),
            t.timestamp_subsec_nanos(),
            (offset / 60) as i16,
            z,
        )
    })
}

impl VisitLog {
    /// The number of visits.
    pub fn len(&self) -> usize {
        self.records.len
    }

    /// Whether there is no visit.
    pub fn is_empty(&self) -> bool {
        self.records.len == 0
    }

    /// Appends `v`, whose building is at `building` among the project's buildings (`None`: the
    /// visit names no building the project has, or none). Answers the visit's position.
    pub fn push(&mut self, v: Visit, building: Option<u32>) -> u32 {
        let n = self.records.len as u32;
        let mut flags = 0;
        let id = match uuid_of(&v.id) {
            Some(bytes) => bytes,
            None => {
                flags |= ID_TEXT;
                let mut bytes = [0u8; 16];
                bytes[..4].copy_from_slice(&self.texts.intern(&v.id).to_le_bytes());
                bytes
            }
        };
        let mut previous = NONE;
        let building = match (building, &v.building) {
            (Some(i), _) => {
                let at = i as usize;
                if self.last_of.len() <= at {
                    self.last_of.resize(at + 1, NONE);
                }
                previous = std::mem::replace(&mut self.last_of[at], n);
                i
            }
            (None, Some(text)) => {
                flags |= BUILDING_TEXT;
                self.texts.intern(text)
            }
            (None, None) => NONE,
        };
        let (at, nanos, offset) = match compact_time(&v.time) {
            Some((at, nanos, offset, z)) => {
                if z {
                    flags |= TIME_Z;
                }
                (at, nanos, offset)
            }
            None => {
                flags |= TIME_TEXT;
                (instant(&v.time), self.texts.intern(&v.time), 0)
            }
        };
        let point = match v.point {
            Some(p) => {
                flags |= HAS_POINT;
                [p.0.x, p.0.y]
            }
            None => [0.0; 2],
        };
        if v.flagged {
            flags |= FLAGGED;
        }
        match v.knows_worker {
            Some(true) => flags |= KNOWS_YES,
            Some(false) => flags |= KNOWS_NO,
            None => {}
        }
        if v.satisfaction.is_some() {
            flags |= HAS_SATISFACTION;
        }
        let note = match v.note {
            Some(note) => {
                self.notes.push(note.into_boxed_str());
                (self.notes.len() - 1) as u32
            }
            None => NONE,
        };
        self.records.push(Record {
            id,
            building,
            house: v.house.as_deref().map_or(NONE, |h| self.texts.intern(h)),
            worker: self.texts.intern(&v.worker),
            note,
            at,
            nanos,
            offset,
            flags,
            point,
            previous,
            outcome: v.outcome,
            satisfaction: v.satisfaction.unwrap_or(0),
        });
        n
    }

    fn record(&self, i: usize) -> &Record {
        &self.records[i]
    }

    /// The id of visit `i`.
    pub fn id(&self, i: usize) -> Cow<'_, str> {
        let r = self.record(i);
        if r.flags & ID_TEXT != 0 {
            Cow::Borrowed(self.texts.get(text_position(&r.id)))
        } else {
            let u = uuid::Uuid::from_bytes(r.id);
            Cow::Owned(format!("visit-{}", u.hyphenated()))
        }
    }

    /// The position of the visit with id `id`.
    pub fn position_of(&self, id: &str) -> Option<usize> {
        match uuid_of(id) {
            Some(bytes) => self
                .records
                .iter()
                .position(|r| r.flags & ID_TEXT == 0 && r.id == bytes),
            None => {
                let n = self.texts.find(id)?;
                self.records
                    .iter()
                    .position(|r| r.flags & ID_TEXT != 0 && text_position(&r.id) == n)
            }
        }
    }

    /// The position of visit `i`'s building among the project's buildings.
    pub fn building(&self, i: usize) -> Option<u32> {
        let r = self.record(i);
        (r.flags & BUILDING_TEXT == 0 && r.building != NONE).then_some(r.building)
    }

    /// The building id visit `i` names, given the project's `buildings`.
    pub fn building_id<'a>(&'a self, i: usize, buildings: &'a [Building]) -> Option<&'a str> {
        let r = self.record(i);
        if r.building == NONE {
            None
        } else if r.flags & BUILDING_TEXT != 0 {
            Some(self.texts.get(r.building))
        } else {
            Some(buildings[r.building as usize].id.as_str())
        }
    }

    /// The house visit `i` names.
    pub fn house(&self, i: usize) -> Option<&str> {
        let r = self.record(i);
        (r.house != NONE).then(|| self.texts.get(r.house))
    }

    /// The worker who made visit `i`.
    pub fn worker(&self, i: usize) -> &str {
        self.texts.get(self.record(i).worker)
    }

    /// Visit `i`'s time in seconds since 1970 (`i64::MIN` for a time that does not parse).
    pub fn at(&self, i: usize) -> i64 {
        self.record(i).at
    }

    /// Visit `i`'s time as stored.
    pub fn time(&self, i: usize) -> Cow<'_, str> {
        let r = self.record(i);
        if r.flags & TIME_TEXT != 0 {
            return Cow::Borrowed(self.texts.get(r.nanos));
        }
        let offset = FixedOffset::east_opt(i32::from(r.offset) * 60);
        let t = DateTime::from_timestamp(r.at, r.nanos).zip(offset);
        Cow::Owned(t.map_or_else(String::new, |(t, o)| {
            t.with_timezone(&o)
                .to_rfc3339_opts(SecondsFormat::AutoSi, r.flags & TIME_Z != 0)
        }))
    }

    /// The local date of visit `i` (the first ten characters of its time) as days since
    /// 1970-01-01, when it is a date.
    pub fn day(&self, i: usize) -> Option<i64> {
        let r = self.record(i);
        if r.flags & TIME_TEXT != 0 {
            return crate::input::day_number(self.texts.get(r.nanos));
        }
        Some((r.at + i64::from(r.offset) * 60).div_euclid(86_400))
    }

    /// What visit `i` found.
    pub fn outcome(&self, i: usize) -> VisitOutcome {
        self.record(i).outcome
    }

    /// Where the worker's phone was at visit `i`.
    pub fn point(&self, i: usize) -> Option<Point> {
        let r = self.record(i);
        (r.flags & HAS_POINT != 0).then(|| Point::new(r.point[0], r.point[1]))
    }

    /// Whether visit `i` was flagged.
    pub fn flagged(&self, i: usize) -> bool {
        self.record(i).flags & FLAGGED != 0
    }

    /// The household's answer to "do you know your grid worker?" at visit `i`.
    pub fn knows_worker(&self, i: usize) -> Option<bool> {
        let f = self.record(i).flags;
        if f & KNOWS_YES != 0 {
            Some(true)
        } else if f & KNOWS_NO != 0 {
            Some(false)
        } else {
            None
        }
    }

    /// The household's satisfaction at visit `i`.
    pub fn satisfaction(&self, i: usize) -> Option<u8> {
        let r = self.record(i);
        (r.flags & HAS_SATISFACTION != 0).then_some(r.satisfaction)
    }

    /// Visit `i` as it was pushed, given the project's `buildings`.
    pub fn get(&self, i: usize, buildings: &[Building]) -> Option<Visit> {
        let r = self.records.get(i)?;
        Some(Visit {
            id: self.id(i).into_owned(),
            building: self.building_id(i, buildings).map(str::to_string),
            house: self.house(i).map(str::to_string),
            worker: self.worker(i).to_string(),
            time: self.time(i).into_owned(),
            outcome: r.outcome,
            point: self.point(i),
            note: (r.note != NONE).then(|| self.notes[r.note as usize].to_string()),
            flagged: self.flagged(i),
            knows_worker: self.knows_worker(i),
            satisfaction: self.satisfaction(i),
        })
    }

    /// The positions of building `b`'s visits, in store order.
    pub fn of_building(&self, b: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut n = self.last_of.get(b).copied().unwrap_or(NONE);
        while n != NONE {
            out.push(n as usize);
            n = self.records[n as usize].previous;
        }
        out.reverse();
        out
    }

    /// The bytes the log holds, roughly (for the tests and the benchmarks' notes).
    pub fn heap_bytes(&self) -> usize {
        self.records.chunks.len() * CHUNK * std::mem::size_of::<Record>()
            + self.last_of.capacity() * 4
            + self.texts.all.iter().map(|s| s.len() + 40).sum::<usize>()
            + self.notes.iter().map(|s| s.len() + 16).sum::<usize>()
    }
}

/// Seconds since 1970 of an RFC 3339 time, `i64::MIN` when it does not parse.
pub fn instant(time: &str) -> i64 {
    DateTime::parse_from_rfc3339(time).map_or(i64::MIN, |t| t.timestamp())
}

fn text_position(id: &[u8; 16]) -> u32 {
    u32::from_le_bytes([id[0], id[1], id[2], id[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn building(id: &str) -> Building {
        Building {
            id: id.into(),
            footprint: gridmap_core::model::Footprint::Point(Point::new(0.0, 0.0)),
            households: 1,
            floors: None,
            kind: None,
        }
    }

    fn visit(id: &str, building: Option<&str>, time: &str) -> Visit {
        Visit {
            id: id.into(),
            building: building.map(str::to_string),
            house: None,
            worker: "wang".into(),
            time: time.into(),
            outcome: VisitOutcome::Visited,
            point: None,
            note: None,
            flagged: false,
            knows_worker: None,
            satisfaction: None,
        }
    }

    #[test]
    fn a_record_is_small() {
        assert!(std::mem::size_of::<Record>() <= 80);
    }

    #[test]
    fn texts_that_do_not_compact_come_back_as_they_were() {
        let buildings = [building("b1"), building("b2")];
        let mut log = VisitLog::default();
        let odd = [
            visit("v-1", Some("b1"), "2026-03-21T09:00:00Z"),
            visit(
                "visit-6F9619FF-8B86-D011-B42D-00C04FC964FF",
                Some("gone"),
                "2026-03-21T09:00:00.50+08:00",
            ),
            visit(
                "visit-6f9619ff-8b86-d011-b42d-00c04fc964ff",
                None,
                "yesterday",
            ),
            visit("visit-x", Some("b2"), "2026-03-21T09:00:00+00:00"),
            visit("", Some("b2"), "2026-03-21T09:00:00.123+05:30"),
            visit("w", Some("b2"), "2026-03-21T09:00:00+05:45:30"),
        ];
        for v in &odd {
            let b = v
                .building
                .as_deref()
                .and_then(|b| buildings.iter().position(|x| x.id == b).map(|i| i as u32));
            log.push(v.clone(), b);
        }
        for (i, v) in odd.iter().enumerate() {
            assert_eq!(log.get(i, &buildings).as_ref(), Some(v), "visit {i}");
            assert_eq!(log.position_of(&v.id), Some(i), "visit {i}");
        }
        assert_eq!(log.of_building(1), vec![3, 4, 5]);
        assert_eq!(log.of_building(0), vec![0]);
        assert!(log.of_building(7).is_empty());
        assert_eq!(log.position_of("visit-none"), None);
    }

    #[test]
    fn visits_across_chunks_are_found() {
        let buildings = [building("b0"), building("b1")];
        let mut log = VisitLog::default();
        let n = CHUNK + 3;
        for k in 0..n {
            let id = format!("visit-{}", uuid::Uuid::from_u128(k as u128));
            log.push(visit(&id, Some("b1"), "2026-03-21T09:00:00Z"), Some(1));
        }
        assert_eq!(log.len(), n);
        assert_eq!(log.of_building(1), (0..n).collect::<Vec<_>>());
        let last = format!("visit-{}", uuid::Uuid::from_u128((n - 1) as u128));
        assert_eq!(log.position_of(&last), Some(n - 1));
        assert_eq!(
            log.get(CHUNK, &buildings).map(|v| v.id),
            Some(format!("visit-{}", uuid::Uuid::from_u128(CHUNK as u128)))
        );
        assert!(log.get(n, &buildings).is_none());
        assert!(log.heap_bytes() >= 2 * CHUNK * std::mem::size_of::<Record>());
    }

    #[test]
    fn the_day_is_the_local_date() {
        let mut log = VisitLog::default();
        log.push(visit("a", None, "2026-03-21T23:30:00-02:00"), None);
        log.push(visit("b", None, "2026-03-21T01:30:00+08:00"), None);
        log.push(visit("c", None, "2026-03-21 text"), None);
        let day = crate::input::day_number("2026-03-21");
        assert_eq!([log.day(0), log.day(1), log.day(2)], [day; 3]);
    }

    fn any_visit() -> impl Strategy<Value = (Visit, Option<u32>)> {
        let text = "[a-z0-9:+.TZ -]{0,12}";
        let time = prop_oneof![
            (
                0i64..4_000_000_000,
                0u32..1_000_000_000,
                -12i32..14,
                any::<bool>()
            )
                .prop_map(|(s, n, h, z)| {
                    let t = DateTime::from_timestamp(s, n).unwrap_or_default();
                    FixedOffset::east_opt(h * 3600).map_or_else(String::new, |o| {
                        t.with_timezone(&o)
                            .to_rfc3339_opts(SecondsFormat::AutoSi, z)
                    })
                }),
            text,
        ];
        let id = prop_oneof![
            any::<u128>().prop_map(|u| format!("visit-{}", uuid::Uuid::from_u128(u))),
            text
        ];
        (
            id,
            proptest::option::of(0u32..3),
            proptest::option::of(text),
            time,
            proptest::option::of(text),
            proptest::option::of((-180.0f64..180.0, -90.0f64..90.0)),
            any::<bool>(),
            proptest::option::of(any::<bool>()),
            proptest::option::of(0u8..=9),
            0usize..VisitOutcome::ALL.len(),
        )
            .prop_map(
                |(id, b, house, time, note, point, flagged, knows, sat, o)| {
                    let v = Visit {
                        id,
                        building: b.map(|b| format!("b{b}")),
                        house,
                        worker: "w".into(),
                        time,
                        outcome: VisitOutcome::ALL[o],
                        point: point.map(|(x, y)| Point::new(x, y)),
                        note,
                        flagged,
                        knows_worker: knows,
                        satisfaction: sat,
                    };
                    // Buildings b0 and b1 are the project's; b2 is not.
                    (v, b.filter(|&b| b < 2))
                },
            )
    }

    proptest! {
        #[test]
        fn every_visit_comes_back_as_it_was_pushed(visits in proptest::collection::vec(any_visit(), 0..40)) {
            let buildings = [building("b0"), building("b1")];
            let mut log = VisitLog::default();
            for (v, b) in &visits {
                log.push(v.clone(), *b);
            }
            for (i, (v, _)) in visits.iter().enumerate() {
                let back = log.get(i, &buildings);
                prop_assert_eq!(back.as_ref(), Some(v));
            }
            for b in 0..2 {
                let expected: Vec<usize> = visits.iter().enumerate()
                    .filter(|(_, (_, at))| *at == Some(b as u32)).map(|(i, _)| i).collect();
                prop_assert_eq!(log.of_building(b), expected);
            }
        }
    }
}
