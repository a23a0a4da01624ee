//! Hardware rows written before the directory and billing migrations move into them: a
//! database migrated to just before them gets orders, a shipment, a company default and an
//! invoice the old way, then the rest of the migrations run.

use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use uuid::Uuid;

use crate::support::fresh_database;

/// The first migration of the directory.
const DIRECTORY: &str = "0050_";

#[tokio::test]
async fn existing_orders_shipments_and_invoices_move_into_the_directory() {
    let url = fresh_database().await;
    let pool = PgPool::connect(&url).await.unwrap();
    // The migrations before the directory, from a copy of their files.
    let earlier = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir("migrations/postgres").unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.as_str() < DIRECTORY {
            std::fs::copy(&path, earlier.path().join(&name)).unwrap();
        }
    }
    Migrator::new(earlier.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();

    let toronto = json!({"line1": "1 King St W", "line2": null, "city": "Toronto", "region": "ON", "postal_code": "M5H 1A1", "country": "CA"});
    // The same place spelt differently, and another one.
    let toronto_again = json!({"line1": "1 king st. w", "city": "TORONTO", "region": "on", "postal_code": "m5h1a1", "country": "CA"});
    let ottawa =
        json!({"line1": "9 Elgin St", "city": "Ottawa", "postal_code": "K1P 5K7", "country": "CA"});
    sqlx::query("INSERT INTO companies (id, name, default_shipping_address, updated_at) VALUES ('ACME', 'Acme', $1, now())")
        .bind(&ottawa).execute(&pool).await.unwrap();
    let (shipped, waiting) = (Uuid::now_v7(), Uuid::now_v7());
    for (id, code, billing, shipping, contact) in [
        (
            shipped,
            "HW-OLD-1",
            &toronto,
            &ottawa,
            json!({"name": "Ada Lovelace", "email": "ada@acme.test", "phone": "+1 555 0100"}),
        ),
        (
            waiting,
            "HW-OLD-2",
            &toronto_again,
            &toronto,
            json!({"name": "Ada Lovelace", "email": "ADA@acme.test"}),
        ),
    ] {
        sqlx::query(
            "INSERT INTO hardware_orders (id, order_code, company_id, billing_contact, billing_address,
                 shipping_address, currency, courier_code, payment_status, total_minor, created_by,
                 created_at, updated_at)
             VALUES ($1, $2, 'ACME', $3, $4, $5, 'usd', 'dhl', 'paid', 1000, 'shop', now(), now())",
        )
        .bind(id).bind(code).bind(&contact).bind(billing).bind(shipping)
        .execute(&pool).await.unwrap();
    }
    let fulfillment = Uuid::now_v7();
    sqlx::query("INSERT INTO fulfillment_orders (id, order_id, status, created_at, updated_at) VALUES ($1, $2, 'in_transit', now(), now())")
        .bind(fulfillment).bind(shipped).execute(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO shipments (id, fulfillment_id, seq, status, address_snapshot, courier_code, created_by,
             created_at, updated_at)
         VALUES ($1, $2, 1, 'in_transit', $3, 'dhl', 'saga', now(), now())",
    )
    .bind(Uuid::now_v7()).bind(fulfillment).bind(&ottawa).execute(&pool).await.unwrap();
    let invoice = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO invoices (id, order_id, number, status, currency, total_minor, allocated_minor,
             issued_at, due_at, created_at, updated_at)
         VALUES ($1, $2, 'INV-000001', 'paid', 'usd', 1000, 1000, now(), now(), now(), now())",
    )
    .bind(invoice).bind(shipped).execute(&pool).await.unwrap();

    // The rest of the migrations, as the server runs them.
    sagaflow::store::MIGRATOR.run(&pool).await.unwrap();

    // Two addresses (the Toronto spellings are one), one contact, a billing role.
    let addresses: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, city FROM addresses WHERE company_id = 'ACME' ORDER BY city")
            .fetch_all(&pool)
            .await
            .unwrap();
    let cities: Vec<&str> = addresses.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(cities, ["Ottawa", "Toronto"]);
    let (ottawa_id, toronto_id) = (addresses[0].0, addresses[1].0);
    let contacts: Vec<(Uuid, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, first_name, last_name, phone FROM contacts WHERE company_id = 'ACME'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        contacts.len(),
        1,
        "one contact per e-mail, whatever its case"
    );
    assert_eq!(
        (contacts[0].1.as_str(), contacts[0].2.as_str()),
        ("Ada", "Lovelace")
    );
    let roles: Vec<(String, bool)> =
        sqlx::query_as("SELECT role, is_primary FROM company_contact_roles WHERE contact_id = $1")
            .bind(contacts[0].0)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(roles, [("billing".to_string(), true)]);

    // Orders point at them; the one still to ship keeps its destination as ship_to.
    let orders: Vec<(Uuid, Uuid, Uuid, Value)> = sqlx::query_as(
        "SELECT id, billing_contact_id, billing_address_id, options FROM hardware_orders ORDER BY order_code",
    )
    .fetch_all(&pool).await.unwrap();
    assert!(
        orders
            .iter()
            .all(|o| o.1 == contacts[0].0 && o.2 == toronto_id)
    );
    assert_eq!(orders[0].3["ship_to"]["address_id"], ottawa_id.to_string());
    assert_eq!(orders[1].3["ship_to"]["address_id"], toronto_id.to_string());
    let shipment_address: Option<Uuid> = sqlx::query_scalar("SELECT address_id FROM shipments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(shipment_address, Some(ottawa_id));
    let default: Option<Uuid> =
        sqlx::query_scalar("SELECT default_shipping_address_id FROM companies WHERE id = 'ACME'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(default, Some(ottawa_id));
    let mirror: String =
        sqlx::query_scalar("SELECT company_mirror_id FROM companies WHERE id = 'ACME'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(mirror, "ACME", "its own id until the real legacy id is set");

    // The invoice is the company's order invoice, and the checkout history is empty (no saga).
    let (company, kind): (String, String) =
        sqlx::query_as("SELECT company_id, kind FROM invoices WHERE id = $1")
            .bind(invoice)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((company.as_str(), kind.as_str()), ("ACME", "order"));
    let lines_kind: i64 =
        sqlx::query_scalar("SELECT count(*) FROM invoice_lines WHERE kind <> 'item'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(lines_kind, 0);
}
