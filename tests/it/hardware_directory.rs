//! The company directory over HTTP: companies, contacts with roles, the address book with its
//! defaults and duplicates, who may use it, orders naming its entries (snapshotted when
//! checkout is sent), and a shipment's ad-hoc destination saved to the book.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::hardware::*;
use crate::support::orders::Harness;
use crate::support::{OTHER_SERVICE_TOKEN, SERVICE_TOKEN, VIEWER_TOKEN, bearer};

async fn operator(
    h: &Harness,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    as_token(h, crate::support::OPERATOR_TOKEN, method, path, body).await
}

async fn as_token(
    h: &Harness,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut req = h
        .http
        .request(method.parse().unwrap(), format!("{}{path}", h.base))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn companies_are_recorded_found_and_changed_and_never_made_by_an_order() {
    let h = hardware().await;
    let body = json!({"id": "GLOBEX", "name": "Globex Corp", "company_mirror_id": "legacy-77", "payment_terms_days": 30});
    let (s, c) = operator(&h, "POST", "/v1/companies", Some(&body)).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["company_mirror_id"], "legacy-77");
    assert_eq!(c["payment_terms_days"], 30);
    assert!(c["created_at"].is_string() && c["updated_at"].is_string());
    // The id is taken now; a missing legacy id and bad terms are refused and change nothing.
    let (s, e) = operator(&h, "POST", "/v1/companies", Some(&body)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["code"], "company_exists");
    for (bad, message) in [
        (
            json!({"name": "No Legacy"}),
            "company_mirror_id is required",
        ),
        (
            json!({"name": "X", "company_mirror_id": "l", "payment_terms_days": 400}),
            "payment_terms_days 400",
        ),
        (
            json!({"id": "a/b", "name": "X", "company_mirror_id": "l"}),
            "id \"a/b\"",
        ),
    ] {
        let (s, e) = operator(&h, "POST", "/v1/companies", Some(&bad)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(message),
            "{e}"
        );
    }
    assert_eq!(
        h.count("SELECT count(*) FROM companies").await,
        2,
        "ACME and GLOBEX"
    );

    // Search by part of the name, the id or the legacy id, in any case; wildcards are literal.
    for (q, want) in [
        ("glob", vec!["GLOBEX"]),
        ("LEGACY-77", vec!["GLOBEX"]),
        ("acme", vec!["ACME"]),
        ("%", vec![]),
    ] {
        let (s, found) = operator(
            &h,
            "GET",
            &format!("/v1/companies?search={}", urlencode(q)),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{found}");
        let ids: Vec<&str> = found["companies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, want, "search {q:?}");
    }
    let (_, all) = as_token(&h, VIEWER_TOKEN, "GET", "/v1/companies", None).await;
    assert_eq!(all["companies"].as_array().unwrap().len(), 2, "{all}");

    let (s, c) = operator(
        &h,
        "PATCH",
        "/v1/companies/GLOBEX",
        Some(&json!({"name": "Globex Corporation", "payment_terms_days": 45})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["name"], "Globex Corporation");
    assert_eq!(c["payment_terms_days"], 45);
    assert_eq!(c["company_mirror_id"], "legacy-77", "untouched");
    let (s, e) = operator(&h, "PATCH", "/v1/companies/GLOBEX", Some(&json!({}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (s, _) = operator(
        &h,
        "PATCH",
        "/v1/companies/NOPE",
        Some(&json!({"name": "x"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = operator(&h, "GET", "/v1/companies/NOPE", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // An order for a company the directory does not hold is refused; none is made.
    let mut order = order_body(&[("SENSOR-T1", 1, "sensor_vendor_first_time")]);
    order["company_id"] = json!("INITECH");
    let (s, e) = h.post_json("/v1/orders", &[], &order).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "unknown_company");
    assert_eq!(
        h.count("SELECT count(*) FROM companies WHERE id = 'INITECH'")
            .await,
        0
    );
    // GLOBEX has no contact or addresses yet: its orders say what is missing.
    order["company_id"] = json!("GLOBEX");
    let (s, e) = h.post_json("/v1/orders", &[], &order).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "no_billing_contact");
    assert_eq!(h.count("SELECT count(*) FROM hardware_orders").await, 0);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn contacts_hold_each_role_once_with_one_primary_per_role() {
    let h = hardware().await;
    let contacts = "/v1/companies/ACME/contacts";
    let (s, grace) = operator(&h, "POST", contacts, Some(&json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@acme.test", "phone": "+1 555 0101", "roles": ["shipping", "billing"]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{grace}");
    let grace_id = id(&grace, "id");
    // Shipping had no holder: Grace is its primary. Billing is Ada's: Grace only holds it.
    let roles = |c: &Value| -> Vec<(String, bool)> {
        c["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["role"].as_str().unwrap().to_string(),
                    r["is_primary"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        roles(&grace),
        [
            ("billing".to_string(), false),
            ("shipping".to_string(), true)
        ]
    );
    let roles_path = format!("/v1/contacts/{grace_id}/roles");
    // The same role twice is a conflict; an unknown role is 422.
    let (s, e) = operator(&h, "POST", &roles_path, Some(&json!({"role": "shipping"}))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["code"], "role_conflict");
    assert_eq!(
        e["error"]["message"],
        "the contact already has the shipping role"
    );
    let (s, e) = operator(&h, "POST", &roles_path, Some(&json!({"role": "ceo"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    // Promoting Grace to primary billing contact takes the flag from Ada.
    let (s, grace) = operator(
        &h,
        "POST",
        &roles_path,
        Some(&json!({"role": "billing", "primary": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{grace}");
    assert_eq!(
        roles(&grace),
        [
            ("billing".to_string(), true),
            ("shipping".to_string(), true)
        ]
    );
    let primaries = h.count("SELECT count(*) FROM company_contact_roles WHERE company_id = 'ACME' AND role = 'billing' AND is_primary").await;
    assert_eq!(primaries, 1);
    let (s, listed) = as_token(&h, VIEWER_TOKEN, "GET", contacts, None).await;
    assert_eq!(s, StatusCode::OK, "{listed}");
    let names: Vec<&str> = listed["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["last_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Hopper", "Lovelace"]);
    assert_eq!(listed["contacts"][0]["email"], "g***@acme.test", "masked");

    // Edits: a field cleared, a bad e-mail refused.
    let path = format!("/v1/contacts/{grace_id}");
    let (s, edited) = operator(
        &h,
        "PATCH",
        &path,
        Some(&json!({"phone": null, "notes": "ships Mondays"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    assert!(edited["phone"].is_null());
    assert_eq!(edited["notes"], "ships Mondays");
    let (s, e) = operator(&h, "PATCH", &path, Some(&json!({"email": "nope"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "invalid_email");

    // Archived: primary for nothing, gone from the list, no new role, no orders naming it.
    let (s, archived) = operator(
        &h,
        "POST",
        &format!("/v1/contacts/{grace_id}/archive"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{archived}");
    assert_eq!(archived["active"], false);
    assert!(
        archived["roles"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["is_primary"] == false),
        "{archived}"
    );
    let (s, e) = operator(
        &h,
        "POST",
        &format!("/v1/contacts/{grace_id}/archive"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let (s, e) = operator(&h, "POST", &roles_path, Some(&json!({"role": "technical"}))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let (_, listed) = operator(&h, "GET", contacts, None).await;
    assert_eq!(listed["contacts"].as_array().unwrap().len(), 1);
    let (_, all) = operator(&h, "GET", &format!("{contacts}?archived=true"), None).await;
    assert_eq!(all["contacts"].as_array().unwrap().len(), 2);
    let mut order = order_body(&[("SENSOR-T1", 1, "sensor_vendor_first_time")]);
    order["billing_contact_id"] = json!(grace_id);
    let (s, e) = h.post_json("/v1/orders", &[], &order).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "unknown_contact");
    // With no primary billing contact left, an order must name one.
    order.as_object_mut().unwrap().remove("billing_contact_id");
    let (s, e) = h.post_json("/v1/orders", &[], &order).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "no_billing_contact");
}

#[tokio::test]
async fn the_address_book_refuses_duplicates_and_keeps_its_defaults() {
    let h = hardware().await;
    let book = "/v1/companies/ACME/addresses";
    // The seeded Toronto address again, spelt differently: a duplicate.
    let same = json!({"line1": "1 king st. w", "city": "TORONTO", "region": "on", "postal_code": "m5h1a1", "country": "ca"});
    let (s, e) = operator(&h, "POST", book, Some(&same)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["code"], "duplicate_address");
    let warehouse = json!({"label": "Warehouse", "line1": "45 Industrial Rd", "city": "Mississauga", "region": "ON", "postal_code": "L5T 2H6", "country": "ca", "validation_status": "valid"});
    let (s, w) = operator(&h, "POST", book, Some(&warehouse)).await;
    assert_eq!(s, StatusCode::CREATED, "{w}");
    assert_eq!(w["country"], "CA");
    assert_eq!(w["validation_status"], "valid");
    assert!(w["last_used_at"].is_null());
    let w_id = id(&w, "id");
    let (s, e) = operator(
        &h,
        "POST",
        book,
        Some(&json!({"line1": "1 Main", "country": "CA"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["message"], "address.city is required");
    let (s, e) = operator(&h, "POST", book, Some(&json!({"line1": "9 Elm", "city": "X", "postal_code": "1", "country": "CA", "validation_status": "maybe"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");

    // Editing the parts makes it unvalidated again; editing it into a duplicate is refused.
    let path = format!("/v1/addresses/{w_id}");
    let (s, edited) = operator(
        &h,
        "PATCH",
        &path,
        Some(&json!({"line1": "47 Industrial Rd"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    assert_eq!(edited["line1"], "47 Industrial Rd");
    assert_eq!(edited["city"], "Mississauga", "untouched parts stay");
    assert_eq!(edited["validation_status"], "unvalidated");
    let (s, e) = operator(
        &h,
        "PATCH",
        &path,
        Some(&json!({"line1": "1 King St W", "city": "Toronto", "postal_code": "M5H 1A1"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["code"], "duplicate_address");
    let (s, edited) = operator(
        &h,
        "PATCH",
        &path,
        Some(&json!({"validation_status": "overridden", "label": null})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    assert_eq!(edited["validation_status"], "overridden");
    assert!(edited["label"].is_null());

    // Defaults: only the company's own live addresses.
    let (s, c) = operator(
        &h,
        "PATCH",
        "/v1/companies/ACME",
        Some(&json!({"default_shipping_address_id": w_id})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["default_shipping_address"]["id"], w_id.to_string());
    assert_ne!(
        c["default_billing_address_id"],
        w_id.to_string(),
        "billing keeps its default"
    );
    let (s, e) = operator(
        &h,
        "PATCH",
        "/v1/companies/ACME",
        Some(&json!({"default_billing_address_id": Uuid::nil()})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "unknown_address");

    // Archiving the default shipping address clears it; the address may then be added again.
    let (s, a) = operator(&h, "POST", &format!("/v1/addresses/{w_id}/archive"), None).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert!(a["archived_at"].is_string());
    let (_, c) = operator(&h, "GET", "/v1/companies/ACME", None).await;
    assert!(c["default_shipping_address_id"].is_null(), "{c}");
    let (s, e) = operator(&h, "PATCH", &path, Some(&json!({"label": "x"}))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let (_, listed) = operator(&h, "GET", book, None).await;
    assert_eq!(listed["addresses"].as_array().unwrap().len(), 1);
    let (s, again) = operator(&h, "POST", book, Some(&json!({"line1": "47 Industrial Rd", "city": "Mississauga", "postal_code": "L5T 2H6", "country": "CA", "region": "ON"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    // With no default shipping address, an order must say where it ships.
    let order = order_body(&[("SENSOR-T1", 1, "sensor_vendor_first_time")]);
    let (s, e) = h.post_json("/v1/orders", &[], &order).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "no_shipping_address");
}

#[tokio::test]
async fn only_operators_keep_the_directory_and_services_cannot_browse_it() {
    let h = hardware().await;
    let acme = "/v1/companies/ACME";
    for token in [SERVICE_TOKEN, OTHER_SERVICE_TOKEN] {
        for (method, path) in [
            ("GET", "/v1/companies"),
            ("GET", acme),
            ("GET", "/v1/companies/ACME/contacts"),
            ("GET", "/v1/companies/ACME/addresses"),
            ("POST", "/v1/companies"),
            ("PATCH", acme),
            ("POST", "/v1/companies/ACME/contacts"),
        ] {
            let (s, b) = as_token(&h, token, method, path, Some(&json!({"name": "x"}))).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} as {token}: {b}");
        }
    }
    // Viewers read and change nothing.
    let (s, _) = as_token(&h, VIEWER_TOKEN, "GET", acme, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = as_token(&h, VIEWER_TOKEN, "PATCH", acme, Some(&json!({"name": "x"}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, c) = operator(&h, "GET", acme, None).await;
    assert_eq!(c["name"], "Acme Sensors Ltd");
    let (s, _) = as_token(&h, "not-a-token", "GET", acme, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_order_names_its_contact_and_addresses_and_checkout_snapshots_them() {
    let h = hardware().await;
    let acme = seeded(&h).await;
    let (s, finance) = operator(&h, "POST", "/v1/companies/ACME/contacts", Some(&json!({"first_name": "Charles", "last_name": "Babbage", "email": "charles@acme.test", "roles": ["billing"]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{finance}");
    let (s, billing) = operator(&h, "POST", "/v1/companies/ACME/addresses", Some(&json!({"label": "Accounts", "line1": "9 Bay St", "city": "Toronto", "postal_code": "M5J 2N8", "country": "CA"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{billing}");
    let (s, dock) = operator(&h, "POST", "/v1/companies/ACME/addresses", Some(&json!({"label": "Dock", "line1": "3 Harbour St", "city": "Toronto", "postal_code": "M5J 2L1", "country": "CA"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{dock}");
    let mut body = order_body(&[("SENSOR-T1", 1, "sensor_vendor_first_time")]);
    body["billing_contact_id"] = finance["id"].clone();
    body["billing_address_id"] = billing["id"].clone();
    body["ship_to"] = json!({"address_id": dock["id"]});
    let draft = create(&h, &body).await;
    assert_eq!(draft["billing_contact_id"], finance["id"]);
    assert_eq!(draft["billing_address_id"], billing["id"]);
    assert!(draft["billing_contact"].is_null() && draft["billing_address"].is_null());
    assert!(
        draft.get("shipping_address").is_none(),
        "orders keep no shipping address"
    );
    let order = id(&draft, "id");

    // The contact's e-mail changes before checkout: the snapshot takes it as it is then.
    let (s, _) = operator(
        &h,
        "PATCH",
        &format!("/v1/contacts/{}", finance["id"].as_str().unwrap()),
        Some(&json!({"email": "ap@acme.test"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let saga = send_checkout(&h, order).await;
    h.t.run().await;
    let v = view(&h, order).await;
    assert_eq!(v["billing_contact"]["name"], "Charles Babbage");
    assert_eq!(
        v["billing_contact"]["email"], "a***@acme.test",
        "masked snapshot"
    );
    let stored: String =
        sqlx::query_scalar("SELECT billing_contact->>'email' FROM hardware_orders WHERE id = $1")
            .bind(order)
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert_eq!(stored, "ap@acme.test");
    assert_eq!(v["billing_address"]["line1"], "9 Bay St");
    assert_eq!(v["billing_address"]["address_id"], billing["id"]);
    let billed_at: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_used_at FROM addresses WHERE id = $1")
            .bind(id(&billing, "id"))
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert!(
        billed_at.is_some(),
        "checkout marks the billing address used"
    );
    // Later edits to the directory leave the snapshot alone.
    let (s, _) = operator(
        &h,
        "PATCH",
        &format!("/v1/addresses/{}", billing["id"].as_str().unwrap()),
        Some(&json!({"line1": "11 Bay St"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    pay(&h, order, saga).await;
    assert_eq!(
        view(&h, order).await["billing_address"]["line1"],
        "9 Bay St"
    );

    // The first shipment goes to the chosen book entry, with its snapshot.
    let first = &shipments(&h, order).await[0];
    assert_eq!(first["address_id"], dock["id"]);
    assert_eq!(first["address_snapshot"]["line1"], "3 Harbour St");
    let shipped_at: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_used_at FROM addresses WHERE id = $1")
            .bind(id(&dock, "id"))
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert!(shipped_at.is_some(), "the shipment marks its address used");
    assert_ne!(first["address_id"], json!(acme.address), "not the default");

    // Another company's address or contact cannot be named.
    let (s, _) = operator(
        &h,
        "POST",
        "/v1/companies",
        Some(&json!({"id": "GLOBEX", "name": "Globex", "company_mirror_id": "g"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let mut theirs = order_body(&[("SENSOR-T1", 1, "sensor_vendor_first_time")]);
    theirs["company_id"] = json!("GLOBEX");
    theirs["billing_contact_id"] = json!(acme.contact);
    let (s, e) = h.post_json("/v1/orders", &[], &theirs).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "unknown_contact");
}

/// The seeded directory's ids (the harness recorded ACME).
async fn seeded(h: &Harness) -> Directory {
    let contact: Uuid = sqlx::query_scalar("SELECT id FROM contacts WHERE company_id = 'ACME'")
        .fetch_one(h.pool())
        .await
        .unwrap();
    let address: Uuid = sqlx::query_scalar("SELECT id FROM addresses WHERE company_id = 'ACME'")
        .fetch_one(h.pool())
        .await
        .unwrap();
    Directory { contact, address }
}

#[tokio::test]
async fn a_shipment_to_an_ad_hoc_address_is_saved_to_the_book() {
    let h = hardware().await;
    let site = json!({"line1": "500 Site Rd", "city": "Hamilton", "region": "ON", "postal_code": "L8P 4R5", "country": "CA"});
    let mut body = order_body(&[("SENSOR-T1", 1, "sensor_vendor_first_time")]);
    body["ship_to"] = json!({"address": site});
    let order = id(&create(&h, &body).await, "id");
    let saga = send_checkout(&h, order).await;
    h.t.run().await;
    pay(&h, order, saga).await;
    let shipment = shipments(&h, order).await[0].clone();
    assert!(shipment["address_id"].is_null(), "ad hoc: {shipment}");
    assert_eq!(shipment["address_snapshot"]["city"], "Hamilton");
    let (_, book) = operator(&h, "GET", "/v1/companies/ACME/addresses", None).await;
    assert_eq!(
        book["addresses"].as_array().unwrap().len(),
        1,
        "not in the book yet"
    );

    let sid = shipment["id"].as_str().unwrap();
    let save = format!("/v1/shipments/{sid}/save-address");
    // Only operators save; services get 403.
    let (s, _) = as_token(&h, SERVICE_TOKEN, "POST", &save, Some(&json!({}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, saved) = operator(
        &h,
        "POST",
        &save,
        Some(&json!({"label": "Hamilton site", "default_shipping": true})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["address"]["label"], "Hamilton site");
    assert_eq!(saved["address"]["city"], "Hamilton");
    assert!(saved["address"]["last_used_at"].is_string());
    assert_eq!(saved["shipment"]["address_id"], saved["address"]["id"]);
    let (_, c) = operator(&h, "GET", "/v1/companies/ACME", None).await;
    assert_eq!(c["default_shipping_address_id"], saved["address"]["id"]);
    // Saved once: a second save is a conflict, and the book holds it once.
    let (s, e) = operator(&h, "POST", &save, Some(&json!({}))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let (_, book) = operator(&h, "GET", "/v1/companies/ACME/addresses", None).await;
    assert_eq!(book["addresses"].as_array().unwrap().len(), 2);
    let (s, _) = operator(
        &h,
        "POST",
        &format!("/v1/shipments/{}/save-address", Uuid::nil()),
        Some(&json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The view of the shipment shows where it goes.
    let (s, v) = h
        .get(
            &format!("/v1/shipments/{sid}"),
            &[("authorization", &bearer(VIEWER_TOKEN))],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["address_id"], saved["address"]["id"]);
}
