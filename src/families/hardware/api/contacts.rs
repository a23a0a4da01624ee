//! A company's contacts: list, add, edit, archive, and their roles (billing, shipping,
//! operations, technical, executive), each held once per contact with one primary per role.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::addresses::ListQuery;
use super::companies::nullable;
use super::{invalid, no_such, parse_id, required, store_error, text, text_up_to, to_json};
use crate::api::{ApiError, ApiJson, AppState};
use crate::domain::hardware::directory::ContactRole;
use crate::families::hardware::store::{ContactPatch, NewContact};
use crate::store;

/// Longest contact note.
const MAX_NOTES: usize = 2000;

/// A well-formed e-mail address, or 422 naming `field`.
pub(crate) fn check_email(field: &str, value: &Option<String>) -> Result<String, ApiError> {
    let email = required(field, value)?;
    let well_formed = email
        .split_once('@')
        .is_some_and(|(user, domain)| !user.is_empty() && !domain.is_empty());
    if !well_formed || email.contains(char::is_whitespace) {
        return Err(invalid(
            "invalid_email",
            format!("{field} {email:?} is not an email address"),
        ));
    }
    Ok(email)
}

fn check_role(value: &str) -> Result<ContactRole, ApiError> {
    value.trim().parse().map_err(|_| {
        invalid(
            "unknown_role",
            format!("role {value:?}: use billing, shipping, operations, technical or executive"),
        )
    })
}

/// A role change refused by the directory's rules is a 409 saying which.
fn role_error(e: store::Error) -> ApiError {
    match e {
        store::Error::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "role_conflict", m),
        other => store_error("contact")(other),
    }
}

/// The company's contacts with their roles, by name.
#[utoipa::path(get, path = "/v1/companies/{id}/contacts", operation_id = "list_contacts", tag = "hardware",
    params(("id" = String, Path, description = "company id"), ListQuery),
    responses((status = 200, description = "{contacts: [...]}"), (status = 404, description = "no such company")))]
pub(crate) async fn list(
    State(s): State<AppState>,
    Path(company): Path<String>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    s.rt.store
        .company(&company)
        .await?
        .ok_or_else(|| no_such("company"))?;
    let rows =
        s.rt.store
            .contacts_of(&company, q.archived.unwrap_or(false))
            .await?;
    Ok(Json(json!({ "contacts": rows })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContactBody {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    /// Roles to give at once; the first holder of a role becomes its primary.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Adds a contact to the company, with any roles.
#[utoipa::path(post, path = "/v1/companies/{id}/contacts", operation_id = "add_contact", tag = "hardware",
    params(("id" = String, Path, description = "company id")), request_body = NewContactBody,
    responses((status = 201, description = "the contact with its roles"), (status = 404, description = "no such company"),
        (status = 422, description = "a missing name or e-mail, a malformed e-mail, an unknown or repeated role")))]
pub(crate) async fn add(
    State(s): State<AppState>,
    Path(company): Path<String>,
    ApiJson(req): ApiJson<NewContactBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let new = NewContact {
        company_id: company,
        first_name: required("first_name", &req.first_name)?,
        last_name: required("last_name", &req.last_name)?,
        email: check_email("email", &req.email)?,
        phone: text("phone", &req.phone)?,
        notes: text_up_to("notes", &req.notes, MAX_NOTES)?,
    };
    let mut roles: Vec<ContactRole> = Vec::with_capacity(req.roles.len());
    for r in &req.roles {
        let role = check_role(r)?;
        if roles.contains(&role) {
            return Err(invalid(
                "duplicate_role",
                format!("roles: {role} is listed twice"),
            ));
        }
        roles.push(role);
    }
    let now = s.rt.clock.now();
    let row =
        s.rt.store
            .create_contact(&new, &roles, now)
            .await
            .map_err(store_error("company"))?;
    Ok((StatusCode::CREATED, Json(to_json(&row)?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactChange {
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// A new phone number, or null to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
}

/// Edits a contact's name, e-mail, phone or notes.
#[utoipa::path(patch, path = "/v1/contacts/{id}", operation_id = "edit_contact", tag = "hardware",
    params(("id" = String, Path, description = "contact id")), request_body = ContactChange,
    responses((status = 200, description = "the contact"), (status = 404, description = "no such contact"),
        (status = 422, description = "a blank name, a malformed e-mail or nothing to change")))]
pub(crate) async fn edit(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ContactChange>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "contact")?;
    let name = |field: &str, v: &Option<String>| match v {
        None => Ok(None),
        Some(_) => required(field, v).map(Some),
    };
    let patch = ContactPatch {
        first_name: name("first_name", &req.first_name)?,
        last_name: name("last_name", &req.last_name)?,
        email: match &req.email {
            None => None,
            Some(_) => Some(check_email("email", &req.email)?),
        },
        phone: req.phone.as_ref().map(|p| text("phone", p)).transpose()?,
        notes: req
            .notes
            .as_ref()
            .map(|n| text_up_to("notes", n, MAX_NOTES))
            .transpose()?,
    };
    if patch.first_name.is_none()
        && patch.last_name.is_none()
        && patch.email.is_none()
        && patch.phone.is_none()
        && patch.notes.is_none()
    {
        return Err(invalid("nothing_to_change", "the body changes nothing"));
    }
    s.rt.store
        .update_contact(id, &patch, s.rt.clock.now())
        .await
        .map_err(store_error("contact"))?;
    let view =
        s.rt.store
            .contact_view(id)
            .await?
            .ok_or_else(|| no_such("contact"))?;
    Ok(Json(to_json(&view)?))
}

/// Archives a contact: orders can no longer name it and it is primary for no role.
#[utoipa::path(post, path = "/v1/contacts/{id}/archive", operation_id = "archive_contact", tag = "hardware",
    params(("id" = String, Path, description = "contact id")),
    responses((status = 200, description = "the contact, archived"), (status = 404, description = "no such contact"),
        (status = 409, description = "already archived")))]
pub(crate) async fn archive(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "contact")?;
    s.rt.store
        .archive_contact(id, s.rt.clock.now())
        .await
        .map_err(store_error("contact"))?;
    let view =
        s.rt.store
            .contact_view(id)
            .await?
            .ok_or_else(|| no_such("contact"))?;
    Ok(Json(to_json(&view)?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// billing, shipping, operations, technical or executive.
    pub role: String,
    /// Make the contact the company's primary for the role.
    #[serde(default)]
    pub primary: bool,
}

/// Gives a contact a role, or makes it the role's primary (the previous primary stays a
/// holder).
#[utoipa::path(post, path = "/v1/contacts/{id}/roles", operation_id = "assign_contact_role", tag = "hardware",
    params(("id" = String, Path, description = "contact id")), request_body = RoleBody,
    responses((status = 200, description = "the contact with its roles"), (status = 404, description = "no such contact"),
        (status = 409, description = "`role_conflict`: the contact already has the role, or is archived"),
        (status = 422, description = "an unknown role")))]
pub(crate) async fn assign_role(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RoleBody>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "contact")?;
    let role = check_role(&req.role)?;
    let view =
        s.rt.store
            .assign_contact_role(id, role, req.primary, s.rt.clock.now())
            .await
            .map_err(role_error)?;
    Ok(Json(to_json(&view)?))
}
