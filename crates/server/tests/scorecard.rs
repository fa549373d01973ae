//! `/api/scorecard`: the campaign's rates for what the caller reaches, the residents' answers
//! recorded with a visit, and the monthly report workbook.

#![allow(clippy::unwrap_used)] // test helpers fail loudly, as tests do

use std::path::Path;

use axum::http::StatusCode;
use gridmap_server::{AppState, Settings};
use serde_json::json;

mod common;
use common::{add_user, call, demo_store, login, off_runtime, on_each_store, send};
use gridmap_store::ProjectStore;

const WORKER_GRID: &str = "310101001002-03";

fn state(dir: &Path) -> AppState {
    served(Box::new(demo_store(&dir.join("p.gpkg"))))
}

/// The demo town in `s` with this file's users, served.
fn served(mut s: Box<dyn ProjectStore>) -> AppState {
    add_user(s.as_mut(), "admin", "admin", "310101001");
    add_user(s.as_mut(), "worker", "grid_worker", WORKER_GRID);
    AppState::with_store(s, Settings::default(), None).unwrap()
}

#[test]
fn a_worker_sees_only_their_grid_and_their_answers_move_its_rates() {
    on_each_store(served, async |st: AppState| {
        let worker = login(&st, "worker").await;
        let admin = login(&st, "admin").await;

        let (status, card) = call(&st, "GET", "/api/scorecard", Some(&worker), None, &[]).await;
        assert_eq!(status, StatusCode::OK, "{card}");
        let grids = card["grids"].as_array().unwrap();
        assert_eq!(grids.len(), 1);
        assert_eq!(grids[0]["code"], WORKER_GRID);
        // The worker's "town" is their grid: the same figures.
        assert_eq!(card["town"]["visit_rate"], grids[0]["visit_rate"]);
        for key in [
            "visit_rate",
            "registration_rate",
            "attention_rate",
            "consistency_rate",
            "linkage_rate",
            "awareness_rate",
            "satisfaction_rate",
            "plate_rate",
        ] {
            let r = &card["town"][key];
            assert!(
                r["numerator"].is_u64() && r["denominator"].is_u64(),
                "{key}: {r}"
            );
            assert!(r["target"].as_f64().unwrap() > 0.9, "{key}");
        }
        assert_eq!(card["town"]["awareness_rate"]["denominator"], 0);
        assert_eq!(card["town"]["awareness_rate"]["rate"], json!(null));

        let (_, all) = call(&st, "GET", "/api/scorecard", Some(&admin), None, &[]).await;
        assert_eq!(all["grids"].as_array().unwrap().len(), 31);
        assert!(
            all["town"]["visit_rate"]["denominator"].as_u64()
                > card["town"]["visit_rate"]["denominator"].as_u64()
        );

        // A visit with the two answers; a satisfaction outside 1–5 is refused.
        let p = st.project();
        let mine = (0..p.buildings.len())
            .find(|&i| p.grid_of(i) == Some(WORKER_GRID))
            .unwrap();
        let building = p.buildings[mine].id.clone();
        drop(p);
        let visit = |satisfaction: u8| {
            json!({"building": building, "outcome": "visited", "knows_worker": true,
                   "satisfaction": satisfaction})
        };
        let (status, _) = call(
            &st,
            "POST",
            "/api/visits",
            Some(&worker),
            Some(visit(6)),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, body) = call(
            &st,
            "POST",
            "/api/visits",
            Some(&worker),
            Some(visit(4)),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // The API's answer is shared for a few seconds; the project file, counted as the CLI
        // counts it (the same `count`), already holds the answers.
        let (grids, _) = off_runtime(|| st.0.store.lock().unwrap().scorecard_counts().unwrap());
        let g = grids.iter().find(|g| g.code == WORKER_GRID).unwrap();
        assert_eq!((g.counts.aware, g.counts.awareness_answers), (1, 1));
        assert_eq!((g.counts.satisfied, g.counts.satisfaction_answers), (1, 1));
    });
}

#[test]
fn the_monthly_report_is_a_workbook_with_chinese_sheets() {
    on_each_store(served, async |st: AppState| {
        let admin = login(&st, "admin").await;
        let (status, headers, bytes) =
            send(&st, "GET", "/api/scorecard.xlsx", Some(&admin), None, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers[axum::http::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .contains("spreadsheetml")
        );
        use calamine::Reader as _;
        let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(
            book.sheet_names(),
            ["全镇指标", "村（社区）排名", "网格排名"]
        );
        let town = book.worksheet_range("全镇指标").unwrap();
        let titles: Vec<String> = town.rows().skip(3).map(|r| r[0].to_string()).collect();
        assert_eq!(titles[0], "入户调查率");
        assert_eq!(titles.len(), 8);
        let grids = book.worksheet_range("网格排名").unwrap();
        assert_eq!(grids.rows().count(), 2 + 31);
    });
}

#[tokio::test]
async fn the_monthly_report_prints_as_a_pdf_in_chinese() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path());
    let admin = login(&st, "admin").await;
    let (status, headers, bytes) =
        send(&st, "GET", "/api/scorecard.pdf", Some(&admin), None, &[]).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(headers[axum::http::header::CONTENT_TYPE], "application/pdf");
    assert!(bytes.starts_with(b"%PDF"));
    // Its text, as a reader copies it out (the font is embedded with its Unicode map).
    let file = dir.path().join("report.pdf");
    std::fs::write(&file, &bytes).unwrap();
    match std::process::Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            for word in ["月度排名通报", "入户调查率", "310101001002-03"] {
                assert!(text.contains(word), "{word} not in: {text}");
            }
        }
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("pdftotext (poppler-utils) is missing under CI")
        }
        Err(_) => eprintln!("pdftotext missing: the PDF's text is not checked"),
    }
}
