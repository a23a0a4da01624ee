//! An invoice as a PDF document, rendered on demand with `pdf-writer`: the number, the
//! company, dates, every line (items, adjustments, credit notes), total, paid and balance.
//! A4 pages in the built-in Helvetica, so no font file is needed; long invoices run onto
//! further pages.

use chrono::{DateTime, Utc};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

use crate::families::hardware::store::{CompanyRow, InvoiceLineRow, InvoiceRow};

/// A4 in points.
const WIDTH: f32 = 595.0;
const HEIGHT: f32 = 842.0;
const MARGIN: f32 = 56.0;
const LEADING: f32 = 16.0;
/// Lines of text on one page.
const ROWS: usize = ((HEIGHT - 2.0 * MARGIN) / LEADING) as usize;

/// What goes into the document.
pub(crate) struct InvoiceDocument<'a> {
    pub invoice: &'a InvoiceRow,
    pub company: &'a CompanyRow,
    pub lines: &'a [InvoiceLineRow],
}

/// Text the standard fonts can show: printable ASCII kept, anything else a `?` (the built-in
/// fonts' encoding has no glyphs for most of Unicode, and the text is only for reading).
fn ascii(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| {
            if (' '..='~').contains(&c) {
                c as u8
            } else {
                b'?'
            }
        })
        .collect()
}

/// `-12.50 USD`: minor units as major, exactly (no float).
fn money(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:02} {}",
        abs / 100,
        abs % 100,
        currency.to_uppercase()
    )
}

fn date(at: Option<DateTime<Utc>>) -> String {
    at.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "-".into())
}

impl InvoiceDocument<'_> {
    /// The document's text, one entry per printed row: bold or not, and the text (empty for
    /// a blank row).
    fn rows(&self) -> Vec<(bool, String)> {
        let inv = self.invoice;
        let cur = &inv.currency;
        let mut rows = vec![
            (
                true,
                format!("Invoice {}", inv.number.as_deref().unwrap_or("(draft)")),
            ),
            (false, String::new()),
            (
                false,
                format!("Billed to: {} ({})", self.company.name, self.company.id),
            ),
            (false, format!("Status: {}", inv.status)),
            (
                false,
                format!(
                    "Issued: {}   Due: {}",
                    date(inv.issued_at),
                    date(inv.due_at)
                ),
            ),
            (false, String::new()),
            (true, "Lines".into()),
        ];
        for l in self.lines {
            let what = match l.kind.as_str() {
                "adjustment" => "Adjustment: ",
                "credit" => "Credit note: ",
                _ => "",
            };
            rows.push((
                false,
                format!(
                    "{what}{}  x{}  {}",
                    l.description,
                    l.quantity,
                    money(l.amount_minor, cur)
                ),
            ));
        }
        rows.push((false, String::new()));
        rows.push((true, format!("Total: {}", money(inv.total_minor, cur))));
        rows.push((false, format!("Paid: {}", money(inv.allocated_minor, cur))));
        rows.push((
            true,
            format!(
                "Balance due: {}",
                money(inv.total_minor - inv.allocated_minor, cur)
            ),
        ));
        if let Some(notes) = &inv.notes {
            rows.push((false, String::new()));
            rows.push((false, format!("Notes: {notes}")));
        }
        rows
    }

    /// The PDF bytes.
    pub(crate) fn render(&self) -> Vec<u8> {
        let rows = self.rows();
        let pages: Vec<&[(bool, String)]> = rows.chunks(ROWS.max(1)).collect();
        let mut pdf = Pdf::new();
        let catalog = Ref::new(1);
        let tree = Ref::new(2);
        let regular = Ref::new(3);
        let bold = Ref::new(4);
        // Each page takes two ids: the page and its content stream.
        let page_ids: Vec<(Ref, Ref)> = (0..pages.len())
            .map(|i| {
                let base = 5 + 2 * i32::try_from(i).unwrap_or(0);
                (Ref::new(base), Ref::new(base + 1))
            })
            .collect();
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree)
            .kids(page_ids.iter().map(|(page, _)| *page))
            .count(i32::try_from(pages.len()).unwrap_or(i32::MAX));
        let (f1, f2) = (Name(b"F1"), Name(b"F2"));
        pdf.type1_font(regular)
            .base_font(Name(b"Helvetica"))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
        pdf.type1_font(bold)
            .base_font(Name(b"Helvetica-Bold"))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
        for (rows, (page_id, content_id)) in pages.iter().zip(&page_ids) {
            let mut page = pdf.page(*page_id);
            page.media_box(Rect::new(0.0, 0.0, WIDTH, HEIGHT));
            page.parent(tree);
            page.contents(*content_id);
            page.resources().fonts().pair(f1, regular).pair(f2, bold);
            page.finish();
            let mut content = Content::new();
            let mut y = HEIGHT - MARGIN;
            for (strong, text) in rows.iter() {
                if !text.is_empty() {
                    let bytes = ascii(text);
                    content
                        .begin_text()
                        .set_font(if *strong { f2 } else { f1 }, 11.0)
                        .next_line(MARGIN, y)
                        .show(Str(&bytes))
                        .end_text();
                }
                y -= LEADING;
            }
            let data = content.finish();
            pdf.stream(*content_id, &data);
        }
        pdf.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn line(n: usize, kind: &str, amount: i64) -> InvoiceLineRow {
        InvoiceLineRow {
            id: Uuid::now_v7(),
            kind: kind.into(),
            order_item_id: None,
            description: format!("Line {n} \u{e9}t\u{e9}"),
            quantity: 1,
            unit_amount_minor: amount,
            amount_minor: amount,
            created_at: None,
            created_by: None,
        }
    }

    #[test]
    fn amounts_are_exact_and_signed() {
        assert_eq!(money(32_450, "usd"), "324.50 USD");
        assert_eq!(money(-2_550, "usd"), "-25.50 USD");
        assert_eq!(money(7, "cad"), "0.07 CAD");
        assert_eq!(ascii("Caf\u{e9} \u{2014} ok"), b"Caf? ? ok");
    }

    #[test]
    fn a_long_invoice_runs_onto_more_pages() {
        let now = Utc::now();
        let invoice = InvoiceRow {
            id: Uuid::now_v7(),
            order_id: None,
            company_id: "ACME".into(),
            kind: "manual".into(),
            number: Some("INV-000042".into()),
            status: "issued".into(),
            currency: "usd".into(),
            total_minor: 100 * 100,
            allocated_minor: 0,
            issued_at: Some(now),
            due_at: Some(now),
            overdue_at: None,
            notes: None,
            created_by: None,
            paid_at: None,
            voided_at: None,
            void_reason: None,
        };
        let company = CompanyRow {
            id: "ACME".into(),
            name: "Acme".into(),
            company_mirror_id: "l".into(),
            payment_terms_days: 0,
            default_shipping_address_id: None,
            default_billing_address_id: None,
            created_at: now,
            updated_at: now,
        };
        let lines: Vec<InvoiceLineRow> = (1..=100).map(|n| line(n, "item", 100)).collect();
        let bytes = InvoiceDocument {
            invoice: &invoice,
            company: &company,
            lines: &lines,
        }
        .render();
        let doc = lopdf::Document::load_mem(&bytes).unwrap();
        let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
        assert_eq!(pages.len(), 3, "{} rows at {ROWS} a page", lines.len() + 12);
        let last = doc.extract_text(&pages[2..]).unwrap();
        assert!(last.contains("Line 100 ?t?"), "{last}");
        assert!(last.contains("Total: 100.00 USD"), "{last}");
    }
}
