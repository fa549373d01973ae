//! Writes a sample sheet of 13 plates to the path given (to look at with `pdftoppm`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "plates-sample.pdf".into());
    let font = gridmap_plates::Font::find()?;
    let plates: Vec<gridmap_plates::Plate> = (0..13)
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
    std::fs::write(&out, gridmap_plates::render(&sheet, &font)?)?;
    Ok(())
}
