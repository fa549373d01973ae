//! Our point on surface is GEOS's: every demo building is located where Shapely's
//! `point_on_surface` puts it (computed independently by `data/build_demo.py`).

use std::path::Path;

#[test]
fn demo_building_locations_match_geos() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/demo");
    let buildings =
        gridmap_io::read_buildings(&root.join("buildings.geojson"), &Default::default())
            .expect("demo buildings read");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("expected.json")).expect("oracle present"),
    )
    .expect("oracle is JSON");
    let locations = expected["locations"].as_object().expect("locations by id");
    assert_eq!(locations.len(), buildings.len());
    let mut worst: f64 = 0.0;
    for b in &buildings {
        let want = &locations[&b.id];
        let got = b.location().expect("every demo building has an area");
        let dx = (got.x - want[0].as_f64().expect("lon")).abs();
        let dy = (got.y - want[1].as_f64().expect("lat")).abs();
        worst = worst.max(dx.max(dy));
    }
    // 1e-9 degrees is about 0.1 mm.
    assert!(
        worst < 1e-9,
        "largest difference from GEOS: {worst} degrees"
    );
}
