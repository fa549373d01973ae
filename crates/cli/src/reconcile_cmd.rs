//! `gridmap reconcile PROJECT --police FILE [--json OUT] [--xlsx OUT] [--apply-tasks]`: the
//! monthly comparison with the police station's population extract (同增同减).
//!
//! The terminal and the JSON report carry masked names and ID numbers only; the exchange
//! workbook (`--xlsx`) carries them in clear, since the station needs them to act on it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use gridmap_io::police::read_police;
use gridmap_store::reconcile::{
    CONSISTENCY_TARGET, Difference, ReconcileOptions, Reconciliation, extract_source,
};
use gridmap_store::registers::RegisterKey;

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The project: a GeoPackage file or a `postgres://` town.
    pub(crate) project: PathBuf,
    /// With a PostgreSQL project: the town's code (needed when the database holds several).
    #[arg(long, value_name = "CODE")]
    town: Option<String>,
    /// The police extract: .xlsx or .csv (UTF-8 or GBK) with 公民身份号码, 姓名, 现住址 and
    /// optionally 房屋编码 and 人员状态 (usual title variants accepted).
    #[arg(long, value_name = "FILE")]
    police: PathBuf,
    /// Write the report as JSON (names and ID numbers masked).
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
    /// Write the exchange workbook for the police station: sheets 新增, 注销, 更正 and 汇总,
    /// names and ID numbers in clear (hand it to the station only).
    #[arg(long, value_name = "OUT.xlsx")]
    xlsx: Option<PathBuf>,
    /// Make a task to visit each person the police list and the register lacks, in the grid
    /// of their address (once: not again while open, nor for the same extract).
    #[arg(long)]
    apply_tasks: bool,
    /// Who runs it: kept in the project's audit log with each exchange workbook written (it
    /// holds personal data in clear).
    #[arg(long, default_value = "gridmap reconcile")]
    who: String,
}

/// Reads the extract (all or nothing), compares it with the register, records the figures
/// (and tasks), writes the reports and prints a summary. The key comes from `GRIDMAP_KEY` or
/// `GRIDMAP_KEY_FILE`.
pub fn run_reconcile(args: ReconcileArgs) -> Result<ExitCode> {
    let key = RegisterKey::from_env()?;
    // Every check of the extract comes before the project is opened: a bad one changes
    // nothing.
    let extract = read_police(&args.police)?;
    let bytes = std::fs::read(&args.police)
        .with_context(|| format!("cannot read {}", args.police.display()))?;
    let name = args
        .police
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let opened = crate::target::Opened::open(&args.project, args.town.as_deref())?;
    let project_name = opened.name();
    let mut store = opened.into_project_store();
    let town = store.town()?;
    let run = store.reconcile(
        &extract.rows,
        &key,
        &ReconcileOptions {
            source: extract_source(&name, &bytes),
            apply_tasks: args.apply_tasks,
        },
    )?;
    let r = &run.reconciliation;
    if let Some(out) = &args.json {
        let text = serde_json::to_string_pretty(r)?;
        std::fs::write(out, text + "\n")
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    if let Some(out) = &args.xlsx {
        let date = chrono::Local::now().format("%Y-%m-%d").to_string();
        exchange_workbook(r, &town.name, &date, &name, args.apply_tasks)
            .and_then(|mut book| book.save(out))
            .with_context(|| format!("cannot write {}", out.display()))?;
        let people = r.police_only.len() + r.register_only.len() + r.address_mismatch.len();
        store.audit(
            &args.who,
            "wrote the police exchange workbook in clear",
            &out.display().to_string(),
            people,
        )?;
    }
    let s = &r.summary;
    println!(
        "reconciled {} ({}, header row {}, {} rows, {} of people gone (迁出/注销/死亡) left out) with {} (run {}):",
        args.police.display(),
        extract.encoding,
        extract.header_row,
        extract.rows.len(),
        s.police_gone,
        project_name,
        run.run,
    );
    println!(
        "  police {}, register {}, matched {} ({} at another address), police only {}, register only {}",
        s.police, s.register, s.matched, s.address_mismatch, s.police_only, s.register_only
    );
    match s.consistency_rate {
        Some(rate) => println!(
            "  consistency rate {:.1}% ({} the {:.0}% target)",
            100.0 * rate,
            if rate >= CONSISTENCY_TARGET {
                "meets"
            } else {
                "below"
            },
            100.0 * CONSISTENCY_TARGET
        ),
        None => println!("  consistency rate: nobody on either side"),
    }
    let mut low: Vec<_> = r
        .by_grid
        .iter()
        .filter_map(|g| g.consistency_rate.map(|rate| (rate, g.grid.as_str())))
        .filter(|(rate, _)| *rate < CONSISTENCY_TARGET)
        .collect();
    low.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    if !low.is_empty() {
        let listed: Vec<String> = low
            .iter()
            .take(5)
            .map(|(rate, g)| format!("{g} {:.1}%", 100.0 * rate))
            .collect();
        println!(
            "  {} grids below the target, lowest: {}",
            low.len(),
            listed.join(", ")
        );
    }
    if args.apply_tasks {
        println!(
            "  tasks to visit: {} made, {} already there",
            run.tasks_created, run.tasks_existing
        );
    }
    if let Some(out) = &args.json {
        println!("  report: {}", out.display());
    }
    if let Some(out) = &args.xlsx {
        println!(
            "  exchange workbook: {} (names and ID numbers in clear: for the police station only)",
            out.display()
        );
    }
    if !extract.ignored_columns.is_empty() {
        println!("  columns left out: {}", extract.ignored_columns.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// A column of a sheet: its Chinese title, width, and the cell of a difference.
type Column = (&'static str, f64, fn(&Difference) -> String);

fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// The exchange workbook (同增同减): 新增 (the grid has them, the police do not: for the
/// station to add or check), 注销 (the police list them, the grid does not: for the station to
/// check and cancel once the grid worker finds them gone), 更正 (at different addresses), and
/// 汇总 (the figures per grid). Each sheet opens with a title row naming the town, and a row
/// with the date and the extract.
fn exchange_workbook(
    r: &Reconciliation,
    town: &str,
    date: &str,
    source: &str,
    tasks: bool,
) -> Result<rust_xlsxwriter::Workbook, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, FormatAlign, Workbook};
    let title = Format::new().set_bold().set_font_size(14.0);
    let head = Format::new()
        .set_bold()
        .set_background_color("#DDEBF7")
        .set_align(FormatAlign::Center)
        .set_text_wrap();
    let mut book = Workbook::new();
    let name: Column = ("姓名", 10.0, |d| d.exchange.name.clone());
    let id: Column = ("公民身份号码", 21.0, |d| d.exchange.id_number.clone());
    let grid: Column = ("网格", 20.0, |d| text(&d.grid));
    let register_address: Column = ("网格登记住址", 36.0, |d| text(&d.register_address));
    let police_address: Column = ("公安登记住址", 36.0, |d| text(&d.police_address));
    let house: Column = ("网格房屋编号", 12.0, |d| text(&d.house));
    let house_code: Column = ("公安房屋编码", 16.0, |d| text(&d.police_house_code));
    let status: Column = ("公安人员状态", 12.0, |d| {
        d.police_status.unwrap_or_default().to_string()
    });
    let added_note: Column = ("备注", 30.0, |d| match d.police_status {
        Some(s) => format!("公安登记为{s}，请网格员核实后注销网格登记"),
        None if d.exchange.id_number.is_empty() => "网格登记无身份证号，请网格员补录".into(),
        None => "公安无此人，请核实后录入".into(),
    });
    let police_row: Column = ("公安数据行号", 12.0, |d| {
        d.police_row.map(|r| r.to_string()).unwrap_or_default()
    });
    let task_note: Column = if tasks {
        ("备注", 20.0, |_| "已派网格走访任务".to_string())
    } else {
        ("备注", 20.0, |_| String::new())
    };
    let police_grid: Column = ("公安住址所在网格", 20.0, |d| text(&d.police_grid));
    let sheets: [(&str, &str, &[Difference], Vec<Column>); 3] = [
        (
            "新增",
            "网格有、公安无（请派出所核实录入）",
            &r.register_only,
            vec![
                name,
                id,
                grid,
                register_address,
                house,
                status,
                police_row,
                added_note,
            ],
        ),
        (
            "注销",
            "公安有、网格无（网格员上门核实，确已不在的由派出所注销）",
            &r.police_only,
            vec![
                name,
                id,
                police_address,
                house_code,
                status,
                police_row,
                grid,
                house,
                task_note,
            ],
        ),
        (
            "更正",
            "人员相同、住址不一致（核实后更正）",
            &r.address_mismatch,
            vec![
                name,
                id,
                grid,
                register_address,
                house,
                police_address,
                house_code,
                police_grid,
                police_row,
            ],
        ),
    ];
    for (sheet_name, what, rows, columns) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(sheet_name)?;
        let last = columns.len() as u16;
        sheet.merge_range(
            0,
            0,
            0,
            last,
            &format!("{town} 网格与公安人口数据比对（同增同减）{sheet_name}：{what}"),
            &title,
        )?;
        sheet.merge_range(
            1,
            0,
            1,
            last,
            &format!("比对日期：{date}　公安数据：{source}　共 {} 人", rows.len()),
            &Format::new(),
        )?;
        sheet.write_string_with_format(2, 0, "序号", &head)?;
        sheet.set_column_width(0, 6.0)?;
        for (c, (title, width, _)) in columns.iter().enumerate() {
            let c = c as u16 + 1;
            sheet.write_string_with_format(2, c, *title, &head)?;
            sheet.set_column_width(c, *width)?;
        }
        for (i, d) in rows.iter().enumerate() {
            let row = i as u32 + 3;
            sheet.write_number(row, 0, i as f64 + 1.0)?;
            for (c, (_, _, cell)) in columns.iter().enumerate() {
                // Strings throughout: an ID number must not become a number.
                sheet.write_string(row, c as u16 + 1, cell(d))?;
            }
        }
        sheet.set_freeze_panes(3, 0)?;
    }
    let sheet = book.add_worksheet();
    sheet.set_name("汇总")?;
    let heads = [
        "网格",
        "一致",
        "住址不一致",
        "公安有网格无",
        "网格有公安无",
        "一致率",
    ];
    sheet.merge_range(
        0,
        0,
        0,
        heads.len() as u16 - 1,
        &format!("{town} 网格与公安人口数据比对 汇总"),
        &title,
    )?;
    let s = &r.summary;
    let rate = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{:.1}%", 100.0 * v));
    sheet.merge_range(
        1,
        0,
        1,
        heads.len() as u16 - 1,
        &format!(
            "比对日期：{date}　公安 {} 人，网格 {} 人，一致率 {}（目标 {:.0}%；一致率 = 人员与住址均一致 /（双方均有 + 公安有网格无 + 网格有公安无））",
            s.police,
            s.register,
            rate(s.consistency_rate),
            100.0 * CONSISTENCY_TARGET
        ),
        &Format::new(),
    )?;
    for (c, h) in heads.iter().enumerate() {
        sheet.write_string_with_format(2, c as u16, *h, &head)?;
        sheet.set_column_width(c as u16, if c == 0 { 20.0 } else { 12.0 })?;
    }
    for (i, g) in r.by_grid.iter().enumerate() {
        let row = i as u32 + 3;
        sheet.write_string(row, 0, &g.grid)?;
        for (c, v) in [
            g.matched_same_address,
            g.address_mismatch,
            g.police_only,
            g.register_only,
        ]
        .into_iter()
        .enumerate()
        {
            sheet.write_number(row, c as u16 + 1, v as f64)?;
        }
        sheet.write_string(row, 5, rate(g.consistency_rate))?;
    }
    Ok(book)
}
