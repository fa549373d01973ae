//! Writes a sample sheet of N plates (default 13) to the path given, to look at with
//! `pdftoppm`: `cargo run -p gridmap-plates --example sample_sheet OUT.pdf [N]`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "plates-sample.pdf".into());
    let n: usize = std::env::args().nth(2).map_or(Ok(13), |n| n.parse())?;
    let font = gridmap_plates::Font::find()?;
    let started = std::time::Instant::now();
    let plates: Vec<gridmap_plates::Plate> = (0..n)
        .map(|i| gridmap_plates::Plate {
            url: format!("http://127.0.0.1:8080/r/abcdefghjk{i:06}"),
            address: format!(
                "上海市黄浦区中山东一路{}号阳光花园3幢2单元30{}室",
                i + 1,
                i % 10
            ),
            caption: if i % 2 == 0 {
                "楼栋门牌"
            } else {
                "户门牌"
            }
            .into(),
        })
        .collect();
    let sheet = gridmap_plates::Sheet {
        title: "外滩网格（G01）".into(),
        plates: &plates,
    };
    let pdf = gridmap_plates::render(&sheet, &font)?;
    eprintln!(
        "{n} plates: {} bytes in {:.0} ms",
        pdf.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    std::fs::write(&out, pdf)?;
    Ok(())
}
