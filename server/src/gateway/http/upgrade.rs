//! `GET /ws`: the WebSocket upgrade, checked (key, version, token, connection limit)
//! and handed to a session.

use crate::domain::{Principal, UserId};
use crate::gateway::session;
use crate::gateway::state::Shared;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::auth::{token, unauthorized};
use super::{Body, Ctx, Fail, Res};

pub(super) fn upgrade(req: Request<Incoming>, ctx: &Ctx) -> Res {
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
    let ws_config = crate::gateway::ws_config(shared.limits.max_message_bytes);
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

/// Whether `key` is what RFC 6455 asks for: 16 random bytes in base64, i.e. 22
/// base64 characters and `==`.
fn is_websocket_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
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
}
