//! Who a request is: the token it presents (`Authorization: Bearer`, or `?token=`), the
//! viewer the read API answers, and the admin's check.

use crate::domain::AgentId;
use crate::gateway::state::Shared;
use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, StatusCode};

use super::Fail;
use super::query::query_param;

/// The token of a request: `Authorization: Bearer T`, else `?token=T`.
pub(super) fn token(req: &Request<Incoming>) -> Result<Option<String>, Fail> {
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
pub(super) fn unauthorized(msg: &str) -> Fail {
    Fail::new(StatusCode::UNAUTHORIZED, "unauthorized", msg)
        .with_header(header::WWW_AUTHENTICATE, "Bearer")
}

/// Who reads the `/api/` endpoints.
pub(super) enum Viewer {
    Admin,
    Agent(AgentId),
}

pub(super) fn reader(shared: &Shared, req: &Request<Incoming>) -> Result<Viewer, Fail> {
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

pub(super) fn admin_auth(shared: &Shared, req: &Request<Incoming>) -> Result<(), Fail> {
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
