//! The household registers of a town: the same methods, with the same behaviour, as
//! `GpkgStore`'s (`gridmap_store::registers`), in the tables `houses`, `people` and
//! `register_meta`. The form is checked and linked by [`prepare_households`] and personal data
//! is sealed, opened and fingerprinted by [`RegisterKey`], as in the GeoPackage store; only
//! the writing differs.
//!
//! Every register write locks the town's `register_meta` row first (`SELECT … FOR UPDATE`),
//! so that two processes importing into one town run one after the other: the numbering of
//! houses and people (`h1`, `p1`… per town) and the fingerprint lookups stay right.

use std::collections::HashMap;

use gridmap_core::register::{
    FormRow, House, HouseNature, Person, Residence, mask_id_number, mask_name, mask_phone,
};
use gridmap_store::Store;
use gridmap_store::registers::{
    FINGERPRINT_SCHEME, GroupBy, HouseholdImport, HouseholdOptions, KEY_CHECK, PreparedHouseholds,
    REMARKS_COLUMN, RegisterError, RegisterKey, RegisterStats, Result, RowProblem,
    StandardAddresses, View, prepare_households, stats_of,
};
use postgres::{GenericClient, Row, Transaction};
use rustc_hash::FxHashMap;

use crate::{Db, PgStore};

/// The column the key check is bound to, as in the GeoPackage store.
const KEY_CHECK_COLUMN: &str = "gridmap_meta";

/// The town's register record, locked until the transaction ends (made when missing): the key
/// check and the fingerprint scheme recorded.
pub(crate) fn lock_meta(
    tx: &mut Transaction,
    town: &str,
) -> Result<(Option<Vec<u8>>, Option<i32>)> {
    tx.execute(
        "INSERT INTO register_meta (town) VALUES ($1) ON CONFLICT (town) DO NOTHING",
        &[&town],
    )
    .db()?;
    let r = tx
        .query_one(
            "SELECT key_check, fingerprint_scheme FROM register_meta WHERE town = $1 FOR UPDATE",
            &[&town],
        )
        .db()?;
    Ok((r.get(0), r.get(1)))
}

/// The scheme of a `fingerprint_scheme` record: 1 when there is none (as for a GeoPackage
/// project written before the record), an error for a scheme this gridmap does not know.
fn scheme_of(recorded: Option<i32>) -> Result<u32> {
    match recorded {
        None => Ok(1),
        Some(n) => match u32::try_from(n) {
            Ok(n @ 1..=FINGERPRINT_SCHEME) => Ok(n),
            _ => Err(RegisterError::UnknownFingerprintScheme {
                found: n.to_string(),
            }),
        },
    }
}

/// Checks that `key` opens the town's key check, or seals one with it when there is none.
pub(crate) fn check_key(
    tx: &mut Transaction,
    town: &str,
    check: Option<&[u8]>,
    key: &RegisterKey,
) -> Result<()> {
    match check {
        Some(sealed) => match key.open(KEY_CHECK_COLUMN, sealed) {
            Some(s) if s == KEY_CHECK => Ok(()),
            _ => Err(RegisterError::WrongKey),
        },
        None => {
            tx.execute(
                "UPDATE register_meta SET key_check = $2 WHERE town = $1",
                &[&town, &key.seal(KEY_CHECK_COLUMN, KEY_CHECK)],
            )
            .db()?;
            Ok(())
        }
    }
}

fn set_scheme(tx: &mut Transaction, town: &str) -> Result<()> {
    tx.execute(
        "UPDATE register_meta SET fingerprint_scheme = $2 WHERE town = $1",
        &[&town, &(FINGERPRINT_SCHEME as i32)],
    )
    .db()?;
    Ok(())
}

/// Recomputes every fingerprint of the town under the current scheme when the town follows
/// an older one (after the caller's key check); answers how many.
pub(crate) fn upgrade_in(
    tx: &mut Transaction,
    town: &str,
    recorded: Option<i32>,
    key: &RegisterKey,
) -> Result<usize> {
    if scheme_of(recorded)? == FINGERPRINT_SCHEME {
        return Ok(0);
    }
    let rows = tx
        .query(
            "SELECT fid, id_number FROM people WHERE town = $1 AND id_number IS NOT NULL ORDER BY fid",
            &[&town],
        )
        .db()?;
    let update = tx
        .prepare("UPDATE people SET id_fingerprint = $3 WHERE town = $1 AND fid = $2")
        .db()?;
    for r in &rows {
        let fid: i64 = r.get(0);
        let id = key
            .open("id_number", r.get(1))
            .ok_or(RegisterError::Decrypt {
                fid,
                column: "id_number",
            })?;
        tx.execute(&update, &[&town, &fid, &key.fingerprint(&id)])
            .db()?;
    }
    set_scheme(tx, town)?;
    Ok(rows.len())
}

/// The sealed value in column `i` of `row` of `people`, opened for `column`; `None` for NULL.
fn open_cell(
    key: &RegisterKey,
    row: &Row,
    i: usize,
    column: &'static str,
    fid: i64,
) -> Result<Option<String>> {
    row.get::<_, Option<&[u8]>>(i)
        .map(|b| {
            key.open(column, b)
                .ok_or(RegisterError::Decrypt { fid, column })
        })
        .transpose()
}

/// Refuses a row whose clear text PostgreSQL cannot store (a NUL character), naming the row
/// and the column, never the value: before anything is written.
pub(crate) fn check_nul(rows: &[(&FormRow, String)]) -> Result<()> {
    let mut bad = Vec::new();
    for (r, address_key) in rows {
        let columns = [
            ("住址", Some(r.address.as_str())),
            ("住址", Some(address_key.as_str())),
            ("职业", r.occupation.as_deref()),
            ("工作单位", r.employer.as_deref()),
            ("与户主关系", r.relation.as_deref()),
            ("婚姻状况", r.marital_status.as_deref()),
        ];
        if let Some((name, _)) = columns
            .iter()
            .find(|(_, v)| v.is_some_and(|v| v.contains('\0')))
        {
            bad.push(RowProblem {
                row: r.row,
                reason: format!("{name} holds a NUL character, which PostgreSQL cannot store"),
            });
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(RegisterError::Rejected(bad))
    }
}

/// Every house of `town`, in the order they were made, read on `client` (the store's
/// connection or a transaction of it).
pub(crate) fn houses_in(client: &mut impl GenericClient, town: &str) -> Result<Vec<House>> {
    houses_where(client, town, None)
}

/// The houses of `town` in `building` (all of them for `None`), by id order.
fn houses_where(
    client: &mut impl GenericClient,
    town: &str,
    building: Option<&str>,
) -> Result<Vec<House>> {
    Ok(client
        .query(
            "SELECT id, building, address_key, address, nature FROM houses
             WHERE town = $1 AND ($2::text IS NULL OR building = $2) ORDER BY fid",
            &[&town, &building],
        )
        .db()?
        .iter()
        .map(|r| House {
            id: r.get(0),
            building: r.get(1),
            address_key: r.get(2),
            address: r.get(3),
            nature: r.get::<_, Option<&str>>(4).and_then(HouseNature::parse),
            // Sealed: see `house_remarks`.
            remarks: None,
        })
        .collect())
}

/// Every person of `town` as [`PgStore::people`] reads them, read on `client` (the store's
/// connection or a transaction of it).
pub(crate) fn people_in(
    client: &mut impl GenericClient,
    town: &str,
    key: &RegisterKey,
    view: View,
) -> Result<Vec<Person>> {
    people_where(client, town, key, view, None)
}

/// The people of `town` in the houses of `building` (everyone for `None`), by id order; only
/// they are decrypted.
fn people_where(
    client: &mut impl GenericClient,
    town: &str,
    key: &RegisterKey,
    view: View,
    building: Option<&str>,
) -> Result<Vec<Person>> {
    let rows = client
        .query(
            "SELECT fid, id, house, name, id_number, occupation, employer, relation,
               marital_status, hukou_match, phone, residence
             FROM people WHERE town = $1 AND ($2::text IS NULL OR house IN
               (SELECT id FROM houses WHERE town = $1 AND building = $2))
             ORDER BY fid",
            &[&town, &building],
        )
        .db()?;
    rows.iter()
        .map(|r| {
            let fid: i64 = r.get(0);
            let open = |i: usize, column: &'static str| open_cell(key, r, i, column, fid);
            let mut p = Person {
                id: r.get(1),
                house: r.get(2),
                name: open(3, "name")?.unwrap_or_default(),
                id_number: open(4, "id_number")?,
                occupation: r.get(5),
                employer: r.get(6),
                relation: r.get(7),
                marital_status: r.get(8),
                hukou_match: r.get(9),
                phone: open(10, "phone")?,
                residence: r.get::<_, Option<&str>>(11).and_then(Residence::parse),
            };
            if view == View::Masked {
                p.name = mask_name(&p.name);
                p.id_number = p.id_number.as_deref().map(mask_id_number);
                p.phone = p.phone.as_deref().map(mask_phone);
            }
            Ok(p)
        })
        .collect()
}

/// A NULL-or-count column as a count.
fn count(n: i64) -> u64 {
    n.max(0) as u64
}

/// Writes a prepared household form (checked by [`check_nul`] too) into the town's registers
/// inside the caller's transaction: locks the town's register record, checks `key`, brings the
/// fingerprints to the current scheme, then creates or finds each house and creates or updates
/// each person. The import of [`PgStore::import_households`], and of a confirmed declaration.
pub(crate) fn write_households(
    tx: &mut Transaction,
    town: &str,
    key: &RegisterKey,
    prepared: PreparedHouseholds<'_>,
) -> Result<HouseholdImport> {
    let PreparedHouseholds {
        report: mut out,
        rows: ready,
        links,
    } = prepared;
    let town = town.to_string();
    let (check, scheme) = lock_meta(tx, &town)?;
    check_key(tx, &town, check.as_deref(), key)?;
    // People are found by fingerprint: those of an older scheme are recomputed first.
    upgrade_in(tx, &town, scheme, key)?;
    let next = |tx: &mut Transaction, table: &str| -> Result<i64> {
        Ok(tx
            .query_one(
                &format!("SELECT coalesce(max(fid), 0) FROM {table} WHERE town = $1"),
                &[&town],
            )
            .db()?
            .get(0))
    };
    let mut next_house = next(tx, "houses")?;
    let mut next_person = next(tx, "people")?;
    let find_house = tx
        .prepare("SELECT id FROM houses WHERE town = $1 AND address_key = $2")
        .db()?;
    let add_house = tx
        .prepare(
            "INSERT INTO houses (town, id, fid, building, address_key, address, nature, remarks,
               link, link_reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .db()?;
    let touch_house = tx
        .prepare(
            "UPDATE houses SET building = $3, link = $4, link_reason = $5,
               nature = coalesce($6, nature), remarks = coalesce($7, remarks)
             WHERE town = $1 AND id = $2",
        )
        .db()?;
    let find_person = tx
        .prepare("SELECT id FROM people WHERE town = $1 AND id_fingerprint = $2")
        .db()?;
    let add_person = tx
        .prepare(
            "INSERT INTO people (town, id, house, name, id_number, id_fingerprint, occupation,
               employer, relation, marital_status, hukou_match, phone, source_row, residence, fid)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .db()?;
    let update_person = tx
        .prepare(
            "UPDATE people SET house = $3, name = $4, id_number = $5, occupation = $7,
               employer = $8, relation = $9, marital_status = $10, hukou_match = $11,
               phone = $12, source_row = $13, residence = coalesce($14, residence)
             WHERE town = $1 AND id = $2 AND id_fingerprint = $6",
        )
        .db()?;
    let mut houses_seen = rustc_hash::FxHashSet::<String>::default();
    for (r, key_text) in &ready {
        let (building, how, why) = links.get(key_text).cloned().unwrap_or_default();
        let nature = r.nature.map(HouseNature::as_str);
        let remarks = r.remarks.as_deref().map(|t| key.seal(REMARKS_COLUMN, t));
        let house: Option<String> = tx
            .query_opt(&find_house, &[&town, key_text])
            .db()?
            .map(|row| row.get(0));
        let house = match house {
            Some(h) => {
                if houses_seen.insert(h.clone()) {
                    out.houses_existing += 1;
                }
                tx.execute(
                    &touch_house,
                    &[&town, &h, &building, &how, &why, &nature, &remarks],
                )
                .db()?;
                h
            }
            None => {
                next_house += 1;
                let h = format!("h{next_house}");
                tx.execute(
                    &add_house,
                    &[
                        &town,
                        &h,
                        &next_house,
                        &building,
                        key_text,
                        &r.address,
                        &nature,
                        &remarks,
                        &how,
                        &why,
                    ],
                )
                .db()?;
                houses_seen.insert(h.clone());
                out.houses_created += 1;
                h
            }
        };
        let fp = r.id_number.as_deref().map(|i| key.fingerprint(i));
        let name = key.seal("name", &r.name);
        let idn = r.id_number.as_deref().map(|i| key.seal("id_number", i));
        let phone = r.phone.as_deref().map(|p| key.seal("phone", p));
        let existing: Option<String> = match &fp {
            Some(f) => tx
                .query_opt(&find_person, &[&town, f])
                .db()?
                .map(|row| row.get(0)),
            None => None,
        };
        let fid = next_person + 1;
        let id = match &existing {
            Some(id) => id.clone(),
            None => format!("p{fid}"),
        };
        let source_row = r.row as i64;
        let residence = r.residence.map(Residence::as_str);
        let values: [&(dyn postgres::types::ToSql + Sync); 14] = [
            &town,
            &id,
            &house,
            &name,
            &idn,
            &fp,
            &r.occupation,
            &r.employer,
            &r.relation,
            &r.marital_status,
            &r.hukou_match,
            &phone,
            &source_row,
            &residence,
        ];
        if existing.is_some() {
            tx.execute(&update_person, &values).db()?;
            out.people_updated += 1;
        } else {
            let mut with_fid = values.to_vec();
            with_fid.push(&fid);
            tx.execute(&add_person, &with_fid).db()?;
            next_person = fid;
            out.people_inserted += 1;
        }
    }
    Ok(out)
}

impl PgStore {
    /// The fingerprint scheme the town's `people.id_fingerprint` values follow: its
    /// `register_meta` record, or 1 when there is none yet (as for a GeoPackage project).
    pub fn fingerprint_scheme(&self) -> Result<u32> {
        let recorded: Option<i32> = self
            .lock()
            .query_opt(
                "SELECT fingerprint_scheme FROM register_meta WHERE town = $1",
                &[&self.town],
            )
            .db()?
            .and_then(|r| r.get(0));
        scheme_of(recorded)
    }

    /// Recomputes every person's fingerprint under `key`'s current scheme from their sealed ID
    /// number, and records the scheme. `key` must be the town's key (checked first). Answers
    /// how many fingerprints were recomputed: 0 when the town already follows
    /// [`FINGERPRINT_SCHEME`] (then nothing is written but the key check of a town without one).
    pub fn upgrade_fingerprints(&mut self, key: &RegisterKey) -> Result<usize> {
        let town = self.town.clone();
        let mut tx = self.conn().transaction().db()?;
        let (check, scheme) = lock_meta(&mut tx, &town)?;
        check_key(&mut tx, &town, check.as_deref(), key)?;
        let n = upgrade_in(&mut tx, &town, scheme, key)?;
        tx.commit().db()?;
        Ok(n)
    }

    /// Imports the rows of a household form: creates each house from its normalised address
    /// (or finds it), links it to a building through the standard addresses, and creates or
    /// updates each person (by ID number) in that house. One transaction: with rows rejected
    /// (address unreadable or not down to 栋/号) and without `skip_invalid`, nothing is written
    /// and [`RegisterError::Rejected`] lists them; a failure half-way writes nothing either.
    ///
    /// # Performance
    /// As the GeoPackage store's, plus a round trip to the server per house and per person
    /// looked up or written (prepared statements).
    pub fn import_households(
        &mut self,
        rows: &[FormRow],
        key: &RegisterKey,
        options: HouseholdOptions,
    ) -> Result<HouseholdImport> {
        let standard = StandardAddresses::new(&self.addresses()?, &self.buildings()?);
        let prepared = prepare_households(rows, &standard, options, None)?;
        check_nul(&prepared.rows)?;
        let town = self.town.clone();
        let mut tx = self.conn().transaction().db()?;
        let out = write_households(&mut tx, &town, key, prepared)?;
        tx.commit().db()?;
        Ok(out)
    }

    /// Every house of the town, in the order they were made.
    pub fn houses(&self) -> Result<Vec<House>> {
        houses_in(&mut *self.lock(), &self.town)
    }

    /// The houses of building `building`, by id order.
    pub fn houses_of(&self, building: &str) -> Result<Vec<House>> {
        houses_where(&mut *self.lock(), &self.town, Some(building))
    }

    /// Each house's remarks, opened with the register key, by house id (houses without remarks
    /// are left out).
    pub fn house_remarks(&self, key: &RegisterKey) -> Result<FxHashMap<String, String>> {
        let rows = self
            .lock()
            .query(
                "SELECT id, remarks FROM houses WHERE town = $1 AND remarks IS NOT NULL",
                &[&self.town],
            )
            .db()?;
        rows.iter()
            .map(|r| {
                let id: String = r.get(0);
                let text = key
                    .open(REMARKS_COLUMN, r.get(1))
                    .ok_or_else(|| RegisterError::SealedSubject { id: id.clone() })?;
                Ok((id, text))
            })
            .collect()
    }

    /// Re-encrypts the town's registers from key `old` to key `new` in one transaction: every
    /// name, ID number, phone and house remark, every key subject's sealed part, the people of
    /// every declaration waiting for review, every ID fingerprint (recomputed under the
    /// current [`FINGERPRINT_SCHEME`], which it records), and the key check. Answers the number
    /// of people. All or nothing: a value `old` cannot open (the wrong key) changes nothing.
    pub fn rekey(&mut self, old: &RegisterKey, new: &RegisterKey) -> Result<usize> {
        let town = self.town.clone();
        let mut tx = self.conn().transaction().db()?;
        let (check, _) = lock_meta(&mut tx, &town)?;
        check_key(&mut tx, &town, check.as_deref(), old)?;
        let rows = tx
            .query(
                "SELECT fid, name, id_number, phone FROM people WHERE town = $1 ORDER BY fid",
                &[&town],
            )
            .db()?;
        let update = tx
            .prepare(
                "UPDATE people SET name = $3, id_number = $4, phone = $5, id_fingerprint = $6
                 WHERE town = $1 AND fid = $2",
            )
            .db()?;
        for r in &rows {
            let fid: i64 = r.get(0);
            let reseal =
                |i: usize, column: &'static str| -> Result<(Option<Vec<u8>>, Option<String>)> {
                    Ok(match open_cell(old, r, i, column, fid)? {
                        Some(plain) => (Some(new.seal(column, &plain)), Some(plain)),
                        None => (None, None),
                    })
                };
            let (name, _) = reseal(1, "name")?;
            let (id_sealed, id_plain) = reseal(2, "id_number")?;
            let (phone, _) = reseal(3, "phone")?;
            let fingerprint = id_plain.as_deref().map(|id| new.fingerprint(id));
            tx.execute(
                &update,
                &[&town, &fid, &name, &id_sealed, &phone, &fingerprint],
            )
            .db()?;
        }
        let remarks = tx
            .query(
                "SELECT id, remarks FROM houses WHERE town = $1 AND remarks IS NOT NULL ORDER BY fid",
                &[&town],
            )
            .db()?;
        for r in &remarks {
            let id: &str = r.get(0);
            let plain =
                old.open(REMARKS_COLUMN, r.get(1))
                    .ok_or_else(|| RegisterError::SealedSubject {
                        id: format!("houses row {id}"),
                    })?;
            tx.execute(
                "UPDATE houses SET remarks = $3 WHERE town = $1 AND id = $2",
                &[&town, &id, &new.seal(REMARKS_COLUMN, &plain)],
            )
            .db()?;
        }
        let subjects = tx
            .query(
                "SELECT id, building, house, sealed, updated_by, updated_at FROM key_subjects
                 WHERE town = $1 ORDER BY fid",
                &[&town],
            )
            .db()?;
        for r in &subjects {
            let subject = gridmap_store::key_subjects::StoredSubject {
                id: r.get(0),
                building: r.get(1),
                house: r.get(2),
                sealed: r.get(3),
                updated_by: r.get(4),
                updated_at: r.get(5),
            }
            .open(old)?;
            tx.execute(
                "UPDATE key_subjects SET sealed = $3 WHERE town = $1 AND id = $2",
                &[
                    &town,
                    &subject.id,
                    &gridmap_store::key_subjects::seal(new, &subject),
                ],
            )
            .db()?;
        }
        // Declarations waiting for review: their people would no longer open.
        let declared = tx
            .query(
                "SELECT id, people FROM declarations WHERE town = $1 AND people IS NOT NULL",
                &[&town],
            )
            .db()?;
        for r in &declared {
            let id: i64 = r.get(0);
            let people =
                gridmap_store::declarations::reseal_people(old, new, id, r.get::<_, &[u8]>(1))?;
            tx.execute(
                "UPDATE declarations SET people = $3 WHERE town = $1 AND id = $2",
                &[&town, &id, &people],
            )
            .db()?;
        }
        tx.execute(
            "UPDATE register_meta SET key_check = $2 WHERE town = $1",
            &[&town, &new.seal(KEY_CHECK_COLUMN, KEY_CHECK)],
        )
        .db()?;
        // Every fingerprint was just made with the current scheme, whatever the old one was.
        set_scheme(&mut tx, &town)?;
        tx.commit().db()?;
        Ok(rows.len())
    }

    /// The houses as the scorecard counts them: each house, the position of its building
    /// (placed by `building_at`) and its people ([`gridmap_store::GpkgStore::scorecard_houses`]).
    pub fn scorecard_houses(
        &self,
        building_at: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<Vec<gridmap_store::scorecard::HouseCount>> {
        let rows = self
            .lock()
            .query(
                "SELECT h.id, h.building, count(p.fid) FROM houses h
                 LEFT JOIN people p ON p.town = h.town AND p.house = h.id
                 WHERE h.town = $1 GROUP BY h.id, h.building ORDER BY h.id COLLATE \"C\"",
                &[&self.town],
            )
            .db()?;
        Ok(rows
            .iter()
            .map(|r| gridmap_store::scorecard::HouseCount {
                id: r.get(0),
                building: r.get::<_, Option<&str>>(1).and_then(building_at),
                people: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
            })
            .collect())
    }

    /// The people registered in each building's houses (人房关联), by building id; buildings
    /// with none are left out.
    pub fn people_by_building(&self) -> Result<HashMap<String, u64>> {
        Ok(self
            .lock()
            .query(
                "SELECT h.building, count(p.fid) FROM houses h
                   JOIN people p ON p.town = h.town AND p.house = h.id
                 WHERE h.town = $1 AND h.building IS NOT NULL GROUP BY h.building",
                &[&self.town],
            )
            .db()?
            .iter()
            .map(|r| (r.get(0), count(r.get(1))))
            .collect())
    }

    /// The people registered in houses linked to no building (人房未关联): with
    /// [`people_by_building`](Self::people_by_building), every person of the register once.
    pub fn people_unlinked(&self) -> Result<u64> {
        let n: i64 = self
            .lock()
            .query_one(
                "SELECT count(*) FROM people p
                   LEFT JOIN houses h ON h.town = p.town AND h.id = p.house
                 WHERE p.town = $1 AND h.building IS NULL",
                &[&self.town],
            )
            .db()?
            .get(0);
        Ok(count(n))
    }

    /// Whether house `house` is registered in building `building`.
    pub fn house_in_building(&self, house: &str, building: &str) -> Result<bool> {
        Ok(self
            .lock()
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM houses WHERE town = $1 AND id = $2 AND building = $3)",
                &[&self.town, &house, &building],
            )
            .db()?
            .get(0))
    }

    /// Every person of the town, with name, ID number and phone decrypted, then masked unless
    /// `view` is [`View::Clear`].
    pub fn people(&self, key: &RegisterKey, view: View) -> Result<Vec<Person>> {
        people_in(&mut *self.lock(), &self.town, key, view)
    }

    /// The people of the houses of building `building`, as [`people`](Self::people) reads
    /// them: only they are decrypted.
    pub fn people_of(&self, key: &RegisterKey, view: View, building: &str) -> Result<Vec<Person>> {
        people_where(&mut *self.lock(), &self.town, key, view, Some(building))
    }

    /// The register statistics per grid or village, with the town's totals
    /// ([`stats_of`], as the GeoPackage store computes them). Needs no key: it reads no
    /// personal data.
    pub fn register_stats(&self, by: GroupBy) -> Result<RegisterStats> {
        let houses: Vec<(Option<String>, usize)> = self
            .lock()
            .query(
                "SELECT h.building, count(p.fid) FROM houses h
                   LEFT JOIN people p ON p.town = h.town AND p.house = h.id
                 WHERE h.town = $1 GROUP BY h.id, h.building",
                &[&self.town],
            )
            .db()?
            .iter()
            .map(|r| (r.get(0), count(r.get(1)) as usize))
            .collect();
        stats_of(self, by, &houses)
    }
}
