//! HTTP: routing of every request, authentication, the WebSocket upgrade at `GET /ws`,
//! health, metrics, the read API (`/api/…`) and the admin API (`/admin/…`).
//!
//! Errors are JSON bodies `{"code": "...", "message": "..."}` with a fitting status;
//! nothing a client sends can panic the server.

use super::metrics;
use super::session;
use super::state::{Shared, lock};
use crate::config::{AgentConfig, Limits};
use crate::domain::{
    AgentId, ChatId, Command, DeskError, DisconnectRules, KnowledgeArticle, Principal, QueueId,
    Reply, RoutingConfig, Template, Ticket, TicketId, UserId, render_transcript,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

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

// --- auth ---

/// The token of a request: `Authorization: Bearer T`, else `?token=T`.
fn token(req: &Request<Incoming>) -> Result<Option<String>, Fail> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION) {
        let v = v
            .to_str()
            .map_err(|_| unauthorized("Authorization header is not ASCII"))?;
        // The scheme's name is case-insensitive (RFC 9110, 11.1).
        let t = v
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .ok_or_else(|| unauthorized("Authorization must be `Bearer <token>`"))?
            .1;
        return Ok(Some(t.trim().to_string()));
    }
    Ok(query_param(req.uri().query(), "token"))
}

/// A 401, with the scheme a token is presented in (RFC 9110 requires the header).
fn unauthorized(msg: &str) -> Fail {
    Fail::new(StatusCode::UNAUTHORIZED, "unauthorized", msg)
        .with_header(header::WWW_AUTHENTICATE, "Bearer")
}

/// Who reads the `/api/` endpoints.
enum Viewer {
    Admin,
    Agent(AgentId),
}

fn reader(shared: &Shared, req: &Request<Incoming>) -> Result<Viewer, Fail> {
    let t = token(req)?.ok_or_else(|| unauthorized("an agent or admin token is required"))?;
    if shared
        .admin_token
        .as_deref()
        .is_some_and(|a| same_secret(a, &t))
    {
        return Ok(Viewer::Admin);
    }
    let tokens = shared
        .tokens
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tokens
        .get(&t)
        .cloned()
        .map(Viewer::Agent)
        .ok_or_else(|| unauthorized("unknown token"))
}

/// Compares a presented token with the admin token in time that does not depend on
/// where they first differ.
fn same_secret(secret: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    secret.as_bytes().ct_eq(presented.as_bytes()).into()
}

fn admin_auth(shared: &Shared, req: &Request<Incoming>) -> Result<(), Fail> {
    let Some(admin) = shared.admin_token.as_deref() else {
        return Err(Fail::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the admin API is disabled: no admin token is configured",
        ));
    };
    match token(req)? {
        None => Err(unauthorized("the admin token is required")),
        Some(t) if same_secret(admin, &t) => Ok(()),
        Some(_) => Err(Fail::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token may not use the admin API",
        )),
    }
}

// --- WebSocket upgrade ---

fn upgrade(req: Request<Incoming>, ctx: &Ctx) -> Res {
    let shared = &ctx.shared;
    let h = req.headers();
    let has = |name: header::HeaderName, want: &str| {
        h.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|p| p.trim().eq_ignore_ascii_case(want)))
        })
    };
    if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
        return Err(Fail::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "GET /ws must be a WebSocket upgrade",
        )
        .with_header(header::UPGRADE, "websocket")
        .with_header(header::CONNECTION, "upgrade"));
    }
    if h.get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(Fail::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Sec-WebSocket-Version must be 13",
        )
        .with_header(header::SEC_WEBSOCKET_VERSION, "13"));
    }
    let Some(key) = h.get(header::SEC_WEBSOCKET_KEY) else {
        return Err(Fail::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "missing Sec-WebSocket-Key",
        ));
    };
    if !is_websocket_key(key.as_bytes()) {
        return Err(Fail::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Sec-WebSocket-Key must be 16 bytes in base64 (24 characters ending in `==`)",
        ));
    }
    let accept = derive_accept_key(key.as_bytes());
    // An agent by their token; a user without one (given an id once admitted, so that
    // refused upgrades leave no gaps in the ids).
    let agent = match token(&req)? {
        Some(t) => {
            let tokens = shared
                .tokens
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match tokens.get(&t) {
                Some(a) => Some(a.clone()),
                None => return Err(unauthorized("unknown agent token")),
            }
        }
        None => None,
    };
    // Reserve a connection slot.
    let max = shared.limits.max_connections;
    if shared
        .ws_connections
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .is_err()
    {
        return Err(Fail::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_connections",
            format!("the server already has {max} WebSocket connections"),
        ));
    }
    if *ctx.shutdown.borrow() {
        shared.ws_connections.fetch_sub(1, Ordering::AcqRel);
        return Err(Fail::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        ));
    }
    let who = agent.map_or_else(
        || Principal::User(UserId(shared.next_user.fetch_add(1, Ordering::Relaxed))),
        Principal::Agent,
    );
    let ws_config = super::ws_config(shared.limits.max_message_bytes);
    let task_shared = Arc::clone(shared);
    let shutdown = ctx.shutdown.clone();
    let drain = ctx.drain.clone();
    tokio::spawn(async move {
        let _drain = drain;
        // The slot is given back however the session ends, a panic included.
        let _slot = Slot(Arc::clone(&task_shared));
        if let Ok(upgraded) = hyper::upgrade::on(req).await {
            let ws = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(ws_config),
            )
            .await;
            session::run(task_shared, ws, who, shutdown).await;
        }
    });
    let mut resp = Response::new(Body::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let hs = resp.headers_mut();
    hs.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    hs.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        hs.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    Ok(resp)
}

/// A reserved WebSocket connection slot, released when dropped.
struct Slot(Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.ws_connections.fetch_sub(1, Ordering::AcqRel);
    }
}

// --- read API ---

/// Chats per page of `GET /api/chats` unless `limit` says otherwise, and the most
/// `limit` may ask for: the page is copied while the Desk is locked.
const CHATS_PAGE: usize = 500;
const CHATS_PAGE_MAX: usize = 5_000;
/// The same for `GET /api/tickets`, whose items are whole tickets (a ticket's
/// description holds its chat's transcript).
const TICKETS_PAGE: usize = 100;
const TICKETS_PAGE_MAX: usize = 1_000;
/// Most items one page looks at (an agent sees only some of them).
const SCAN_MAX: usize = 50_000;

/// A number written plainly: decimal digits only, no sign, no leading zero (so that each
/// id has one spelling: `/api/chats/007` and `+7` are not chat 7).
fn numeric(s: &str) -> Option<u64> {
    let plain =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    plain.then(|| s.parse().ok()).flatten()
}

/// A page request's `after` (default 0) and `limit` (default `default`, 1..=`max`).
fn page_query(query: Option<&str>, default: usize, max: usize) -> Result<(u64, usize), Fail> {
    let bad = |msg: String| Fail::new(StatusCode::BAD_REQUEST, "bad_request", msg);
    let after = match query_param(query, "after") {
        None => 0,
        Some(s) => {
            numeric(&s).ok_or_else(|| bad(format!("`after` must be a numeric id, not `{s}`")))?
        }
    };
    let limit = match query_param(query, "limit") {
        None => default,
        Some(s) => numeric(&s)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| bad(format!("`limit` must be 1..={max}, not `{s}`")))?,
    };
    Ok((after, limit))
}

/// One page of `items` (in id order, after the previous page): up to `limit` items
/// that `keep`, looking at no more than `scan_max` items, and the id to continue after
/// — the last item's if more may follow, `None` when the items are exhausted. A page
/// cut short by `scan_max` may hold fewer than `limit` items, even none.
fn page<Id: Copy, T>(
    items: impl Iterator<Item = (Id, T)>,
    keep: impl Fn(&T) -> bool,
    limit: usize,
    scan_max: usize,
) -> (Vec<T>, Option<Id>) {
    let mut items = items.peekable();
    let mut page = Vec::new();
    let (mut last_kept, mut last_looked) = (None, None);
    for _ in 0..scan_max {
        let Some((id, item)) = items.next() else {
            return (page, None);
        };
        if keep(&item) {
            if page.len() == limit {
                // A full page and one more: the next page starts after this one's last.
                return (page, last_kept);
            }
            page.push(item);
            last_kept = Some(id);
        }
        last_looked = Some(id);
    }
    // Stopped by the scan bound: go on after what was looked at, if anything is left.
    let next = items.peek().and(last_looked);
    (page, next)
}

/// One chat in `GET /api/chats`: the chat without its transcript.
#[derive(Serialize)]
struct ChatListItem {
    id: ChatId,
    user: UserId,
    queue: QueueId,
    subject: String,
    state: &'static str,
    owner: Option<AgentId>,
    requested_at: u64,
    ticket: Option<TicketId>,
    messages: usize,
}

impl ChatListItem {
    fn of(c: &crate::domain::Chat) -> ChatListItem {
        ChatListItem {
            id: c.id,
            user: c.user,
            queue: c.queue.clone(),
            subject: c.subject.clone(),
            state: c.state.name(),
            owner: c.state.owner().cloned(),
            requested_at: c.requested_at.as_millis(),
            ticket: c.ticket,
            messages: c.transcript.len(),
        }
    }
}

#[derive(Serialize)]
struct ChatsPage {
    chats: Vec<ChatListItem>,
    next: Option<ChatId>,
}

#[derive(Serialize)]
struct TicketsPage {
    tickets: Vec<Ticket>,
    next: Option<TicketId>,
}

#[derive(Serialize)]
struct Articles {
    articles: Vec<KnowledgeArticle>,
}

#[derive(Serialize)]
struct Templates {
    templates: Vec<Template>,
}

/// A read API answer: what it needs was copied from the Desk while it was locked, and
/// this turns it into the response after the lock is released.
type Render = Box<dyn FnOnce() -> Response<Body> + Send>;

/// Renders `body` as JSON, later.
fn json_later<T: Serialize + Send + 'static>(body: T) -> Render {
    Box::new(move || json_response(StatusCode::OK, &body))
}

/// A read API path after `/api/`: its segments percent-decoded (free-form ids such as
/// `VPN guide`), and as written (numeric ids have one spelling: `%31` is not 1).
#[derive(Clone, Copy)]
struct ApiPath<'a> {
    segments: &'a [&'a str],
    raw: &'a [&'a str],
}

/// Answers a read API request. The Desk is locked only to copy what the answer holds
/// (a ticket's description is shared, not copied); the JSON is written after, on the
/// blocking pool: a page of long tickets is megabytes of JSON, which under the lock
/// would hold up every connection, and on a worker the connections that worker serves.
/// At most [`READ_API_RENDERS`](super::state::READ_API_RENDERS) answers are copied and written at once.
async fn read_api(shared: &Shared, viewer: &Viewer, path: ApiPath<'_>, query: Option<&str>) -> Res {
    // The semaphore is never closed.
    let _turn = shared.read_renders.acquire().await.ok();
    let render = read_api_copy(shared, viewer, path, query)?;
    tokio::task::spawn_blocking(render).await.map_err(|_| {
        Fail::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the answer could not be written",
        )
    })
}

/// The part of [`read_api`] done under the Desk's lock.
fn read_api_copy(
    shared: &Shared,
    viewer: &Viewer,
    path: ApiPath<'_>,
    query: Option<&str>,
) -> Result<Render, Fail> {
    let core = lock(&shared.core);
    let desk = &core.desk;
    // R1: an agent without the live-chat permission reads nothing of live chat.
    if let Viewer::Agent(a) = viewer
        && !desk.agent(a).is_some_and(|ag| ag.profile.may_chat())
    {
        return Err(Fail::new(
            StatusCode::FORBIDDEN,
            "permission_denied",
            format!("agent `{a}` does not hold the ESChat_Agent permission (R1)"),
        ));
    }
    // An agent reads the chats it has had, and the chats its queues could give it —
    // but a transfer addressed to one agent only that agent (R5).
    let visible = |chat: &crate::domain::Chat| match viewer {
        Viewer::Admin => true,
        Viewer::Agent(a) => desk.may_see(a, chat),
    };
    // A ticket goes with its chat; once the chat was dropped (`keep_ended_chats`), it
    // stays visible to the admin and to the agent who created it.
    let ticket_visible = |t: &&Ticket| match desk.chat(t.chat) {
        Some(chat) => visible(chat),
        None => match viewer {
            Viewer::Admin => true,
            Viewer::Agent(a) => &t.agent == a,
        },
    };
    let not_found =
        |what: &str| Fail::new(StatusCode::NOT_FOUND, "not_found", format!("no {what}"));
    let parse_id = |s: &str| {
        numeric(s).ok_or_else(|| {
            Fail::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("`{s}` is not a numeric id"),
            )
        })
    };
    // The numeric id of `chats/{id}` and `tickets/{id}`, as written (the second segment).
    let path_id = || parse_id(path.raw.get(1).copied().unwrap_or_default());
    let visible_chat = || {
        desk.chat(ChatId(path_id()?))
            .filter(|c| visible(c))
            .ok_or_else(|| not_found("such chat"))
    };
    match path.segments {
        ["chats"] => {
            let (after, limit) = page_query(query, CHATS_PAGE, CHATS_PAGE_MAX)?;
            let (page, next) = page(
                desk.chats_after(ChatId(after)).map(|c| (c.id, c)),
                |c| visible(c),
                limit,
                SCAN_MAX,
            );
            let chats = page.into_iter().map(ChatListItem::of).collect();
            Ok(json_later(ChatsPage { chats, next }))
        }
        ["chats", _] => Ok(json_later(visible_chat()?.clone())),
        ["chats", _, "transcript"] => {
            let transcript = visible_chat()?.transcript.clone();
            Ok(Box::new(move || {
                text_response(
                    StatusCode::OK,
                    "text/plain; charset=utf-8",
                    render_transcript(&transcript),
                )
            }))
        }
        ["tickets"] => {
            let (after, limit) = page_query(query, TICKETS_PAGE, TICKETS_PAGE_MAX)?;
            let (tickets, next) = page(
                desk.tickets_after(TicketId(after)).map(|t| (t.id, t)),
                ticket_visible,
                limit,
                SCAN_MAX,
            );
            let tickets = tickets.into_iter().cloned().collect();
            Ok(json_later(TicketsPage { tickets, next }))
        }
        ["tickets", _] => {
            let id = TicketId(path_id()?);
            let t = desk
                .ticket(id)
                .filter(|t| ticket_visible(t))
                .ok_or_else(|| not_found("such ticket"))?;
            Ok(json_later(t.clone()))
        }
        ["articles"] => {
            let term = query_param(query, "term").unwrap_or_default();
            let articles = desk.find_articles(&term).into_iter().cloned().collect();
            Ok(json_later(Articles { articles }))
        }
        ["articles", id] => {
            let a = desk
                .articles()
                .find(|a| a.id.as_str() == *id)
                .ok_or_else(|| not_found("such article"))?;
            Ok(json_later(a.clone()))
        }
        ["templates"] => {
            let term = query_param(query, "term").unwrap_or_default();
            let templates = desk.find_templates(&term).into_iter().cloned().collect();
            Ok(json_later(Templates { templates }))
        }
        ["templates", id] => {
            let t = desk
                .templates()
                .find(|t| t.id.as_str() == *id)
                .ok_or_else(|| not_found("such template"))?;
            Ok(json_later(t.clone()))
        }
        _ => Err(not_found("such API path")),
    }
}

// --- admin API ---

/// The body of `GET /admin/config`.
#[derive(Serialize)]
struct AdminConfig {
    routing: RoutingConfig,
    disconnect: DisconnectRules,
    limits: Limits,
}

/// The body of `PUT /admin/config`: the shape `GET` gives, but only `routing` may change
/// at run time. `disconnect` and `limits` may be left out, or given in part: the fields
/// given must then equal the ones in force ([`unchanged`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAdminConfig {
    routing: RoutingConfig,
    #[serde(default)]
    disconnect: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    limits: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Whether the fields `given` of a read-only section (`name`) equal the ones in force
/// (`current`): they are laid over the current settings, read back as settings (so a
/// field unknown or of the wrong type is a 400, as anywhere else in a body), and
/// compared. Fields left out are the current ones, not the defaults.
fn unchanged<T>(
    name: &str,
    current: &T,
    given: Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<bool, Fail>
where
    T: Serialize + serde::de::DeserializeOwned + PartialEq,
{
    let Some(given) = given else { return Ok(true) };
    let mut merged = serde_json::to_value(current).unwrap_or_default();
    if let serde_json::Value::Object(fields) = &mut merged {
        fields.extend(given);
    }
    let merged: T = serde_json::from_value(merged).map_err(|e| {
        Fail::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("invalid JSON body: `{name}`: {e}"),
        )
    })?;
    Ok(&merged == current)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewQueue {
    queue: crate::domain::QueueId,
}

async fn admin_api(shared: &Shared, rest: &[&str], req: Request<Incoming>) -> Res {
    let method = req.method().clone();
    let read = reads(&method);
    match (rest, &method) {
        (["config"], _) if read => {
            let config = {
                let core = lock(&shared.core);
                let c = core.desk.config();
                AdminConfig {
                    routing: c.routing.clone(),
                    disconnect: c.disconnect.clone(),
                    limits: shared.limits.clone(),
                }
            };
            Ok(json_response(StatusCode::OK, &config))
        }
        (["config"], &Method::PUT) => {
            let body: NewAdminConfig = read_json(shared, req).await?;
            let disconnect = lock(&shared.core).desk.config().disconnect.clone();
            let same = unchanged("disconnect", &disconnect, body.disconnect)?;
            if !(same && unchanged("limits", &shared.limits, body.limits)?) {
                return Err(Fail::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "read_only",
                    "only `routing` can change at run time; `disconnect` and `limits` need a restart",
                ));
            }
            let reply = shared.execute(
                &Principal::Admin,
                Command::SetRouting {
                    routing: body.routing,
                },
                None,
            )?;
            let routing = match reply {
                Some(Reply::Routing(r)) => r,
                _ => lock(&shared.core).desk.config().routing.clone(),
            };
            Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({ "routing": routing }),
            ))
        }
        (["queues"], _) if read => {
            let queues: Vec<_> = lock(&shared.core).desk.queues().cloned().collect();
            Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({ "queues": queues }),
            ))
        }
        (["queues"], &Method::POST) => {
            let body: NewQueue = read_json(shared, req).await?;
            let queue = body.queue.clone();
            shared.execute(
                &Principal::Admin,
                Command::AddQueue { queue: body.queue },
                None,
            )?;
            Ok(json_response(
                StatusCode::CREATED,
                &serde_json::json!({ "queue": queue }),
            ))
        }
        (["agents"], _) if read => {
            let agents: Vec<_> = {
                let core = lock(&shared.core);
                core.desk
                    .agents()
                    .map(|a| {
                        serde_json::json!({
                            "id": a.profile.id,
                            "name": a.profile.name,
                            "permissions": a.profile.permissions,
                            "queues": a.profile.queues,
                            "signed_in": a.signed_in,
                            "connected": a.online(),
                            "available": a.available,
                            "available_for": a.available_for,
                            "chats": a.chats,
                            "chats_handled": a.chats_handled,
                        })
                    })
                    .collect()
            };
            Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({ "agents": agents }),
            ))
        }
        (["agents"], &Method::POST) => {
            let body: AgentConfig = read_json(shared, req).await?;
            let mut tokens = shared
                .tokens
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(t) = &body.token {
                if let Some(problem) = crate::config::token_problem(t) {
                    return Err(Fail::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_config",
                        format!("the token {problem}"),
                    ));
                }
                if tokens.contains_key(t) || shared.admin_token.as_deref() == Some(t.as_str()) {
                    return Err(Fail::new(
                        StatusCode::CONFLICT,
                        "already_exists",
                        "that token is taken",
                    ));
                }
            }
            shared.execute(
                &Principal::Admin,
                Command::AddAgent {
                    agent: body.profile(),
                },
                None,
            )?;
            if let Some(t) = &body.token {
                tokens.insert(t.clone(), body.id.clone());
            }
            Ok(json_response(
                StatusCode::CREATED,
                &serde_json::json!({ "agent": body.id }),
            ))
        }
        (["config"], _) => Err(not_allowed(&method, "GET, HEAD, PUT")),
        (["queues"] | ["agents"], _) => Err(not_allowed(&method, "GET, HEAD, POST")),
        _ => Err(Fail::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such admin path",
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

async fn read_json<T: for<'de> Deserialize<'de>>(
    shared: &Shared,
    req: Request<Incoming>,
) -> Result<T, Fail> {
    let max = shared.limits.max_http_body_bytes;
    // A body that stops arriving would hold the connection (and its task) forever.
    let within = shared.limits.write_timeout_ms;
    let body = tokio::time::timeout(
        std::time::Duration::from_millis(within),
        Limited::new(req.into_body(), max).collect(),
    )
    .await
    .map_err(|_| {
        Fail::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the body did not arrive within {within} ms"),
        )
    })?
    .map_err(|e| {
        if e.downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            Fail::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body is over {max} bytes"),
            )
        } else {
            Fail::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("cannot read the body: {e}"),
            )
        }
    })?;
    serde_json::from_slice(&body.to_bytes()).map_err(|e| {
        Fail::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("invalid JSON body: {e}"),
        )
    })
}

// --- helpers ---

/// Whether `key` is what RFC 6455 asks for: 16 random bytes in base64, i.e. 22
/// base64 characters and `==`.
fn is_websocket_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
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

/// The first value of `name` in a query string, percent-decoded.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

/// A query value: `%XX` escapes, and `+` for a space.
fn percent_decode(s: &str) -> String {
    decode(s, true)
}

/// A path segment: `%XX` escapes only (a `+` is a plus there).
fn percent_decode_path(s: &str) -> String {
    decode(s, false)
}

fn decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                // Two hex digits, nothing else (`from_str_radix` would take `+A`).
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn websocket_keys_are_sixteen_bytes_of_base64() {
        assert!(super::is_websocket_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(super::is_websocket_key(b"AAAAAAAAAAAAAAAAAAAA+/=="));
        for bad in [
            &b""[..],
            b"not-base64!",
            b"dGhlIHNhbXBsZSBub25jZQ",
            b"dGhlIHNhbXBsZSBub25jZQ=",
            b"dGhlIHNhbXBsZSBub25jZQ===",
            b"dGhlIHNhbXBsZSBub25jZ!==",
        ] {
            assert!(
                !super::is_websocket_key(bad),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    use super::*;

    #[test]
    fn decodes_query_values() {
        assert_eq!(
            query_param(Some("a=1&term=vpn%20client+x"), "term").as_deref(),
            Some("vpn client x")
        );
        assert_eq!(
            query_param(Some("token=abc"), "token").as_deref(),
            Some("abc")
        );
        assert_eq!(query_param(Some("token"), "token").as_deref(), Some(""));
        assert_eq!(query_param(Some("x=%zz%"), "x").as_deref(), Some("%zz%"));
        assert_eq!(query_param(Some("x=%+A"), "x").as_deref(), Some("% A"));
        assert_eq!(query_param(Some("x=%4a%4A"), "x").as_deref(), Some("JJ"));
        assert_eq!(query_param(None, "x"), None);
    }

    #[test]
    fn numbers_have_one_spelling() {
        assert_eq!(numeric("0"), Some(0));
        assert_eq!(numeric("7"), Some(7));
        assert_eq!(numeric("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "+7",
            "-7",
            "007",
            "00",
            "7 ",
            " 7",
            "1e3",
            "18446744073709551616",
        ] {
            assert_eq!(numeric(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn pages_go_through_everything_kept_within_the_scan_bound() {
        let items = || (1..=10u64).map(|i| (i, i));
        let even = |i: &u64| i.is_multiple_of(2);
        // Plain paging: full pages, then the rest, then the end.
        assert_eq!(page(items(), even, 2, 100), (vec![2, 4], Some(4)));
        let after = |a: u64| items().filter(move |(i, _)| *i > a);
        assert_eq!(page(after(4), even, 2, 100), (vec![6, 8], Some(8)));
        assert_eq!(page(after(8), even, 2, 100), (vec![10], None));
        assert_eq!(page(after(10), even, 2, 100), (vec![], None));
        // Exactly a full page left: no further page.
        assert_eq!(page(after(6), even, 2, 100), (vec![8, 10], None));
        // The scan bound cuts a page short and says where to go on.
        assert_eq!(page(items(), even, 5, 3), (vec![2], Some(3)));
        assert_eq!(page(after(3), |_| false, 5, 3), (vec![], Some(6)));
        assert_eq!(page(after(8), |_| false, 5, 3), (vec![], None));
        // Following `next` from the start visits every kept item once.
        let (mut seen, mut at) = (Vec::new(), 0);
        loop {
            let (p, next) = page(after(at), even, 2, 3);
            seen.extend(p);
            match next {
                Some(n) => at = n,
                None => break,
            }
        }
        assert_eq!(seen, vec![2, 4, 6, 8, 10]);
    }
}
