//! The admin API (`/admin/…`): routing configuration, queues and agents at run time.

use crate::config::{AgentConfig, Limits};
use crate::domain::{Command, DisconnectRules, Principal, Reply, RoutingConfig};
use crate::gateway::state::{Shared, lock};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::{Deserialize, Serialize};

use super::{Fail, Res, json_response, not_allowed, reads};

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

pub(super) async fn admin_api(shared: &Shared, rest: &[&str], req: Request<Incoming>) -> Res {
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
