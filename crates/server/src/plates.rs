//! QR door plates (二维码门牌) and the residents' self-report page (自主申报).
//!
//! - `GET /api/plates.pdf?grid=CODE[&base_url=URL]`: the A4 sheet of the grid's plates (see
//!   [`print_grid`]), for users whose part of the org tree holds the grid; the plates are
//!   marked printed.
//! - `GET /r/{token}` (no sign-in): a small self-contained page, in Chinese and made for
//!   phones, that shows the plate's standard address and nothing else of the project, with a
//!   form to declare a household. Opening it counts a scan of the plate.
//! - `POST /r/{token}` (no sign-in): a declaration, [`DeclarationForm`], which goes into the
//!   review queue of the building's grid (`gridmap_store::declarations`), sealed with the
//!   register key; nothing reaches the registers until a grid worker confirms it
//!   ([`crate::declarations`]).
//!
//! # What the public page refuses
//!
//! In the order a request meets them:
//! 1. a body over [`DECLARATION_BODY_LIMIT`] (4 KiB): 413, never read whole;
//! 2. a body that is not exactly the form: unknown fields, wrong types (400), a field too long,
//!    an ID number whose check digit is wrong (400, naming the field, never echoing it);
//! 3. **floods**: each client (an IPv4 address or IPv6 /64, as for sign-in) may send
//!    [`CLIENT_DECLARATIONS`] declarations an hour, each plate receive [`PLATE_DECLARATIONS`]
//!    an hour, and each client open [`CLIENT_OPENINGS`] pages an hour; beyond: 429;
//! 4. **guessing**: a token that names no plate gets, for a declaration, exactly the answer of
//!    a throttled one (429, same body), and counts against the client: after
//!    [`CLIENT_UNKNOWN`] unknown tokens in an hour every page and declaration of that client is
//!    refused for the rest of the hour. Tokens are 80 random bits, not derived from building
//!    ids (`gridmap_store::plates`), so trying ids finds nothing.
//!
//! Counts live in LRU tables of [`throttle::TABLE_CAPACITY`] entries (bounded memory), per
//! server; times are passed in, so the rules are tested without waiting.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gridmap_core::register::{HouseNature, check_id_number};
use gridmap_store::ProjectStore;
use gridmap_store::declarations::{DeclaredPerson, NewDeclaration, RESIDENCE_TYPES};
use hashlink::LruCache;
use serde::Deserialize;

use crate::auth::throttle::{self, Client};
use crate::auth::{AuthUser, ClientAddr};
use crate::error::AppError;
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

/// The largest body `POST /r/{token}` reads.
pub const DECLARATION_BODY_LIMIT: usize = 4096;
/// Declarations one client may send in an hour.
pub const CLIENT_DECLARATIONS: u32 = 10;
/// Declarations one plate may receive in an hour.
pub const PLATE_DECLARATIONS: u32 = 20;
/// Pages one client may open in an hour.
pub const CLIENT_OPENINGS: u32 = 300;
/// Unknown tokens one client may try in an hour before it is refused everything.
pub const CLIENT_UNKNOWN: u32 = 20;
/// The window the counts above are per.
pub const WINDOW: Duration = Duration::from_secs(3600);
/// People one declaration may name.
pub const MAX_PEOPLE: usize = 10;

/// A count within a window that starts at the first event.
#[derive(Debug, Clone, Copy)]
struct Count {
    n: u32,
    since: Instant,
}

/// The self-report page's counters (see the module doc).
pub struct Limits {
    inner: Mutex<Tables>,
}

struct Tables {
    declarations: LruCache<Client, Count>,
    openings: LruCache<Client, Count>,
    unknown: LruCache<Client, Count>,
    plates: LruCache<String, Count>,
}

impl Default for Limits {
    fn default() -> Self {
        let n = throttle::TABLE_CAPACITY;
        Limits {
            inner: Mutex::new(Tables {
                declarations: LruCache::new(n),
                openings: LruCache::new(n),
                unknown: LruCache::new(n),
                plates: LruCache::new(n),
            }),
        }
    }
}

/// The count of `key` now (0 once its window is over).
fn current<K: std::hash::Hash + Eq>(t: &mut LruCache<K, Count>, key: &K, now: Instant) -> u32 {
    match t.get(key) {
        Some(c) if now.saturating_duration_since(c.since) < WINDOW => c.n,
        _ => 0,
    }
}

/// Adds one to `key`'s count; answers the count before.
fn bump<K: std::hash::Hash + Eq>(t: &mut LruCache<K, Count>, key: K, now: Instant) -> u32 {
    let fresh = Count { n: 1, since: now };
    match t.get_mut(&key) {
        Some(c) if now.saturating_duration_since(c.since) < WINDOW => {
            let before = c.n;
            c.n = c.n.saturating_add(1);
            before
        }
        _ => {
            t.insert(key, fresh);
            0
        }
    }
}

/// What a public request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Opening the page.
    Open,
    /// Sending a declaration.
    Declare,
}

impl Limits {
    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `client` may `ask` now; counts it when it may.
    pub fn admit(&self, client: Client, ask: Ask, now: Instant) -> bool {
        let mut t = self.tables();
        if current(&mut t.unknown, &client, now) >= CLIENT_UNKNOWN {
            return false;
        }
        match ask {
            Ask::Open => bump(&mut t.openings, client, now) < CLIENT_OPENINGS,
            Ask::Declare => bump(&mut t.declarations, client, now) < CLIENT_DECLARATIONS,
        }
    }

    /// Counts a declaration for plate `token`; whether the plate may take it.
    pub fn admit_plate(&self, token: &str, now: Instant) -> bool {
        bump(&mut self.tables().plates, token.to_string(), now) < PLATE_DECLARATIONS
    }

    /// Counts an unknown token tried by `client`.
    pub fn unknown(&self, client: Client, now: Instant) {
        bump(&mut self.tables().unknown, client, now);
    }
}

// ---------------------------------------------------------------------------------------------
// Printing

/// A grid's plates printed: the PDF and what is on it.
#[derive(Debug)]
pub struct Printed {
    /// The A4 PDF.
    pub pdf: Vec<u8>,
    /// The plates on it, in print order.
    pub plates: Vec<gridmap_store::plates::Plate>,
    /// The URL of each plate (same order).
    pub urls: Vec<String>,
    /// Buildings of the grid without a standard address: no plate.
    pub without_address: Vec<String>,
}

/// Why plates could not be printed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrintError {
    /// The base URL is not an `http://` or `https://` URL without spaces or quotes.
    #[error(
        "base URL {0:?}: give http://HOST[:PORT][/PATH] or https://…, without spaces or quotes"
    )]
    BaseUrl(String),
    /// No CJK font, or the PDF could not be made.
    #[error(transparent)]
    Plates(#[from] gridmap_plates::PlateError),
    /// The project file failed.
    #[error(transparent)]
    Register(#[from] gridmap_store::registers::RegisterError),
}

impl From<PrintError> for AppError {
    fn from(e: PrintError) -> AppError {
        match e {
            PrintError::BaseUrl(_) => AppError::BadRequest(e.to_string()),
            PrintError::Plates(gridmap_plates::PlateError::Font(
                gridmap_glyphs::FontError::NoFont { .. },
            )) => AppError::Rejected(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            PrintError::Register(e) => e.into(),
            other => AppError::Internal(other.to_string()),
        }
    }
}

/// Checks a base URL for plates: `http://` or `https://`, at most 200 characters, no white
/// space, quotes or angle brackets; the trailing `/` dropped.
pub fn check_base_url(base: &str) -> Result<String, PrintError> {
    let ok = (base.starts_with("http://") || base.starts_with("https://"))
        && base.len() <= 200
        && base.len() > "https://".len()
        && !base
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'<>\\`".contains(c));
    if ok {
        Ok(base.trim_end_matches('/').to_string())
    } else {
        Err(PrintError::BaseUrl(base.chars().take(80).collect()))
    }
}

/// The plates of grid `code` (named `name`) for `buildings` (the grid's, in order), made where
/// missing (`ProjectStore::plates_for`), laid out as an A4 PDF with URLs `BASE/r/TOKEN`, and
/// marked printed. The one way plates are printed: `gridmap plates` and `/api/plates.pdf`.
pub fn print_grid(
    store: &mut dyn ProjectStore,
    code: &str,
    name: Option<&str>,
    buildings: &[String],
    base_url: &str,
) -> Result<Printed, PrintError> {
    let base = check_base_url(base_url)?;
    let font = gridmap_plates::Font::find()?;
    let set = store.plates_for(buildings)?;
    let title = match name.filter(|n| !n.is_empty()) {
        Some(n) => format!("{n}（{code}）"),
        None => format!("网格 {code}"),
    };
    let urls: Vec<String> = set
        .plates
        .iter()
        .map(|p| format!("{base}/r/{}", p.token))
        .collect();
    let labels: Vec<gridmap_plates::Plate> = set
        .plates
        .iter()
        .zip(&urls)
        .map(|(p, url)| gridmap_plates::Plate {
            url: url.clone(),
            address: p.address.clone(),
            caption: format!(
                "{} · {title}",
                if p.house.is_some() {
                    "户门牌"
                } else {
                    "楼栋门牌"
                }
            ),
        })
        .collect();
    let pdf = gridmap_plates::render(
        &gridmap_plates::Sheet {
            title,
            plates: &labels,
        },
        &font,
    )?;
    let tokens: Vec<String> = set.plates.iter().map(|p| p.token.clone()).collect();
    store.mark_printed(&tokens)?;
    Ok(Printed {
        pdf,
        plates: set.plates,
        urls,
        without_address: set.without_address,
    })
}

/// The query of `GET /api/plates.pdf`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlatesQuery {
    /// The grid's code.
    pub grid: String,
    /// The address residents reach the server at (`https://grid.example.gov.cn`); default
    /// `http://` and the request's `Host`.
    pub base_url: Option<String>,
}

/// `GET /api/plates.pdf?grid=CODE`: the grid's QR door plates as an A4 PDF (the plates are
/// made where missing and marked printed).
#[utoipa::path(get, path = "/api/plates.pdf", tag = "plates", params(PlatesQuery),
    responses((status = 200, description = "The A4 PDF of the grid's plates", content_type = "application/pdf", body = Vec<u8>),
              (status = 503, description = "No CJK font on the server (install fonts-wqy-microhei)", body = crate::openapi::ErrorBody)))]
pub async fn plates_pdf(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    Query(q): Query<PlatesQuery>,
) -> Result<Response, AppError> {
    let p = state.project();
    if !user.sees_code(&p, &q.grid) {
        // An unknown grid and another's grid alike.
        return Err(AppError::Forbidden);
    }
    let base = match q.base_url {
        Some(b) => b,
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1:8080");
            format!("http://{host}")
        }
    };
    let g = p
        .grid(&q.grid)
        .ok_or_else(|| AppError::NotFound(format!("grid {}", crate::input::short(&q.grid))))?;
    let name = g.grid.name.clone();
    let buildings: Vec<String> = p.grid_buildings[p.grid_by_code[&q.grid]]
        .iter()
        .map(|&i| p.buildings[i as usize].id.clone())
        .collect();
    let code = q.grid.clone();
    let st = state.clone();
    let printed = crate::blocking(move || {
        let mut store =
            st.0.store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(print_grid(
            store.as_mut(),
            &code,
            name.as_deref(),
            &buildings,
            &base,
        )?)
    })
    .await?;
    let file = format!(
        "attachment; filename=\"plates-{}.pdf\"",
        ascii_name(&q.grid)
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&file)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        printed.pdf,
    )
        .into_response())
}

fn ascii_name(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(40)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The public page

/// A person of [`DeclarationForm`].
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonForm {
    /// 姓名, 1–20 characters.
    pub name: String,
    /// 公民身份号码, 18 characters with a valid check digit.
    pub id_number: String,
    /// 联系电话: digits, `+`, `-` and spaces, 5–20 characters.
    #[serde(default)]
    pub phone: Option<String>,
    /// 与户主关系 (户主, 配偶, 子女, …), at most 10 characters.
    #[serde(default)]
    pub relation: Option<String>,
}

/// The body of `POST /r/{token}`: the household declared. Nothing else is accepted.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclarationForm {
    /// 1 to 10 people.
    pub people: Vec<PersonForm>,
    /// 房屋性质: 自购, 自建, 租住, 空置, 单位宿舍, 危房, 待拆迁 or 其他.
    #[serde(default)]
    pub nature: Option<String>,
    /// 居住类型: 户籍, 流入, 流出 or 境外.
    #[serde(default)]
    pub residence: Option<String>,
    /// 室号 on a building's plate (`301`, `2-301`): letters, digits and `-`, at most 16.
    #[serde(default)]
    pub room: Option<String>,
}

/// A trimmed optional text: `None` when blank; 400 naming `field` when longer than `max`
/// characters or holding control characters.
fn text(field: &str, v: Option<&str>, max: usize) -> Result<Option<String>, AppError> {
    let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(AppError::BadRequest(format!(
            "{field}: at most {max} characters, no control characters"
        )));
    }
    Ok(Some(v.to_string()))
}

impl DeclarationForm {
    /// Checks every field (400 naming the first bad one, never its value); `house_plate`:
    /// the room is not asked on a house's plate and is dropped.
    pub fn check(self, token: &str, house_plate: bool) -> Result<NewDeclaration, AppError> {
        if self.people.is_empty() || self.people.len() > MAX_PEOPLE {
            return Err(AppError::BadRequest(format!(
                "people: 1 to {MAX_PEOPLE} people"
            )));
        }
        let mut people = Vec::with_capacity(self.people.len());
        for (i, p) in self.people.into_iter().enumerate() {
            let f = |name: &str| format!("people[{i}].{name}");
            let name = text(&f("name"), Some(&p.name), 20)?
                .ok_or_else(|| AppError::BadRequest(format!("{}: required", f("name"))))?;
            let id_number = check_id_number(&p.id_number)
                .map_err(|e| AppError::BadRequest(format!("{}: {e}", f("id_number"))))?;
            let phone = text(&f("phone"), p.phone.as_deref(), 20)?;
            if let Some(ph) = &phone
                && (ph.chars().count() < 5
                    || !ph.chars().all(|c| c.is_ascii_digit() || "+- ".contains(c)))
            {
                return Err(AppError::BadRequest(format!(
                    "{}: digits, +, - and spaces, 5 to 20",
                    f("phone")
                )));
            }
            let relation = text(&f("relation"), p.relation.as_deref(), 10)?;
            if people
                .iter()
                .any(|q: &DeclaredPerson| q.id_number == id_number)
            {
                return Err(AppError::BadRequest(format!(
                    "{}: the same ID number twice",
                    f("id_number")
                )));
            }
            people.push(DeclaredPerson {
                name,
                id_number,
                phone,
                relation,
            });
        }
        let nature = match text("nature", self.nature.as_deref(), 10)? {
            None => None,
            Some(n) => Some(HouseNature::parse(&n).ok_or_else(|| {
                AppError::BadRequest(
                    "nature: one of 自购, 自建, 租住, 空置, 单位宿舍, 危房, 待拆迁, 其他".into(),
                )
            })?),
        };
        let residence = match text("residence", self.residence.as_deref(), 4)? {
            None => None,
            Some(r) if RESIDENCE_TYPES.contains(&r.as_str()) => Some(r),
            Some(_) => {
                return Err(AppError::BadRequest(
                    "residence: one of 户籍, 流入, 流出, 境外".into(),
                ));
            }
        };
        let room = match text("room", self.room.as_deref(), 16)? {
            Some(r) if !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
                return Err(AppError::BadRequest(
                    "room: letters, digits and -, at most 16".into(),
                ));
            }
            _ if house_plate => None,
            r => r,
        };
        Ok(NewDeclaration {
            token: token.to_string(),
            grid: None,
            room,
            nature,
            residence,
            people,
        })
    }
}

/// `POST /r/{token}`: a household declared through a plate (no sign-in). See the module doc
/// for what is refused; an unknown token is answered as a throttled request.
#[utoipa::path(post, path = "/r/{token}", tag = "plates", security(()),
    params(("token" = String, Path, description = "The plate's token")),
    request_body = DeclarationForm,
    responses((status = 200, description = "{received: true}: in the grid's review queue", body = Object),
              (status = 413, description = "Body over 4 KiB", body = crate::openapi::ErrorBody),
              (status = 429, description = "Too many requests, or no such plate", body = crate::openapi::ErrorBody)))]
pub async fn declare(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Path(token): Path<String>,
    Json(form): Json<DeclarationForm>,
) -> Result<Response, AppError> {
    let client = Client::of(addr.map(|a: SocketAddr| a.ip()));
    let limits = &state.0.self_report;
    if !limits.admit(client, Ask::Declare, Instant::now()) {
        return Err(AppError::TooManyRequests);
    }
    let st = state.clone();
    let t = token.clone();
    let plate = crate::blocking(move || Ok(crate::pool::read_store(&st.0)?.plate(&t)?)).await?;
    let Some(plate) = plate else {
        limits.unknown(client, Instant::now());
        return Err(AppError::TooManyRequests);
    };
    let mut declaration = form.check(&plate.token, plate.house.is_some())?;
    if !limits.admit_plate(&plate.token, Instant::now()) {
        return Err(AppError::TooManyRequests);
    }
    if state.0.register_key.is_none() {
        return Err(AppError::Rejected(
            StatusCode::SERVICE_UNAVAILABLE,
            "self-report is closed: the server has no register key".into(),
        ));
    }
    let p = state.project();
    declaration.grid = p
        .building_by_id
        .get(&plate.building)
        .and_then(|&i| p.grid_of(i as usize))
        .map(str::to_string);
    let st = state.clone();
    crate::blocking(move || {
        let key =
            st.0.register_key
                .as_ref()
                .ok_or_else(|| AppError::Internal("no register key".into()))?;
        let mut store =
            st.0.store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(store.add_declaration(key, &declaration)?)
    })
    .await?;
    tracing::info!(plate = %plate.token, "self-report received");
    Ok(axum::Json(serde_json::json!({"received": true})).into_response())
}

/// `GET /r/{token}`: the self-report page of a plate (no sign-in); counts a scan.
#[utoipa::path(get, path = "/r/{token}", tag = "plates", security(()),
    params(("token" = String, Path, description = "The plate's token")),
    responses((status = 200, description = "The page (HTML): the plate's address and the form", content_type = "text/html", body = String),
              (status = 404, description = "No such plate (HTML)", content_type = "text/html", body = String),
              (status = 429, description = "Too many requests (HTML)", content_type = "text/html", body = String)))]
pub async fn page(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Path(token): Path<String>,
) -> Response {
    let client = Client::of(addr.map(|a: SocketAddr| a.ip()));
    let limits = &state.0.self_report;
    if !limits.admit(client, Ask::Open, Instant::now()) {
        return html(
            StatusCode::TOO_MANY_REQUESTS,
            &notice_page("请求过多，请稍后再试。"),
        );
    }
    let st = state.clone();
    let t = token.clone();
    let plate = crate::blocking(move || {
        let mut store =
            st.0.store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        let plate = store.plate(&t)?;
        if plate.is_some() {
            store.count_scan(&t)?;
        }
        Ok(plate)
    })
    .await;
    match plate {
        Ok(Some(p)) => html(StatusCode::OK, &form_page(&p.address, p.house.is_none())),
        Ok(None) => {
            limits.unknown(client, Instant::now());
            html(
                StatusCode::NOT_FOUND,
                &notice_page("此二维码门牌无效或已停用，请联系网格员。"),
            )
        }
        Err(e) => {
            tracing::error!(error = ?e, "self-report page failed");
            // A store without plates yet (PostgreSQL, so far) says so with 501.
            let status = match e {
                AppError::Store(gridmap_store::StoreError::Unsupported { .. }) => {
                    StatusCode::NOT_IMPLEMENTED
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            html(status, &notice_page("服务暂时不可用，请稍后再试。"))
        }
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:0;padding:1rem;max-width:32rem;margin:auto;line-height:1.5;color:#222}\
h1{font-size:1.25rem;margin:.5rem 0}.addr{background:#f3f6fa;border-radius:.4rem;padding:.6rem .8rem;font-weight:bold}\
label{display:block;margin:.6rem 0 .2rem}input,select{width:100%;box-sizing:border-box;padding:.55rem;font-size:1rem;border:1px solid #aaa;border-radius:.3rem}\
fieldset{border:1px solid #ccc;border-radius:.4rem;margin:.8rem 0;padding:.4rem .8rem .8rem}\
button{font-size:1rem;padding:.6rem 1rem;margin:.6rem .4rem 0 0;border-radius:.3rem;border:1px solid #1d5fa8;background:#fff;color:#1d5fa8}\
button[type=submit]{background:#1d5fa8;color:#fff}.note{font-size:.85rem;color:#555}#result{margin-top:1rem;font-weight:bold}";

const SCRIPT: &str = "(function(){\
var f=document.getElementById('declare'),list=document.getElementById('people'),tpl=document.getElementById('person'),out=document.getElementById('result');\
function add(){if(list.children.length>=10)return;var n=tpl.content.cloneNode(true);list.appendChild(n);renumber();}\
function renumber(){Array.prototype.forEach.call(list.children,function(fs,i){fs.querySelector('legend').textContent='成员 '+(i+1);});}\
document.getElementById('add').addEventListener('click',add);\
list.addEventListener('click',function(e){if(e.target.classList.contains('remove')&&list.children.length>1){e.target.closest('fieldset').remove();renumber();}});\
f.addEventListener('submit',function(e){e.preventDefault();out.textContent='正在提交…';\
var body={people:Array.prototype.map.call(list.children,function(fs){var v=function(n){return fs.querySelector('[name='+n+']').value.trim();};\
var p={name:v('name'),id_number:v('id_number')};if(v('phone'))p.phone=v('phone');if(v('relation'))p.relation=v('relation');return p;})};\
['nature','residence','room'].forEach(function(n){var el=f.querySelector('[name='+n+']');if(el&&el.value.trim())body[n]=el.value.trim();});\
fetch(location.pathname,{method:'POST',headers:{'content-type':'application/json'},body:JSON.stringify(body)}).then(function(r){\
return r.json().catch(function(){return {};}).then(function(j){if(r.ok){f.hidden=true;out.textContent='已提交，网格员核实后登记。谢谢！';}\
else if(r.status===429){out.textContent='提交过多，请稍后再试。';}else{out.textContent='请检查填写内容：'+(j.error||r.status);}});\
}).catch(function(){out.textContent='网络不可用，请稍后再试。';});});\
add();})();";

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// The content security policy of the public pages: nothing but their own inline style and
/// script (by hash) and requests back to this server.
fn csp() -> HeaderValue {
    use base64::Engine;
    use sha2::Digest;
    static CSP: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        let h = |s: &str| {
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(s.as_bytes()))
        };
        let policy = format!(
            "default-src 'none'; style-src 'sha256-{}'; script-src 'sha256-{}'; connect-src 'self'; \
             img-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            h(STYLE),
            h(SCRIPT)
        );
        HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
    })
    .clone()
}

fn html(status: StatusCode, body: &str) -> Response {
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CONTENT_SECURITY_POLICY, csp());
    r
}

fn shell(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><meta name=\"robots\" content=\"noindex\">\
<title>{title}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )
}

fn notice_page(message: &str) -> String {
    shell(
        "二维码门牌",
        &format!("<h1>二维码门牌</h1><p>{}</p>", escape(message)),
    )
}

/// The form of a plate with `address`; `building_plate`: the room is asked.
fn form_page(address: &str, building_plate: bool) -> String {
    let natures: String = HouseNature::ALL
        .iter()
        .map(|n| format!("<option>{}</option>", n.as_str()))
        .collect();
    let residences: String = RESIDENCE_TYPES
        .iter()
        .map(|r| format!("<option>{r}</option>"))
        .collect();
    let room = if building_plate {
        "<label for=\"room\">室号（如 301）</label><input id=\"room\" name=\"room\" maxlength=\"16\" inputmode=\"text\" autocomplete=\"off\">"
    } else {
        ""
    };
    let body = format!(
        "<h1>住户信息自主申报</h1><p class=\"note\">您扫描的门牌地址：</p><p class=\"addr\" id=\"address\">{address}</p>\
<form id=\"declare\" autocomplete=\"off\">{room}\
<label for=\"nature\">房屋性质</label><select id=\"nature\" name=\"nature\"><option value=\"\">请选择</option>{natures}</select>\
<label for=\"residence\">居住类型</label><select id=\"residence\" name=\"residence\"><option value=\"\">请选择</option>{residences}</select>\
<div id=\"people\"></div><button type=\"button\" id=\"add\">添加成员</button><button type=\"submit\">提交申报</button>\
<p class=\"note\">您填写的信息加密保存，仅供本网格网格员核实登记；核实前不会进入登记系统，未通过核实的申报将被删除。</p></form>\
<p id=\"result\" role=\"status\"></p>\
<template id=\"person\"><fieldset><legend>成员</legend>\
<label>姓名<input name=\"name\" maxlength=\"20\" required></label>\
<label>公民身份号码<input name=\"id_number\" maxlength=\"18\" required pattern=\"[0-9]{{17}}[0-9Xx]\"></label>\
<label>联系电话<input name=\"phone\" maxlength=\"20\" inputmode=\"tel\"></label>\
<label>与户主关系<input name=\"relation\" maxlength=\"10\" placeholder=\"户主、配偶、子女…\"></label>\
<button type=\"button\" class=\"remove\">删除此成员</button></fieldset></template>\
<script>{SCRIPT}</script>",
        address = escape(address),
    );
    shell("住户信息自主申报", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_refused_after_its_hourly_declarations_and_after_guessing() {
        let l = Limits::default();
        let c = Client::of(Some(std::net::IpAddr::from([10, 0, 0, 1])));
        let other = Client::of(Some(std::net::IpAddr::from([10, 0, 0, 2])));
        let t0 = Instant::now();
        for i in 0..CLIENT_DECLARATIONS {
            assert!(l.admit(c, Ask::Declare, t0), "{i}");
        }
        assert!(!l.admit(c, Ask::Declare, t0));
        assert!(l.admit(other, Ask::Declare, t0));
        assert!(l.admit(c, Ask::Open, t0), "opening is counted apart");
        assert!(l.admit(c, Ask::Declare, t0 + WINDOW), "a new hour");
        for _ in 0..CLIENT_UNKNOWN {
            l.unknown(other, t0);
        }
        assert!(
            !l.admit(other, Ask::Open, t0),
            "a guesser is refused everything"
        );
        assert!(l.admit(other, Ask::Open, t0 + WINDOW));
        for i in 0..PLATE_DECLARATIONS {
            assert!(l.admit_plate("p", t0), "{i}");
        }
        assert!(!l.admit_plate("p", t0));
        assert!(l.admit_plate("q", t0));
    }

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(
            check_base_url("https://grid.example/").unwrap(),
            "https://grid.example"
        );
        assert!(check_base_url("javascript:alert(1)").is_err());
        assert!(check_base_url("http://a b").is_err());
        assert!(check_base_url("http://x\"><script>").is_err());
    }

    #[test]
    fn the_page_escapes_the_address() {
        let page = form_page("中山东一路<script>1号", true);
        assert!(page.contains("中山东一路&lt;script&gt;1号"));
        assert!(page.contains("name=\"room\""));
        assert!(!form_page("x", false).contains("name=\"room\""));
    }
}
