//! A campaign's load on a served project, for `bench/run_live.sh`: for a fixed time, workers
//! post visits, grid leaders save grids, supervisors read tiles, heatmaps and statistics — each
//! client in a loop, one request at a time, over keep-alive HTTP/1.1 connections. Prints what
//! each kind achieved (count, errors, p50/p99/max latency) and visits per second, as text and
//! as one JSON line.
//!
//! ```text
//! cargo run --release -p gridmap-server --example loadgen -- --url http://127.0.0.1:18090 \
//!   --token TOKEN --buildings ids.txt --grids codes.txt --bbox minx,miny,maxx,maxy \
//!   [--seconds 60] [--visitors 32] [--editors 4] [--readers 28]
//! ```
//! `ids.txt` holds building ids with their lon/lat (`id lon lat` a line), `codes.txt` grid codes.

#![allow(clippy::unwrap_used)] // a benchmark tool: fail loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

type Http = Client<HttpConnector, Full<Bytes>>;

struct Args {
    url: String,
    token: String,
    buildings: Vec<(String, f64, f64)>,
    grids: Vec<String>,
    bbox: [f64; 4],
    seconds: u64,
    visitors: usize,
    editors: usize,
    readers: usize,
}

fn args() -> Args {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        url: "http://127.0.0.1:18090".into(),
        token: String::new(),
        buildings: Vec::new(),
        grids: Vec::new(),
        bbox: [0.0; 4],
        seconds: 60,
        visitors: 32,
        editors: 4,
        readers: 28,
    };
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--url" => a.url = v,
            "--token" => a.token = v,
            "--buildings" => {
                a.buildings = std::fs::read_to_string(&v)
                    .unwrap()
                    .lines()
                    .filter_map(|l| {
                        let mut f = l.split_whitespace();
                        Some((
                            f.next()?.to_string(),
                            f.next()?.parse().ok()?,
                            f.next()?.parse().ok()?,
                        ))
                    })
                    .collect();
            }
            "--grids" => {
                a.grids = std::fs::read_to_string(&v)
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect();
            }
            "--bbox" => {
                let n: Vec<f64> = v.split(',').map(|x| x.parse().unwrap()).collect();
                a.bbox = [n[0], n[1], n[2], n[3]];
            }
            "--seconds" => a.seconds = v.parse().unwrap(),
            "--visitors" => a.visitors = v.parse().unwrap(),
            "--editors" => a.editors = v.parse().unwrap(),
            "--readers" => a.readers = v.parse().unwrap(),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(
        !a.buildings.is_empty() && !a.grids.is_empty(),
        "--buildings and --grids"
    );
    a
}

/// One request: (status, body, latency).
async fn send(
    http: &Http,
    a: &Args,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, String)],
) -> (u16, Bytes, Duration) {
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(format!("{}{path}", a.url))
        .header("authorization", format!("Bearer {}", a.token));
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Full::new(Bytes::from(b.to_string()))
        }
        None => Full::new(Bytes::new()),
    };
    let t = Instant::now();
    match http.request(req.body(body).unwrap()).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            (status, bytes, t.elapsed())
        }
        Err(_) => (0, Bytes::new(), t.elapsed()),
    }
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: u64,
}

/// Tile numbers of the point (lon, lat) at zoom z.
fn tile_of(lon: f64, lat: f64, z: u8) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let r = lat.to_radians();
    let y = ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor();
    (x as u32, y as u32)
}

async fn visitor(http: Http, a: Arc<Args>, seed: u64, until: Instant) -> Tally {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut t = Tally::default();
    while Instant::now() < until {
        let (id, lon, lat) = &a.buildings[rng.random_range(0..a.buildings.len())];
        let outcome = if rng.random_bool(0.8) {
            "visited"
        } else {
            "nobody_home"
        };
        let body = json!({"building": id, "outcome": outcome, "lon": lon, "lat": lat});
        let (status, _, d) = send(&http, &a, "POST", "/api/visits", Some(body), &[]).await;
        if status == 200 {
            t.latencies.push(d);
        } else {
            t.errors += 1;
        }
    }
    t
}

async fn editor(http: Http, a: Arc<Args>, seed: u64, until: Instant) -> Tally {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut t = Tally::default();
    while Instant::now() < until {
        let code = &a.grids[rng.random_range(0..a.grids.len())];
        let (status, body, _) =
            send(&http, &a, "GET", &format!("/api/grids/{code}"), None, &[]).await;
        if status != 200 {
            t.errors += 1;
            continue;
        }
        let mut f: Value = serde_json::from_slice(&body).unwrap();
        let version = f["properties"]["version"].as_u64().unwrap_or(1);
        f["properties"]["name"] = json!(format!("edited {}", rng.random::<u32>()));
        let body = json!({"feature": f, "reason": "load test", "force": true});
        let (status, _, d) = send(
            &http,
            &a,
            "PUT",
            &format!("/api/grids/{code}"),
            Some(body),
            &[("if-match", format!("\"{version}\""))],
        )
        .await;
        // 412: another editor saved the same grid first, as in real life.
        if status == 200 || status == 412 {
            t.latencies.push(d);
        } else {
            t.errors += 1;
        }
    }
    t
}

async fn reader(http: Http, a: Arc<Args>, seed: u64, until: Instant) -> [Tally; 3] {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out: [Tally; 3] = Default::default();
    while Instant::now() < until {
        let lon = rng.random_range(a.bbox[0]..a.bbox[2]);
        let lat = rng.random_range(a.bbox[1]..a.bbox[3]);
        let kind = rng.random_range(0..3usize);
        let path = match kind {
            0 => {
                let z = rng.random_range(8..=18u8);
                let (x, y) = tile_of(lon, lat, z);
                let heat = ["visited", "unvisited", "coverage"][rng.random_range(0..3)];
                format!("/heatmap/{heat}/{z}/{x}/{y}.png")
            }
            1 => {
                let z = rng.random_range(14..=17u8);
                let (x, y) = tile_of(lon, lat, z);
                format!("/tiles/buildings/{z}/{x}/{y}.mvt")
            }
            _ => [
                "/api/stats?by=grid",
                "/api/progress",
                "/api/stats?by=village",
                "/api/uncovered",
            ][rng.random_range(0..4)]
            .to_string(),
        };
        let (status, _, d) = send(&http, &a, "GET", &path, None, &[]).await;
        if status == 200 || status == 204 {
            out[kind].latencies.push(d);
        } else {
            out[kind].errors += 1;
        }
    }
    out
}

fn summary(name: &str, t: &mut Tally, seconds: f64) -> Value {
    t.latencies.sort();
    let q = |p: f64| -> f64 {
        if t.latencies.is_empty() {
            return 0.0;
        }
        let i = ((t.latencies.len() as f64 - 1.0) * p).round() as usize;
        t.latencies[i].as_secs_f64() * 1000.0
    };
    let v = json!({"kind": name, "count": t.latencies.len(), "errors": t.errors,
                   "per_s": t.latencies.len() as f64 / seconds,
                   "p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": q(1.0)});
    println!(
        "{name:>10}: {:>7} ok {:>5} errors {:>8.1}/s  p50 {:>8.1} ms  p99 {:>8.1} ms  max {:>8.1} ms",
        t.latencies.len(),
        t.errors,
        t.latencies.len() as f64 / seconds,
        q(0.5),
        q(0.99),
        q(1.0)
    );
    v
}

#[tokio::main]
async fn main() {
    let a = Arc::new(args());
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let http: Http = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector);
    let start = Instant::now();
    let until = start + Duration::from_secs(a.seconds);
    let mut visits = Vec::new();
    for i in 0..a.visitors {
        visits.push(tokio::spawn(visitor(
            http.clone(),
            a.clone(),
            i as u64,
            until,
        )));
    }
    let mut edits = Vec::new();
    for i in 0..a.editors {
        edits.push(tokio::spawn(editor(
            http.clone(),
            a.clone(),
            1000 + i as u64,
            until,
        )));
    }
    let mut reads = Vec::new();
    for i in 0..a.readers {
        reads.push(tokio::spawn(reader(
            http.clone(),
            a.clone(),
            2000 + i as u64,
            until,
        )));
    }
    let mut all = [
        Tally::default(),
        Tally::default(),
        Tally::default(),
        Tally::default(),
        Tally::default(),
    ];
    for h in visits {
        let t = h.await.unwrap();
        all[0].latencies.extend(t.latencies);
        all[0].errors += t.errors;
    }
    for h in edits {
        let t = h.await.unwrap();
        all[1].latencies.extend(t.latencies);
        all[1].errors += t.errors;
    }
    for h in reads {
        for (k, t) in h.await.unwrap().into_iter().enumerate() {
            all[2 + k].latencies.extend(t.latencies);
            all[2 + k].errors += t.errors;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let names = ["visit", "grid_edit", "heatmap", "tile", "stats"];
    let rows: Vec<Value> = names
        .iter()
        .zip(all.iter_mut())
        .map(|(n, t)| summary(n, t, seconds))
        .collect();
    println!("{}", json!({"seconds": seconds, "rows": rows}));
}
