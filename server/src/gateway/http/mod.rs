//! HTTP: routing of every request, authentication, the WebSocket upgrade at `GET /ws`,
//! health, metrics, the read API (`/api/…`) and the admin API (`/admin/…`).
//!
//! - [`auth`]: tokens, who reads the read API, the admin's check;
//! - [`upgrade`]: `GET /ws` to a WebSocket session;
//! - [`read_api`]: the read API under `/api/`, paged and copied from the Desk;
//! - [`admin_api`]: the admin API under `/admin/`;
//! - [`query`]: percent-decoding of paths and query strings.
//!
//! Errors are JSON bodies `{"code": "...", "message": "..."}` with a fitting status;
//! nothing a client sends can panic the server.

mod admin_api;
mod auth;
mod query;
mod read_api;
mod upgrade;

use super::metrics;
use super::state::{Shared, lock};
use crate::domain::DeskError;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

use admin_api::admin_api;
use auth::{admin_auth, reader};
use query::percent_decode_path;
use read_api::{ApiPath, read_api};
use upgrade::upgrade;

/// The response body type.
pub(crate) type Body = Full<Bytes>;

/// What the request handler needs besides the request.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    pub shutdown: watch::Receiver<bool>,
    /// Held by every task so shutdown can wait for them all.
    pub drain: mpsc::Sender<()>,
}

/// An HTTP error: status, code, message, and a header the status calls for.
struct Fail {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Headers the status calls for (`Allow` on a 405, …).
    headers: Vec<(header::HeaderName, &'static str)>,
}

impl Fail {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Fail {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    fn with_header(mut self, name: header::HeaderName, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl From<DeskError> for Fail {
    fn from(e: DeskError) -> Self {
        let status = match e {
            DeskError::UnknownAgent(_)
            | DeskError::UnknownQueue(_)
            | DeskError::UnknownChat(_)
            | DeskError::UnknownTicket(_)
            | DeskError::UnknownArticle(_)
            | DeskError::UnknownTemplate(_) => StatusCode::NOT_FOUND,
            DeskError::AlreadyExists(_) => StatusCode::CONFLICT,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Fail::new(status, e.code(), e.to_string())
    }
}

type Res = Result<Response<Body>, Fail>;

/// Handles one request; never fails (errors become responses).
pub(crate) async fn handle(req: Request<Incoming>, ctx: Ctx) -> Result<Response<Body>, Infallible> {
    let response = match route(req, &ctx).await {
        Ok(r) => r,
        Err(fail) => {
            let body = serde_json::json!({ "code": fail.code, "message": fail.message });
            let mut response = json_response(fail.status, &body);
            for (name, value) in fail.headers {
                response
                    .headers_mut()
                    .insert(name, HeaderValue::from_static(value));
            }
            response
        }
    };
    *lock(&ctx.shared.counters)
        .http_requests
        .entry(response.status().as_u16())
        .or_default() += 1;
    Ok(response)
}

async fn route(req: Request<Incoming>, ctx: &Ctx) -> Res {
    let path = req.uri().path().to_string();
    // Ids are free-form (an article may be `VPN guide`): segments arrive percent-encoded.
    let decoded: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(percent_decode_path)
        .collect();
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    // Numeric ids are read as written: `%31` is not chat 1.
    let raw: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    let read = reads(&method);
    let shared = &ctx.shared;
    match (segments.as_slice(), &method) {
        (["ws"], &Method::GET) => upgrade(req, ctx),
        (["healthz"], _) if read => Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({ "status": "ok" }),
        )),
        (["metrics"], _) if read => Ok(text_response(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics::render(shared),
        )),
        (["api", ..], _) if read => {
            let viewer = reader(shared, &req)?;
            let path = ApiPath {
                segments: &segments[1..],
                raw: &raw[1..],
            };
            read_api(shared, &viewer, path, req.uri().query()).await
        }
        (["admin", rest @ ..], _) => {
            admin_auth(shared, &req)?;
            admin_api(shared, rest, req).await
        }
        (["ws"], _) => Err(not_allowed(&method, "GET")),
        (["healthz"] | ["metrics"] | ["api", ..], _) => Err(not_allowed(&method, "GET, HEAD")),
        _ => Err(Fail::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such path: {path}"),
        )),
    }
}

/// Whether `method` reads: GET, or HEAD, which is answered as GET is (hyper leaves out
/// the body and keeps its length). An upgrade is GET only.
fn reads(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

fn not_allowed(method: &Method, allowed: &'static str) -> Fail {
    Fail::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed here; allowed: {allowed}"),
    )
    .with_header(header::ALLOW, allowed)
}

fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response<Body> {
    let text = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Body::new(Bytes::from(text)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn text_response(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut resp = Response::new(Body::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}
