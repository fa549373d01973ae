//! `GET /api/scorecard` and `/api/scorecard.xlsx`: the campaign scorecard (三个100%、三个95%,
//! and 二维码管理率) of the part of the town the caller reaches. The rates are defined in
//! [`gridmap_stats::scorecard`] and counted by [`gridmap_store::scorecard::count`], from the
//! server's live state here as from the project file in `gridmap stats --scorecard`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use gridmap_stats::scorecard::{Card, Counts, Scorecard, rate_title, scorecard};
use gridmap_store::scorecard::{Inputs, VisitFacts, count};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;

/// `GET /api/scorecard`: the town's (or the caller's part's) card, each village's and each
/// grid's, ranked, every rate with its numerator, denominator, target and grade. Shared by the
/// callers who reach the same part, for a few seconds (see [`crate::api::shared_answer`]).
#[utoipa::path(get, path = "/api/scorecard", tag = "statistics", responses((status = 200, description = "The campaign scorecard", body = Scorecard)))]
pub async fn get(State(state): State<AppState>, user: AuthUser) -> Result<Response, AppError> {
    let key = format!("scorecard|{}", user.reach_key(&state.project().town.code));
    let st = state.clone();
    crate::api::shared_answer(&state, key, crate::api::STATS_FRESH * 5, move || {
        scorecard_now(&st, &user)
    })
    .await
}

/// `GET /api/scorecard.xlsx`: the monthly ranking report (月度排名通报) as an Excel workbook,
/// Chinese headers: the town's eight rates, then villages and grids ranked.
#[utoipa::path(get, path = "/api/scorecard.xlsx", tag = "statistics", responses((status = 200, description = "The scorecard as an Excel workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>)))]
pub async fn xlsx(State(state): State<AppState>, user: AuthUser) -> Result<Response, AppError> {
    let st = state.clone();
    let (card, title) = crate::reading(move || {
        let card = scorecard_now(&st, &user)?;
        let p = st.project();
        let names = village_names(&p);
        Ok::<_, AppError>((card, (p.town.name.clone(), names)))
    })
    .await?;
    let (town, names) = title;
    let today = chrono::Local::now().format("%Y-%m-%d").to_string();
    let book = workbook(&town, &today, &card, &|v| names.get(v).cloned())
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"gridmap-scorecard.xlsx\"; filename*=UTF-8''{}",
        crate::api::percent_encoded("三个100%三个95%考核.xlsx")
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok((headers, book).into_response())
}

fn village_names(p: &crate::state::Project) -> std::collections::HashMap<String, String> {
    p.villages
        .iter()
        .map(|v| (v.code.clone(), v.name.clone()))
        .collect()
}

/// The scorecard of what `user` reaches, counted from the live state and the register.
fn scorecard_now(state: &AppState, user: &AuthUser) -> Result<Scorecard, AppError> {
    let p = state.project();
    let scope = user.scope(&p);
    let building_at = |b: &str| p.building_by_id.get(b).map(|&i| i as usize);
    let (houses, key_subjects, plates, reconciliation) = {
        let store = crate::pool::read_store(&state.0)?;
        (
            store.scorecard_houses(&building_at),
            store.key_subject_counts(&building_at),
            store.plates_in_use(),
            gridmap_store::scorecard::reconciliation_counts(&*store),
        )
    };
    let houses = houses?;
    let key_subjects = key_subjects?;
    let plates = plates?;
    let reconciliation = reconciliation?;
    let live = p
        .live
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let grid_of = |i: usize| p.assignment[i].grid().map(|g| g as usize);
    let (grids, outside) = count(Inputs {
        grids: &p.grid_models,
        buildings: &p.buildings,
        grid_of: &grid_of,
        houses: &houses,
        visits: (0..live.visits.len()).map(|i| {
            let log = &live.visits;
            VisitFacts {
                house: log.house(i),
                building: log.building_id(i, &p.buildings),
                at: log.at(i),
                outcome: log.outcome(i),
                knows_worker: log.knows_worker(i),
                satisfaction: log.satisfaction(i),
            }
        }),
        key_subjects: &key_subjects,
        plates_in_use: &plates,
        reconciliation: &reconciliation,
    });
    drop(live);
    let visible: Vec<_> = grids
        .into_iter()
        .enumerate()
        .filter(|(g, _)| scope.grid_at(*g))
        .map(|(_, g)| g)
        .collect();
    // What lies in no grid belongs to the town: only a town-wide reader counts it.
    let outside = if scope.town_wide() {
        outside
    } else {
        Counts::default()
    };
    Ok(scorecard(&p.town.name, &visible, &outside))
}

/// The monthly ranking workbook: a sheet for the town's rates, one ranking villages and one
/// ranking grids, each rate as percent with its parts, a title row naming the town and date.
pub fn workbook(
    town: &str,
    date: &str,
    card: &Scorecard,
    village_name: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, FormatAlign, Workbook};
    let mut book = Workbook::new();
    let title = Format::new().set_bold().set_font_size(14.0);
    let head = Format::new()
        .set_bold()
        .set_background_color("#DDEBF7")
        .set_align(FormatAlign::Center)
        .set_text_wrap();
    let percent = Format::new().set_num_format("0.0%");
    let grade_format = |g: Option<gridmap_stats::scorecard::Grade>| {
        use gridmap_stats::scorecard::Grade;
        let colour = match g {
            Some(Grade::Green) => "#C6EFCE",
            Some(Grade::Amber) => "#FFEB9C",
            Some(Grade::Red) => "#FFC7CE",
            None => "#FFFFFF",
        };
        Format::new()
            .set_num_format("0.0%")
            .set_background_color(colour)
    };
    let grade_word = |g: Option<gridmap_stats::scorecard::Grade>| match g {
        Some(gridmap_stats::scorecard::Grade::Green) => "达标",
        Some(gridmap_stats::scorecard::Grade::Amber) => "接近",
        Some(gridmap_stats::scorecard::Grade::Red) => "未达标",
        None => "无数据",
    };

    // The town: one row per rate.
    let sheet = book.add_worksheet();
    sheet.set_name("全镇指标")?;
    sheet.merge_range(
        0,
        0,
        0,
        6,
        &format!("{town} “三个100%、三个95%”考核通报"),
        &title,
    )?;
    sheet.merge_range(1, 0, 1, 6, &format!("统计日期：{date}"), &Format::new())?;
    for (c, (name, width)) in [
        ("指标", 30.0),
        ("完成数", 10.0),
        ("应完成数", 10.0),
        ("完成率", 10.0),
        ("目标", 8.0),
        ("评价", 8.0),
        ("口径", 60.0),
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string_with_format(2, c as u16, *name, &head)?;
        sheet.set_column_width(c as u16, *width)?;
    }
    for (r, (key, rate)) in card.town.rates().iter().enumerate() {
        let r = r as u32 + 3;
        sheet.write_string(r, 0, rate_title(key))?;
        sheet.write_number(r, 1, rate.numerator as f64)?;
        sheet.write_number(r, 2, rate.denominator as f64)?;
        match rate.rate {
            Some(v) => sheet.write_number_with_format(r, 3, v, &grade_format(rate.grade))?,
            None => sheet.write_string(r, 3, "–")?,
        };
        sheet.write_number_with_format(r, 4, rate.target, &percent)?;
        sheet.write_string(r, 5, grade_word(rate.grade))?;
        sheet.write_string(r, 6, definition(key))?;
    }

    // Villages and grids, ranked.
    for (level, cards, name_of) in [
        ("村（社区）排名", &card.villages, true),
        ("网格排名", &card.grids, false),
    ] {
        let sheet = book.add_worksheet();
        sheet.set_name(level)?;
        let mut columns: Vec<String> = vec!["排名".into(), "编码".into(), "名称".into()];
        columns.extend(
            card.town
                .rates()
                .iter()
                .map(|(k, _)| rate_title(k).to_string()),
        );
        columns.extend(["未达标项".to_string(), "达标项".to_string()]);
        let last = columns.len() as u16 - 1;
        sheet.merge_range(0, 0, 0, last, &format!("{town} {level}（{date}）"), &title)?;
        for (c, name) in columns.iter().enumerate() {
            sheet.write_string_with_format(1, c as u16, name, &head)?;
            sheet.set_column_width(c as u16, if c < 3 { 16.0 } else { 12.0 })?;
        }
        sheet.set_row_height(1, 48.0)?;
        for (r, c) in cards.iter().enumerate() {
            let row = r as u32 + 2;
            sheet.write_number(row, 0, (r + 1) as f64)?;
            sheet.write_string(row, 1, &c.code)?;
            let name = if name_of {
                village_name(&c.code).unwrap_or_default()
            } else {
                c.name.clone().unwrap_or_default()
            };
            sheet.write_string(row, 2, name)?;
            for (k, (_, rate)) in c.rates().iter().enumerate() {
                let col = 3 + k as u16;
                match rate.rate {
                    Some(v) => {
                        sheet.write_number_with_format(row, col, v, &grade_format(rate.grade))?
                    }
                    None => sheet.write_string(row, col, "–")?,
                };
            }
            sheet.write_number(row, last - 1, c.red as f64)?;
            sheet.write_number(row, last, c.green as f64)?;
        }
        sheet.set_freeze_panes(2, 3)?;
    }
    book.save_to_buffer()
}

/// The monthly ranking report as a PDF (landscape A4, Chinese, the font embedded): the town's
/// rates, then grids ranked, each rate with its grade's word.
pub fn pdf(
    town: &str,
    date: &str,
    card: &Scorecard,
    font: &gridmap_plates::Font,
) -> Result<Vec<u8>, gridmap_plates::PlateError> {
    let cell = |r: &gridmap_stats::scorecard::Rate| match r.rate {
        Some(v) => format!(
            "{:.1}%{}",
            v * 100.0,
            match r.grade {
                Some(gridmap_stats::scorecard::Grade::Red) => " *",
                Some(gridmap_stats::scorecard::Grade::Amber) => " ~",
                _ => "",
            }
        ),
        None => "–".to_string(),
    };
    let mut columns: Vec<(&str, f32)> = vec![("排名", 0.6), ("编码", 1.6), ("名称", 1.6)];
    let titles: Vec<&str> = card
        .town
        .rates()
        .iter()
        .map(|(k, _)| rate_title(k))
        .collect();
    columns.extend(titles.iter().map(|t| (*t, 1.0)));
    let mut rows = vec![{
        let mut r = vec!["全镇".to_string(), String::new(), town.to_string()];
        r.extend(card.town.rates().iter().map(|(_, rate)| cell(rate)));
        r
    }];
    for (n, c) in card.grids.iter().enumerate() {
        let mut r = vec![
            (n + 1).to_string(),
            c.code.clone(),
            c.name.clone().unwrap_or_default(),
        ];
        r.extend(c.rates().iter().map(|(_, rate)| cell(rate)));
        rows.push(r);
    }
    let title = format!("{town} “三个100%、三个95%”月度排名通报");
    let subtitle = format!(
        "统计日期：{date}　* 未达标（低于目标 10 个百分点以上）　~ 接近目标（差 10 个百分点以内）"
    );
    gridmap_plates::render_table(
        &gridmap_plates::Table {
            title: &title,
            subtitle: &subtitle,
            columns: &columns,
            rows: &rows,
        },
        font,
    )
}

/// `GET /api/scorecard.pdf`: [`pdf`] of the caller's part (503 without a CJK font).
#[utoipa::path(get, path = "/api/scorecard.pdf", tag = "statistics", responses((status = 200, description = "The monthly ranking report as a PDF", content_type = "application/pdf", body = Vec<u8>), (status = 503, description = "No CJK font on the server", body = crate::openapi::ErrorBody)))]
pub async fn pdf_report(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, AppError> {
    let st = state.clone();
    let bytes = crate::reading(move || {
        let card = scorecard_now(&st, &user)?;
        let town = st.project().town.name.clone();
        let font = gridmap_plates::Font::find().map_err(|e| {
            AppError::Rejected(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                format!("the report cannot be printed: {e}"),
            )
        })?;
        let today = chrono::Local::now().format("%Y-%m-%d").to_string();
        pdf(&town, &today, &card, &font).map_err(|e| AppError::Internal(e.to_string()))
    })
    .await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"gridmap-scorecard.pdf\"; filename*=UTF-8''{}",
        crate::api::percent_encoded("月度排名通报.pdf")
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok((headers, bytes).into_response())
}

/// Each rate's definition, in Chinese, as the report prints it.
pub fn definition(key: &str) -> &'static str {
    match key {
        "visit_rate" => "已走访户数 ÷ 户数（有登记房屋的建筑按房屋计户，否则按建筑户数）",
        "registration_rate" => {
            "已核查的建筑和房屋 ÷ 建筑和房屋（最近一次走访有结论：已走访、新发现或已拆除）"
        }
        "attention_rate" => "已标注关注等级的重点单位、场所、人员 ÷ 重点单位、场所、人员",
        "consistency_rate" => "地址一致的匹配人数 ÷（匹配 + 仅公安有 + 仅网格有），取最近一次比对",
        "linkage_rate" => "所住房屋已关联建筑的人口 ÷ 登记人口",
        "awareness_rate" => "回答“认识网格员”的户 ÷ 回答的户（每户取最近一次回答）",
        "satisfaction_rate" => "满意度 4 或 5 分的户 ÷ 回答的户（每户取最近一次回答）",
        "plate_rate" => "已打印且被扫描过门牌二维码的房屋 ÷ 房屋（无登记房屋的建筑按一处计）",
        _ => "",
    }
}

/// `card`'s rates, for a line of text: `入户调查率 93.1% (27/29, 目标 100%)`.
pub fn describe(card: &Card) -> Vec<String> {
    card.rates()
        .iter()
        .map(|(key, r)| {
            let value = r
                .rate
                .map_or_else(|| "–".to_string(), |v| format!("{:.1}%", v * 100.0));
            format!(
                "{} {value} ({}/{}, 目标 {:.0}%)",
                rate_title(key),
                r.numerator,
                r.denominator,
                r.target * 100.0
            )
        })
        .collect()
}
