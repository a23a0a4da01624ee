//! HTTP request duration by route template, method and status class.
//!
//! The route label is axum's [`MatchedPath`] (`/v1/sagas/{id}`), never the raw path: raw
//! paths carry saga ids and order ids and would mint a series per request. Requests that
//! matched no route share `unmatched`; methods outside the standard set share `OTHER`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::telemetry::HTTP_REQUEST_DURATION_SECONDS;

/// Middleware: times the request and records it when the response head is ready.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = method_label(req.method());
    let started = Instant::now();
    let res = next.run(req).await;
    let class = match res.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        "route" => route,
        "method" => method,
        "status_class" => class
    )
    .record(started.elapsed().as_secs_f64());
    res
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
