//! QR door plates and the self-report queue in a project built from the demo data: plates are
//! made once and keep their tokens, 二维码管理率 counts printed and scanned units, a declaration
//! is sealed until confirmed, enters the register through the household import when confirmed,
//! and leaves nothing when rejected.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use std::path::{Path, PathBuf};

use gridmap_core::register::{HouseNature, id_check_digit};
use gridmap_io::{Fields, read_addresses, read_buildings, read_grids};
use gridmap_store::declarations::{DeclaredPerson, NewDeclaration};
use gridmap_store::plates::is_token;
use gridmap_store::registers::{RegisterKey, View};
use gridmap_store::{Change, GpkgStore, Store};

const KEY: &str = "6a1f0c2d9e8b7a6554433221100ffeeddccbbaa99887766554433221100f1e2d";

fn demo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/demo")
        .join(name)
}

fn project() -> (tempfile::TempDir, GpkgStore) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = GpkgStore::create(&dir.path().join("p.gpkg"), "310101001", "测试街道").unwrap();
    let f = Fields::default();
    let change = Change {
        who: "test".into(),
        why: "plates".into(),
    };
    s.import_grids(
        &read_grids(&demo("grids.geojson"), &f).unwrap().grids,
        gridmap_store::Mode::Append,
        &change,
    )
    .unwrap();
    s.import_buildings(
        &read_buildings(&demo("buildings.geojson"), &f).unwrap(),
        gridmap_store::Mode::Append,
    )
    .unwrap();
    s.import_addresses(
        &read_addresses(&demo("addresses.geojson"), &f).unwrap(),
        gridmap_store::Mode::Append,
    )
    .unwrap();
    (dir, s)
}

fn fake_id(n: u32) -> String {
    let body = format!("1101051990{:02}{:02}{:03}", 1 + n % 12, 1 + n % 28, n);
    format!("{body}{}", id_check_digit(&body).unwrap())
}

fn person(name: &str, n: u32, relation: &str) -> DeclaredPerson {
    DeclaredPerson {
        name: name.into(),
        id_number: fake_id(n),
        phone: Some(format!("1380000{n:04}")),
        relation: Some(relation.into()),
    }
}

#[test]
fn plates_are_made_once_per_building_and_count_towards_the_plate_rate() {
    let (_dir, mut s) = project();
    let by_grid = s.buildings_by_grid().unwrap();
    let (grid, buildings) = by_grid
        .iter()
        .find(|(g, b)| g.as_str() != "(unassigned)" && b.len() >= 3)
        .unwrap();
    let set = s.plates_for(buildings).unwrap();
    assert_eq!(
        set.plates.len() + set.without_address.len(),
        buildings.len(),
        "no houses yet: one plate per building with an address"
    );
    assert!(!set.plates.is_empty());
    assert!(set.plates.iter().all(|p| is_token(&p.token)));
    assert!(set.plates.iter().all(|p| !p.token.contains(&p.building)));
    let again = s.plates_for(buildings).unwrap();
    assert_eq!(again.plates, set.plates, "the same plates, same tokens");

    // 二维码管理率 as the scorecard counts it.
    let rate = |s: &GpkgStore| {
        let (grids, _) = s.scorecard_counts().unwrap();
        let c = grids.into_iter().find(|g| &g.code == grid).unwrap().counts;
        (c.plate_places as usize, c.plates_scanned as usize)
    };
    assert_eq!(rate(&s), (buildings.len(), 0));
    let tokens: Vec<String> = set.plates.iter().map(|p| p.token.clone()).collect();
    s.mark_printed(&tokens).unwrap();
    assert_eq!(rate(&s), (buildings.len(), 0), "printed, not yet scanned");
    assert!(s.count_scan(&tokens[0]).unwrap());
    assert!(s.count_scan(&tokens[0]).unwrap());
    assert!(!s.count_scan("abcdefghijkmnpqr").unwrap(), "no such plate");
    assert_eq!(rate(&s), (buildings.len(), 1), "scanned twice, one unit");
    assert!(
        tokens
            .iter()
            .all(|t| s.plate(t).unwrap().unwrap().printed_at.is_some())
    );
    assert_eq!(s.plate(&tokens[0]).unwrap().unwrap().scans, 2);
    assert_eq!(s.plate(&set.plates[0].building).unwrap(), None);
}

#[test]
fn a_declaration_is_sealed_until_confirmed_and_rejecting_keeps_nothing() {
    let (dir, mut s) = project();
    let key = RegisterKey::from_hex(KEY).unwrap();
    let by_grid = s.buildings_by_grid().unwrap();
    let (grid, buildings) = by_grid
        .iter()
        .find(|(g, b)| g.as_str() != "(unassigned)" && !b.is_empty())
        .unwrap();
    let plate = s.plates_for(buildings).unwrap().plates.remove(0);
    let declare = |room: &str, people: Vec<DeclaredPerson>| NewDeclaration {
        token: plate.token.clone(),
        grid: Some(grid.clone()),
        room: Some(room.into()),
        nature: Some(HouseNature::Rented),
        residence: Some("流入".into()),
        people,
    };
    let kept = s
        .add_declaration(
            &key,
            &declare(
                "301",
                vec![person("申报甲", 1, "户主"), person("申报乙", 2, "配偶")],
            ),
        )
        .unwrap()
        .unwrap();
    let dropped = s
        .add_declaration(&key, &declare("302", vec![person("申报丙", 3, "户主")]))
        .unwrap()
        .unwrap();
    let unknown = NewDeclaration {
        token: "abcdefghijkmnpqr".into(),
        ..declare("303", vec![person("申报丁", 4, "户主")])
    };
    assert_eq!(s.add_declaration(&key, &unknown).unwrap(), None);

    // Sealed: no clear name or ID number anywhere in the file.
    drop(s);
    let bytes = std::fs::read(dir.path().join("p.gpkg")).unwrap();
    let wal = std::fs::read(dir.path().join("p.gpkg-wal")).unwrap_or_default();
    for needle in ["申报甲".as_bytes(), fake_id(1).as_bytes()] {
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        assert!(!wal.windows(needle.len()).any(|w| w == needle));
    }
    let mut s = GpkgStore::open(&dir.path().join("p.gpkg")).unwrap();

    let masked = s.pending_declarations(&key, View::Masked).unwrap();
    assert_eq!(masked.len(), 2);
    assert_eq!(masked[0].people[0].name, "申**");
    assert_eq!(masked[0].address, plate.address);
    assert_eq!(masked[0].grid.as_deref(), Some(grid.as_str()));
    let clear = s.pending_declarations(&key, View::Clear).unwrap();
    assert_eq!(clear[0].people[1].name, "申报乙");
    assert_eq!(
        clear[0].household_address(),
        format!("{}301室", plate.address)
    );

    let people_before = s.people_by_building().unwrap();
    let done = s
        .confirm_declaration(&key, kept, "worker")
        .unwrap()
        .unwrap();
    assert_eq!(done.people_inserted, 2);
    assert_eq!(done.rows_linked, 2, "{:?}", done.unlinked);
    let people_after = s.people_by_building().unwrap();
    assert_eq!(
        people_after.get(&plate.building).copied().unwrap_or(0),
        people_before.get(&plate.building).copied().unwrap_or(0) + 2
    );
    let house = s
        .houses()
        .unwrap()
        .into_iter()
        .find(|h| h.building.as_deref() == Some(plate.building.as_str()))
        .unwrap();
    assert_eq!(house.nature, Some(HouseNature::Rented));
    assert!(
        s.confirm_declaration(&key, kept, "worker")
            .unwrap()
            .is_none(),
        "confirmed once"
    );
    let confirmed = s.declaration(&key, View::Clear, kept).unwrap().unwrap();
    assert_eq!(confirmed.status, "confirmed");
    assert!(
        confirmed.people.is_empty(),
        "the queue keeps no personal data"
    );

    // The confirmed household's house now has a plate of its own; a declaration through it
    // names that house (no room asked) and finds the same house again.
    let house_plate = s
        .plates_for(std::slice::from_ref(&plate.building))
        .unwrap()
        .plates
        .into_iter()
        .find(|p| p.house.as_deref() == Some(house.id.as_str()))
        .unwrap();
    assert_eq!(house_plate.address, house.address);
    let through_house = s
        .add_declaration(
            &key,
            &NewDeclaration {
                token: house_plate.token.clone(),
                room: None,
                ..declare("", vec![person("申报戊", 5, "子女")])
            },
        )
        .unwrap()
        .unwrap();
    let d = s
        .declaration(&key, View::Clear, through_house)
        .unwrap()
        .unwrap();
    assert_eq!(d.house.as_deref(), Some(house.id.as_str()));
    let done = s
        .confirm_declaration(&key, through_house, "worker")
        .unwrap()
        .unwrap();
    assert_eq!((done.houses_existing, done.houses_created), (1, 0));

    assert_eq!(s.reject_declaration(dropped).unwrap(), Some(1));
    assert_eq!(s.reject_declaration(dropped).unwrap(), None);
    let rows: i64 = s
        .connection()
        .query_row(
            "SELECT count(*) FROM gridmap_declarations WHERE id = ?1",
            [dropped],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 0, "rejecting keeps nothing");
    assert!(
        s.pending_declarations(&key, View::Clear)
            .unwrap()
            .is_empty()
    );
}
