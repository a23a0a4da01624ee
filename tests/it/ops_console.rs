//! The console's session rules without a browser: login sets a Secure HttpOnly cookie, pages
//! need it, viewers see no action forms, actions need an operator and the session's CSRF
//! token, and each is audited.

use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

pub(crate) async fn send(
    t: &TestApp,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let res = t.app.router().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let text = String::from_utf8_lossy(&body.collect().await.unwrap().to_bytes()).to_string();
    (parts.status, parts.headers, text)
}

pub(crate) async fn login(t: &TestApp, token: &str) -> String {
    let req = Request::post("/ui/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={token}")))
        .unwrap();
    let (s, h, _) = send(t, req).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let cookie = h[header::SET_COOKIE].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/ui"] {
        assert!(cookie.contains(attr), "{attr} missing from {cookie}");
    }
    assert!(
        !cookie.contains(token),
        "the cookie does not show the token as typed"
    );
    cookie.split(';').next().unwrap().to_string()
}

pub(crate) fn get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header("cookie", cookie)
        .body(Body::empty())
        .unwrap()
}

fn post(path: &str, cookie: &str, form: &str) -> Request<Body> {
    Request::post(path)
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap()
}

fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..at + 64].to_string()
}

/// Every visible input or select has a `<label for>` or an aria-label.
fn assert_labelled(page: &str, html: &str) {
    for tag in ["<input", "<select"] {
        for (at, _) in html.match_indices(tag) {
            let el = &html[at..at + html[at..].find('>').unwrap()];
            if el.contains("type=\"hidden\"") || el.contains("aria-label=") {
                continue;
            }
            let id = el.split("id=\"").nth(1).and_then(|r| r.split('"').next());
            let id = id.unwrap_or_else(|| panic!("{page}: unlabelled {el}"));
            let wrapped = html[..at]
                .rfind("<label")
                .is_some_and(|l| html[..at].rfind("</label>").is_none_or(|c| c < l));
            assert!(
                wrapped || html.contains(&format!("for=\"{id}\"")),
                "{page}: no label for {el}"
            );
        }
    }
}

#[tokio::test]
async fn sessions_roles_and_csrf_guard_every_console_action() {
    let t = app().await;
    let id = t
        .start(
            "sample_park",
            json!({ "steps": { "inspect": { "fail": "park" } } }),
        )
        .await;
    t.run().await;

    // No session: every page sends the browser to the login form.
    for path in [
        "/ui",
        "/ui/sagas",
        &format!("/ui/sagas/{id}"),
        "/ui/attention",
        "/ui/queues",
    ] {
        let (s, h, _) = send(&t, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(h[header::LOCATION], "/ui/login");
    }
    // A bad token and a service token cannot sign in.
    for bad in ["nope", SERVICE_TOKEN] {
        let req = Request::post("/ui/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={bad}")))
            .unwrap();
        let (s, _, _) = send(&t, req).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }

    // A viewer reads everything but gets no action forms, and cannot post one.
    let viewer = login(&t, VIEWER_TOKEN).await;
    let (s, _, html) = send(&t, get(&format!("/ui/sagas/{id}"), &viewer)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(">parked</span>"), "status as text");
    assert!(
        !html.contains("data-action="),
        "no action buttons for a viewer"
    );
    let viewer_csrf = csrf(&html);
    let (s, _, _) = send(
        &t,
        post(
            &format!("/ui/sagas/{id}/retry"),
            &viewer,
            &format!("reason=x&csrf={viewer_csrf}"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for page in [
        "/ui",
        "/ui/sagas?status=parked",
        "/ui/attention",
        "/ui/queues",
    ] {
        let (s, _, html) = send(&t, get(page, &viewer)).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert_labelled(page, &html);
    }
    let (_, _, attention) = send(&t, get("/ui/attention", &viewer)).await;
    assert!(!attention.contains("Retry in bulk"));

    // An operator sees the actions; a missing or foreign CSRF token is refused.
    let op = login(&t, OPERATOR_TOKEN).await;
    let (_, _, html) = send(&t, get(&format!("/ui/sagas/{id}"), &op)).await;
    assert!(html.contains("data-action=\"retry\""));
    let token = csrf(&html);
    assert_ne!(token, viewer_csrf);
    let (s, _, _) = send(&t, post(&format!("/ui/sagas/{id}/resume"), &op, "reason=x")).await;
    assert!(s.is_client_error(), "no csrf field");
    let (s, _, _) = send(
        &t,
        post(
            &format!("/ui/sagas/{id}/resume"),
            &op,
            &format!("reason=x&csrf={viewer_csrf}"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, h, _) = send(
        &t,
        post(
            &format!("/ui/sagas/{id}/resume"),
            &op,
            &format!("reason=checked+by+hand&csrf={token}"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(
        h[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with(&format!("/ui/sagas/{id}?notice="))
    );
    let (_, audit) = t.call("GET", "/v1/audit", None, &[]).await;
    assert_eq!(audit["items"][0]["reason"], "checked by hand");
    assert_eq!(audit["items"][0]["actor"], "olivia");

    // Bulk retry from needs attention starts a job.
    let other = t
        .start(
            "sample_park",
            json!({ "steps": { "inspect": { "fail": "park" } } }),
        )
        .await;
    t.run().await;
    let (s, h, _) = send(
        &t,
        post(
            "/ui/attention/retry",
            &op,
            &format!("reason=all+again&csrf={token}&ids={other}"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let job = h[header::LOCATION].to_str().unwrap().to_string();
    assert!(job.starts_with("/ui/jobs/"));
    t.run().await;
    let (_, _, html) = send(&t, get(&job, &op)).await;
    assert!(html.contains("1 done, 0 failed, 1 in all"), "{html}");

    // CSV export works with the session too.
    let (s, h, csv) = send(&t, get("/ui/sagas/export.csv?status=parked", &op)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(csv.starts_with("id,workflow"));
    // Pages carry a CSP and cannot be framed.
    let (_, h, _) = send(&t, get("/ui", &op)).await;
    assert!(
        h[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
}
