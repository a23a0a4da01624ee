//! The company directory's rows: companies, their address book (deduplicated on the
//! normalised address) with default shipping and billing addresses, and their contacts with
//! roles (one primary per role). Each change is one transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::domain::hardware::directory::{
    AddressParts, ContactRole, Holder, RoleError, ValidationStatus, address_key, assign_role,
};
use crate::store::{Error, Result, Store};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct CompanyRow {
    pub id: String,
    pub name: String,
    /// The legacy system's id for the company.
    pub company_mirror_id: String,
    /// Days an issued invoice gives the company; 0 is prepaid.
    pub payment_terms_days: i32,
    pub default_shipping_address_id: Option<Uuid>,
    pub default_billing_address_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COMPANY: &str =
    "id, name, company_mirror_id, payment_terms_days, default_shipping_address_id,
    default_billing_address_id, created_at, updated_at";

/// A company to record.
#[derive(Debug, Clone)]
pub struct NewCompany {
    pub id: String,
    pub name: String,
    pub company_mirror_id: String,
    pub payment_terms_days: i32,
}

/// A change to a company; `None` leaves a field alone. A default is set to an address of the
/// company's book, or cleared with `Some(None)`.
#[derive(Debug, Clone, Default)]
pub struct CompanyPatch {
    pub name: Option<String>,
    pub company_mirror_id: Option<String>,
    pub payment_terms_days: Option<i32>,
    pub default_shipping_address_id: Option<Option<Uuid>>,
    pub default_billing_address_id: Option<Option<Uuid>>,
}

/// An address as checked by the API: required parts present and trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressFields {
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
}

impl AddressFields {
    fn key(&self) -> String {
        address_key(&AddressParts {
            line1: &self.line1,
            line2: self.line2.as_deref(),
            city: &self.city,
            region: self.region.as_deref(),
            postal_code: &self.postal_code,
            country: &self.country,
        })
    }

    /// The snapshot a shipment or order keeps (the API's address shape).
    pub fn snapshot(&self) -> Value {
        json!({
            "line1": self.line1, "line2": self.line2, "city": self.city, "region": self.region,
            "postal_code": self.postal_code, "country": self.country,
        })
    }

    /// Reads a snapshot back; `None` when a required part is missing.
    pub fn from_snapshot(v: &Value) -> Option<AddressFields> {
        let text = |k: &str| v[k].as_str().map(str::to_string);
        Some(AddressFields {
            line1: text("line1")?,
            line2: text("line2"),
            city: text("city")?,
            region: text("region"),
            postal_code: text("postal_code")?,
            country: text("country")?,
        })
    }
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct AddressRow {
    pub id: Uuid,
    pub company_id: String,
    pub label: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
    pub validation_status: String,
    pub last_used_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AddressRow {
    pub fn fields(&self) -> AddressFields {
        AddressFields {
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            city: self.city.clone(),
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
        }
    }
}

const ADDRESS: &str = "id, company_id, label, line1, line2, city, region, postal_code, country,
    validation_status, last_used_at, archived_at, created_at, updated_at";

/// A change to an address; `None` leaves a part alone.
#[derive(Debug, Clone, Default)]
pub struct AddressPatch {
    pub fields: Option<AddressFields>,
    pub label: Option<Option<String>>,
    pub validation_status: Option<ValidationStatus>,
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct ContactRow {
    pub id: Uuid,
    pub company_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub notes: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const CONTACT: &str = "id, company_id, first_name, last_name, email, phone, notes, active,
    created_at, updated_at";

/// A role a contact holds.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct RoleRow {
    pub role: String,
    pub is_primary: bool,
}

/// A contact with its roles.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactView {
    #[serde(flatten)]
    pub contact: ContactRow,
    pub roles: Vec<RoleRow>,
}

/// A contact to record.
#[derive(Debug, Clone)]
pub struct NewContact {
    pub company_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub notes: Option<String>,
}

/// A change to a contact; `None` leaves a field alone, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct ContactPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<Option<String>>,
    pub notes: Option<Option<String>>,
}

/// Postgres's unique violation on `constraint`.
fn unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    matches!(e, sqlx::Error::Database(d)
        if d.code().as_deref() == Some("23505") && d.constraint() == Some(constraint))
}

pub(crate) async fn company_in(
    conn: &mut PgConnection,
    id: &str,
) -> Result<Option<CompanyRow>, sqlx::Error> {
    sqlx::query_as::<_, CompanyRow>(&format!("SELECT {COMPANY} FROM companies WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub(crate) async fn address_in(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<AddressRow>, sqlx::Error> {
    sqlx::query_as::<_, AddressRow>(&format!("SELECT {ADDRESS} FROM addresses WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub(crate) async fn contact_in(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<ContactRow>, sqlx::Error> {
    sqlx::query_as::<_, ContactRow>(&format!("SELECT {CONTACT} FROM contacts WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Which of a company's defaults an address becomes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Defaults {
    pub shipping: bool,
    pub billing: bool,
}

/// Makes `address` (already one of the company's) its default where `defaults` asks.
pub(crate) async fn set_defaults_in(
    conn: &mut PgConnection,
    company_id: &str,
    address: Uuid,
    defaults: Defaults,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if !defaults.shipping && !defaults.billing {
        return Ok(());
    }
    sqlx::query(
        "UPDATE companies SET
             default_shipping_address_id = CASE WHEN $3 THEN $2 ELSE default_shipping_address_id END,
             default_billing_address_id = CASE WHEN $4 THEN $2 ELSE default_billing_address_id END,
             updated_at = $5
         WHERE id = $1",
    )
    .bind(company_id)
    .bind(address)
    .bind(defaults.shipping)
    .bind(defaults.billing)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks an address as just used (a shipment went there, a checkout billed it).
pub(crate) async fn touch_address_in(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE addresses SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds an address to a company's book; an exact duplicate (normalised) of a live one is a
/// conflict naming it.
pub(crate) async fn insert_address_in(
    conn: &mut PgConnection,
    company_id: &str,
    fields: &AddressFields,
    label: Option<&str>,
    status: ValidationStatus,
    now: DateTime<Utc>,
) -> Result<AddressRow> {
    let key = fields.key();
    if let Some(existing) = duplicate_in(conn, company_id, &key, None).await? {
        return Err(duplicate(existing));
    }
    let inserted = sqlx::query_as::<_, AddressRow>(&format!(
        "INSERT INTO addresses (id, company_id, label, line1, line2, city, region, postal_code,
             country, dedup_key, validation_status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING {ADDRESS}"
    ))
    .bind(Uuid::now_v7())
    .bind(company_id)
    .bind(label)
    .bind(&fields.line1)
    .bind(&fields.line2)
    .bind(&fields.city)
    .bind(&fields.region)
    .bind(&fields.postal_code)
    .bind(&fields.country)
    .bind(&key)
    .bind(status.as_str())
    .bind(now)
    .fetch_one(&mut *conn)
    .await;
    match inserted {
        Ok(row) => Ok(row),
        // A concurrent add of the same address won the race.
        Err(e) if unique_violation(&e, "addresses_dedup") => {
            let existing = duplicate_in(conn, company_id, &key, None).await?;
            Err(existing.map(duplicate).unwrap_or(Error::Db(e)))
        }
        Err(e) => Err(e.into()),
    }
}

async fn duplicate_in(
    conn: &mut PgConnection,
    company_id: &str,
    key: &str,
    except: Option<Uuid>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM addresses WHERE company_id = $1 AND dedup_key = $2
             AND archived_at IS NULL AND id IS DISTINCT FROM $3",
    )
    .bind(company_id)
    .bind(key)
    .bind(except)
    .fetch_optional(conn)
    .await
}

fn duplicate(existing: Uuid) -> Error {
    Error::Conflict(format!(
        "the company's address book already has this address ({existing})"
    ))
}

impl Store {
    /// Records a company; an id already taken is a conflict.
    pub(crate) async fn create_company(
        &self,
        new: &NewCompany,
        now: DateTime<Utc>,
    ) -> Result<CompanyRow> {
        let row = sqlx::query_as::<_, CompanyRow>(&format!(
            "INSERT INTO companies (id, name, company_mirror_id, payment_terms_days, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING {COMPANY}"
        ))
        .bind(&new.id)
        .bind(&new.name)
        .bind(&new.company_mirror_id)
        .bind(new.payment_terms_days)
        .bind(now)
        .fetch_one(self.pool())
        .await;
        match row {
            Err(e) if unique_violation(&e, "companies_pkey") => Err(Error::Conflict(format!(
                "company {} already exists",
                new.id
            ))),
            other => Ok(other?),
        }
    }

    /// A company, if known.
    pub async fn company(&self, id: &str) -> Result<Option<CompanyRow>> {
        let mut conn = self.pool().acquire().await?;
        Ok(company_in(&mut conn, id).await?)
    }

    /// Companies whose name, id or legacy id contains `search` (case-insensitive), by name;
    /// every company when `search` is `None`. At most `limit`.
    pub(crate) async fn search_companies(
        &self,
        search: Option<&str>,
        limit: i64,
    ) -> Result<Vec<CompanyRow>> {
        // The search text is matched literally: LIKE's wildcards are escaped.
        let pattern = search.map(|s| {
            let escaped = s
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        Ok(sqlx::query_as::<_, CompanyRow>(&format!(
            "SELECT {COMPANY} FROM companies
             WHERE $1::text IS NULL OR name ILIKE $1 OR id ILIKE $1 OR company_mirror_id ILIKE $1
             ORDER BY lower(name), id LIMIT $2"
        ))
        .bind(pattern)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Changes a company. A default address must be a live address of its own book.
    pub(crate) async fn update_company(
        &self,
        id: &str,
        patch: &CompanyPatch,
        now: DateTime<Utc>,
    ) -> Result<CompanyRow> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("SELECT 1 FROM companies WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound)?;
        for (field, address) in [
            (
                "default_shipping_address_id",
                patch.default_shipping_address_id,
            ),
            (
                "default_billing_address_id",
                patch.default_billing_address_id,
            ),
        ] {
            let Some(Some(address)) = address else {
                continue;
            };
            let row = sqlx::query_as::<_, AddressRow>(&format!(
                "SELECT {ADDRESS} FROM addresses WHERE id = $1 FOR SHARE"
            ))
            .bind(address)
            .fetch_optional(&mut *tx)
            .await?;
            match row {
                Some(a) if a.company_id == id && a.archived_at.is_none() => {}
                Some(a) if a.company_id == id => {
                    return Err(Error::Invalid(format!(
                        "{field}: address {address} is archived"
                    )));
                }
                _ => {
                    return Err(Error::Invalid(format!(
                        "{field}: company {id} has no address {address}"
                    )));
                }
            }
        }
        let row = sqlx::query_as::<_, CompanyRow>(&format!(
            "UPDATE companies SET name = coalesce($2, name),
                 company_mirror_id = coalesce($3, company_mirror_id),
                 payment_terms_days = coalesce($4, payment_terms_days),
                 default_shipping_address_id = CASE WHEN $5 THEN $6 ELSE default_shipping_address_id END,
                 default_billing_address_id = CASE WHEN $7 THEN $8 ELSE default_billing_address_id END,
                 updated_at = $9
             WHERE id = $1 RETURNING {COMPANY}"
        ))
        .bind(id)
        .bind(&patch.name)
        .bind(&patch.company_mirror_id)
        .bind(patch.payment_terms_days)
        .bind(patch.default_shipping_address_id.is_some())
        .bind(patch.default_shipping_address_id.flatten())
        .bind(patch.default_billing_address_id.is_some())
        .bind(patch.default_billing_address_id.flatten())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// A company's addresses, newest first; archived ones only when asked.
    pub(crate) async fn addresses_of(
        &self,
        company_id: &str,
        archived: bool,
    ) -> Result<Vec<AddressRow>> {
        Ok(sqlx::query_as::<_, AddressRow>(&format!(
            "SELECT {ADDRESS} FROM addresses WHERE company_id = $1 AND ($2 OR archived_at IS NULL)
             ORDER BY created_at DESC, id"
        ))
        .bind(company_id)
        .bind(archived)
        .fetch_all(self.pool())
        .await?)
    }

    pub(crate) async fn address(&self, id: Uuid) -> Result<Option<AddressRow>> {
        let mut conn = self.pool().acquire().await?;
        Ok(address_in(&mut conn, id).await?)
    }

    /// Adds an address to a company's book (see [`insert_address_in`]) and, in the same
    /// transaction, makes it the company's default where `defaults` asks.
    pub(crate) async fn add_address(
        &self,
        company_id: &str,
        fields: &AddressFields,
        label: Option<&str>,
        status: ValidationStatus,
        defaults: Defaults,
        now: DateTime<Utc>,
    ) -> Result<AddressRow> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("SELECT 1 FROM companies WHERE id = $1 FOR UPDATE")
            .bind(company_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound)?;
        let row = insert_address_in(&mut tx, company_id, fields, label, status, now).await?;
        set_defaults_in(&mut tx, company_id, row.id, defaults, now).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Changes a live address. New parts make it unvalidated again unless a status comes
    /// with them; a change that makes it a duplicate of another live address is refused.
    pub(crate) async fn edit_address(
        &self,
        id: Uuid,
        patch: &AddressPatch,
        now: DateTime<Utc>,
    ) -> Result<AddressRow> {
        let mut tx = self.pool().begin().await?;
        let current = sqlx::query_as::<_, AddressRow>(&format!(
            "SELECT {ADDRESS} FROM addresses WHERE id = $1 FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound)?;
        if current.archived_at.is_some() {
            return Err(Error::Conflict(
                "cannot edit the address: it is archived".into(),
            ));
        }
        let fields = patch.fields.clone().unwrap_or_else(|| current.fields());
        let moved = fields != current.fields();
        let key = fields.key();
        if moved
            && let Some(existing) =
                duplicate_in(&mut tx, &current.company_id, &key, Some(id)).await?
        {
            return Err(duplicate(existing));
        }
        let status = match (patch.validation_status, moved) {
            (Some(s), _) => s.as_str().to_string(),
            (None, true) => ValidationStatus::Unvalidated.as_str().to_string(),
            (None, false) => current.validation_status.clone(),
        };
        let label = match &patch.label {
            Some(l) => l.clone(),
            None => current.label.clone(),
        };
        let row = sqlx::query_as::<_, AddressRow>(&format!(
            "UPDATE addresses SET label = $2, line1 = $3, line2 = $4, city = $5, region = $6,
                 postal_code = $7, country = $8, dedup_key = $9, validation_status = $10, updated_at = $11
             WHERE id = $1 RETURNING {ADDRESS}"
        ))
        .bind(id)
        .bind(label)
        .bind(&fields.line1)
        .bind(&fields.line2)
        .bind(&fields.city)
        .bind(&fields.region)
        .bind(&fields.postal_code)
        .bind(&fields.country)
        .bind(&key)
        .bind(status)
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let row = match row {
            Err(e) if unique_violation(&e, "addresses_dedup") => {
                return Err(Error::Conflict(
                    "the company's address book already has this address".into(),
                ));
            }
            other => other?,
        };
        tx.commit().await?;
        Ok(row)
    }

    /// Archives an address: it leaves the book and stops being a default. Shipments and
    /// orders that used it keep their snapshots.
    pub(crate) async fn archive_address(&self, id: Uuid, now: DateTime<Utc>) -> Result<AddressRow> {
        let mut tx = self.pool().begin().await?;
        let company: String = sqlx::query_scalar("SELECT company_id FROM addresses WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound)?;
        // Company first, then the address: the order update_company locks them in.
        sqlx::query("SELECT 1 FROM companies WHERE id = $1 FOR UPDATE")
            .bind(&company)
            .execute(&mut *tx)
            .await?;
        let archived: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT archived_at FROM addresses WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if archived.is_some() {
            return Err(Error::Conflict("the address is already archived".into()));
        }
        sqlx::query(
            "UPDATE companies SET
                 default_shipping_address_id = NULLIF(default_shipping_address_id, $2),
                 default_billing_address_id = NULLIF(default_billing_address_id, $2),
                 updated_at = $3
             WHERE id = $1",
        )
        .bind(&company)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query_as::<_, AddressRow>(&format!(
            "UPDATE addresses SET archived_at = $2, updated_at = $2 WHERE id = $1 RETURNING {ADDRESS}"
        ))
        .bind(id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// A company's contacts with their roles, by name; archived ones only when asked.
    pub(crate) async fn contacts_of(
        &self,
        company_id: &str,
        archived: bool,
    ) -> Result<Vec<ContactView>> {
        let mut conn = self.pool().acquire().await?;
        let rows = sqlx::query_as::<_, ContactRow>(&format!(
            "SELECT {CONTACT} FROM contacts WHERE company_id = $1 AND ($2 OR active)
             ORDER BY lower(last_name), lower(first_name), id"
        ))
        .bind(company_id)
        .bind(archived)
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for contact in rows {
            let roles = roles_in(&mut conn, contact.id).await?;
            out.push(ContactView { contact, roles });
        }
        Ok(out)
    }

    /// The company's active primary contact for `role`.
    pub(crate) async fn primary_contact(
        &self,
        company_id: &str,
        role: ContactRole,
    ) -> Result<Option<Uuid>> {
        Ok(sqlx::query_scalar(
            "SELECT r.contact_id FROM company_contact_roles r JOIN contacts c ON c.id = r.contact_id
             WHERE r.company_id = $1 AND r.role = $2 AND r.is_primary AND c.active",
        )
        .bind(company_id)
        .bind(role.as_str())
        .fetch_optional(self.pool())
        .await?)
    }

    pub(crate) async fn contact_view(&self, id: Uuid) -> Result<Option<ContactView>> {
        let mut conn = self.pool().acquire().await?;
        let Some(contact) = contact_in(&mut conn, id).await? else {
            return Ok(None);
        };
        let roles = roles_in(&mut conn, id).await?;
        Ok(Some(ContactView { contact, roles }))
    }

    /// Adds a contact with its first roles, in one transaction.
    pub(crate) async fn create_contact(
        &self,
        new: &NewContact,
        roles: &[ContactRole],
        now: DateTime<Utc>,
    ) -> Result<ContactView> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("SELECT 1 FROM companies WHERE id = $1 FOR UPDATE")
            .bind(&new.company_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound)?;
        let row = sqlx::query_as::<_, ContactRow>(&format!(
            "INSERT INTO contacts (id, company_id, first_name, last_name, email, phone, notes,
                 active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, true, $8, $8) RETURNING {CONTACT}"
        ))
        .bind(Uuid::now_v7())
        .bind(&new.company_id)
        .bind(&new.first_name)
        .bind(&new.last_name)
        .bind(&new.email)
        .bind(&new.phone)
        .bind(&new.notes)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for role in roles {
            assign_role_in(&mut tx, &new.company_id, row.id, *role, false, now).await?;
        }
        let roles = roles_in(&mut tx, row.id).await?;
        tx.commit().await?;
        Ok(ContactView {
            contact: row,
            roles,
        })
    }

    pub(crate) async fn update_contact(
        &self,
        id: Uuid,
        patch: &ContactPatch,
        now: DateTime<Utc>,
    ) -> Result<ContactRow> {
        let row = sqlx::query_as::<_, ContactRow>(&format!(
            "UPDATE contacts SET first_name = coalesce($2, first_name),
                 last_name = coalesce($3, last_name), email = coalesce($4, email),
                 phone = CASE WHEN $5 THEN $6 ELSE phone END,
                 notes = CASE WHEN $7 THEN $8 ELSE notes END, updated_at = $9
             WHERE id = $1 RETURNING {CONTACT}"
        ))
        .bind(id)
        .bind(&patch.first_name)
        .bind(&patch.last_name)
        .bind(&patch.email)
        .bind(patch.phone.is_some())
        .bind(patch.phone.clone().flatten())
        .bind(patch.notes.is_some())
        .bind(patch.notes.clone().flatten())
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.ok_or(Error::NotFound)
    }

    /// Archives a contact: it keeps its roles for the record but is primary for none, and
    /// orders can no longer name it.
    pub(crate) async fn archive_contact(&self, id: Uuid, now: DateTime<Utc>) -> Result<ContactRow> {
        let mut tx = self.pool().begin().await?;
        let company = lock_company_of_contact(&mut tx, id).await?;
        let active: bool =
            sqlx::query_scalar("SELECT active FROM contacts WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if !active {
            return Err(Error::Conflict("the contact is already archived".into()));
        }
        sqlx::query(
            "UPDATE company_contact_roles SET is_primary = false WHERE company_id = $1 AND contact_id = $2",
        )
        .bind(&company)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query_as::<_, ContactRow>(&format!(
            "UPDATE contacts SET active = false, updated_at = $2 WHERE id = $1 RETURNING {CONTACT}"
        ))
        .bind(id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Gives a contact a role (or makes it the role's primary), under the company's row lock
    /// so two assignments of one role decide one after the other.
    pub(crate) async fn assign_contact_role(
        &self,
        contact_id: Uuid,
        role: ContactRole,
        primary: bool,
        now: DateTime<Utc>,
    ) -> Result<ContactView> {
        let mut tx = self.pool().begin().await?;
        let company = lock_company_of_contact(&mut tx, contact_id).await?;
        assign_role_in(&mut tx, &company, contact_id, role, primary, now).await?;
        let contact = contact_in(&mut tx, contact_id)
            .await?
            .ok_or(Error::NotFound)?;
        let roles = roles_in(&mut tx, contact_id).await?;
        tx.commit().await?;
        Ok(ContactView { contact, roles })
    }
}

/// [`assign_role`] on the rows: the company's row lock is held by the caller.
async fn assign_role_in(
    conn: &mut PgConnection,
    company: &str,
    contact_id: Uuid,
    role: ContactRole,
    primary: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let active: bool = sqlx::query_scalar("SELECT active FROM contacts WHERE id = $1")
        .bind(contact_id)
        .fetch_one(&mut *conn)
        .await?;
    let holders: Vec<(Uuid, bool)> = sqlx::query_as(
        "SELECT contact_id, is_primary FROM company_contact_roles
         WHERE company_id = $1 AND role = $2",
    )
    .bind(company)
    .bind(role.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let holders: Vec<Holder> = holders
        .into_iter()
        .map(|(contact, primary)| Holder { contact, primary })
        .collect();
    let plan = assign_role(&holders, contact_id, role, primary, active).map_err(|e| match e {
        RoleError::Duplicate(_) => Error::Conflict(e.to_string()),
        RoleError::Archived => Error::Conflict(e.to_string()),
    })?;
    if let Some(old) = plan.demote {
        sqlx::query(
            "UPDATE company_contact_roles SET is_primary = false
             WHERE company_id = $1 AND contact_id = $2 AND role = $3",
        )
        .bind(company)
        .bind(old)
        .bind(role.as_str())
        .execute(&mut *conn)
        .await?;
    }
    if plan.insert {
        sqlx::query(
            "INSERT INTO company_contact_roles (id, company_id, contact_id, role, is_primary, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(company)
        .bind(contact_id)
        .bind(role.as_str())
        .bind(plan.primary)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    } else {
        sqlx::query(
            "UPDATE company_contact_roles SET is_primary = true
             WHERE company_id = $1 AND contact_id = $2 AND role = $3",
        )
        .bind(company)
        .bind(contact_id)
        .bind(role.as_str())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Locks the company a contact belongs to; returns its id.
async fn lock_company_of_contact(conn: &mut PgConnection, contact_id: Uuid) -> Result<String> {
    let company: String = sqlx::query_scalar("SELECT company_id FROM contacts WHERE id = $1")
        .bind(contact_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)?;
    sqlx::query("SELECT 1 FROM companies WHERE id = $1 FOR UPDATE")
        .bind(&company)
        .execute(&mut *conn)
        .await?;
    Ok(company)
}

async fn roles_in(conn: &mut PgConnection, contact_id: Uuid) -> Result<Vec<RoleRow>, sqlx::Error> {
    sqlx::query_as::<_, RoleRow>(
        "SELECT role, is_primary FROM company_contact_roles WHERE contact_id = $1
         ORDER BY array_position(ARRAY['billing','shipping','operations','technical','executive'], role)",
    )
    .bind(contact_id)
    .fetch_all(conn)
    .await
}
