//! Correct under concurrency, impossible to knock over with bad input: the
//! concurrent-accept race (R8), every kind of bad frame and bad HTTP request, the
//! limits (frame size, rate, outbound queue, connections) and ping/pong.

use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};
use std::sync::Arc;
use switchboard_server::config::AgentConfig;
use switchboard_tests::{ADMIN, Client, TestServer, base_config, metric};
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::{Bytes, Message};

/// Sends a valid command and expects a reply: the connection is still usable.
async fn still_usable(c: &mut Client) -> Result<()> {
    let r = c.request(json!({"type": "list_my_chats"})).await?;
    ensure!(r["type"] == "reply" || r["type"] == "error", "{r}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_accept_race_has_exactly_one_winner() -> Result<()> {
    const AGENTS: usize = 60;
    const CHATS: usize = 3;
    let mut config = base_config();
    config.queues.push("race".into());
    for i in 0..AGENTS {
        config.agents.push(AgentConfig {
            id: format!("racer{i}").into(),
            name: String::new(),
            token: Some(format!("racer{i}-token")),
            permissions: ["ESChat_Agent".to_string()].into(),
            queues: vec!["race".into()],
        });
    }
    let server = TestServer::start(config).await?;
    let mut agents = Vec::new();
    for i in 0..AGENTS {
        agents.push(server.signed_in(&format!("racer{i}-token")).await?);
    }
    let mut users = Vec::new();
    let mut chats = Vec::new();
    for _ in 0..CHATS {
        let mut u = server.user().await?;
        let r = u
            .ok(json!({"type": "start_chat", "queue": "race", "subject": "race me"}))
            .await?;
        chats.push(r["chat"].as_u64().unwrap_or_default());
        users.push(u);
    }
    let chats = Arc::new(chats);
    let barrier = Arc::new(Barrier::new(AGENTS));
    let mut tasks = Vec::new();
    for mut agent in agents {
        let barrier = Arc::clone(&barrier);
        let chats = Arc::clone(&chats);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut results = Vec::new();
            for chat in chats.iter() {
                // Fire every accept before reading any answer.
                agent
                    .send_text(&json!({"type": "accept", "chat": chat, "req": chat}).to_string())
                    .await?;
            }
            for chat in chats.iter() {
                results.push(agent.answer(json!(chat)).await?);
            }
            anyhow::Ok(results)
        }));
    }
    let mut winners = vec![0; CHATS];
    let mut losers = vec![0; CHATS];
    for t in tasks {
        for (i, r) in t.await??.into_iter().enumerate() {
            match (r["type"].as_str(), r["code"].as_str()) {
                (Some("reply"), _) if r["reply"] == "accepted" => winners[i] += 1,
                (Some("error"), Some("already_accepted")) => losers[i] += 1,
                _ => anyhow::bail!("unexpected answer: {r}"),
            }
        }
    }
    ensure!(winners == vec![1; CHATS], "winners per chat: {winners:?}");
    ensure!(
        losers == vec![AGENTS - 1; CHATS],
        "losers per chat: {losers:?}"
    );
    // Each user is told about exactly one agent.
    for u in &mut users {
        let j = u.notice("agent_joined").await?;
        ensure!(
            j["agent"].as_str().is_some_and(|a| a.starts_with("racer")),
            "{j}"
        );
    }
    let m = server.metrics().await?;
    ensure!(
        metric(&m, r#"switchboard_routing_decisions_total{kind="accept"}"#) == Some(CHATS as f64)
    );
    ensure!(
        metric(&m, r#"switchboard_errors_total{code="already_accepted"}"#)
            == Some((CHATS * (AGENTS - 1)) as f64)
    );
    ensure!(metric(&m, r#"switchboard_chats{state="active"}"#) == Some(CHATS as f64));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_error_frames_and_the_connection_survives() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    let mut alice = server.signed_in("alice-token").await?;

    let cases: [(&str, &str); 10] = [
        ("{not json", "malformed"),
        ("[1, 2, 3]", "malformed"),
        (r#""just a string""#, "malformed"),
        (r#"{"req": 1}"#, "malformed"),
        (r#"{"type": 42}"#, "malformed"),
        (r#"{"type": "fly_to_moon"}"#, "unknown_type"),
        (r#"{"type": "accept"}"#, "invalid_fields"),
        (r#"{"type": "accept", "chat": "seven"}"#, "invalid_fields"),
        (
            r#"{"type": "set_availability", "availability": {"available_for": 999}}"#,
            "invalid_fields",
        ),
        (r#"{"type": "tick"}"#, "wrong_role"),
    ];
    for (text, code) in cases {
        alice.send_text(text).await?;
        let f = alice.frame().await?;
        ensure!(f["type"] == "error" && f["code"] == code, "{text} -> {f}");
        ensure!(f["message"].as_str().is_some_and(|m| !m.is_empty()), "{f}");
    }
    // The req id is echoed whenever it can be read.
    alice
        .send_text(r#"{"type": "accept", "req": "r-1"}"#)
        .await?;
    let f = alice.frame().await?;
    ensure!(f["req"] == "r-1" && f["code"] == "invalid_fields", "{f}");
    alice
        .send_text(r#"{"type": "disconnect", "req": 5}"#)
        .await?;
    let f = alice.frame().await?;
    ensure!(f["req"] == 5 && f["code"] == "wrong_role", "{f}");

    // Unknown ids.
    ensure!(alice.err(json!({"type": "accept", "chat": 4242})).await? == "unknown_chat");
    ensure!(
        alice
            .err(json!({"type": "fill_ticket", "ticket": 9, "fields": {}}))
            .await?
            == "unknown_ticket"
    );
    ensure!(
        alice
            .err(json!({"type": "pin_article", "chat": 4242, "article": "KA-0001"}))
            .await?
            == "unknown_chat"
    );
    let mut user = server.user().await?;
    let bad_queue = json!({"type": "start_chat", "queue": "nope", "subject": "x"});
    ensure!(user.err(bad_queue).await? == "unknown_queue");
    let empty = json!({"type": "start_chat", "queue": "hardware", "subject": "  "});
    ensure!(user.err(empty).await? == "empty");
    still_usable(&mut alice).await?;
    still_usable(&mut user).await?;

    // Ping is answered.
    alice
        .send_raw(Message::Ping(Bytes::from_static(b"are you there")))
        .await?;
    loop {
        match alice.raw().await? {
            Message::Pong(p) => {
                ensure!(&p[..] == b"are you there");
                break;
            }
            Message::Text(_) => {}
            other => anyhow::bail!("unexpected {other:?}"),
        }
    }

    let m = server.metrics().await?;
    ensure!(
        metric(&m, r#"switchboard_errors_total{code="malformed"}"#) == Some(5.0),
        "{m:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_breakers_are_closed_with_the_right_code() -> Result<()> {
    let mut config = base_config();
    config.limits.max_message_bytes = 1024;
    let server = TestServer::start(config).await?;

    // Over the size limit: 1009.
    let mut user = server.user().await?;
    let big = json!({"type": "send", "chat": 1, "text": "x".repeat(4000)}).to_string();
    user.send_text(&big).await?;
    let close = user.closed().await?;
    ensure!(
        close.as_ref().map(|c| u16::from(c.code)) == Some(1009),
        "{close:?}"
    );

    // Invalid UTF-8 in a text frame: 1007.
    let mut user = server.user().await?;
    let frame = Frame::message(
        Bytes::from_static(b"{\"type\":\"\xff\xfe\"}"),
        OpCode::Data(Data::Text),
        true,
    );
    user.send_raw(Message::Frame(frame)).await?;
    let close = user.closed().await?;
    ensure!(
        close.as_ref().map(|c| u16::from(c.code)) == Some(1007),
        "{close:?}"
    );

    // A binary frame: 1003 (the protocol is JSON text), after the reply to the message
    // sent before it.
    let mut user = server.user().await?;
    let start = json!({"type": "start_chat", "req": 1, "queue": "hardware", "subject": "x"});
    user.send_burst(vec![
        Message::text(start.to_string()),
        Message::Binary(Bytes::from_static(b"\x00\x01")),
    ])
    .await?;
    let f = user.frame().await?;
    ensure!(f["req"] == 1 && f["reply"] == "chat_started", "{f}");
    let close = user.closed().await?;
    ensure!(
        close.as_ref().map(|c| u16::from(c.code)) == Some(1003),
        "{close:?}"
    );

    // The server is fine: others still work.
    let mut alice = server.signed_in("alice-token").await?;
    still_usable(&mut alice).await?;
    let (status, _) = server.http("GET", "/healthz", None, None).await?;
    ensure!(status == 200);
    let m = server.metrics().await?;
    ensure!(
        metric(&m, r#"switchboard_server_closes_total{code="1009"}"#) == Some(1.0),
        "{m:?}"
    );
    ensure!(
        metric(&m, r#"switchboard_server_closes_total{code="1007"}"#) == Some(1.0),
        "{m:?}"
    );
    ensure!(
        metric(&m, r#"switchboard_server_closes_total{code="1003"}"#) == Some(1.0),
        "{m:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_are_rate_limited_without_closing() -> Result<()> {
    let mut config = base_config();
    config.limits.messages_per_sec = 1;
    config.limits.burst = 5;
    let server = TestServer::start(config).await?;
    let mut alice = server.agent("alice-token").await?;
    for i in 0..30 {
        alice
            .send_text(&json!({"type": "search_articles", "term": "vpn", "req": i}).to_string())
            .await?;
    }
    let mut limited = 0;
    let mut answered = 0;
    for i in 0..30 {
        let f = alice.answer(json!(i)).await?;
        if f["code"] == "rate_limited" {
            limited += 1;
        } else {
            answered += 1;
        }
    }
    ensure!(
        answered >= 5 && limited >= 20,
        "answered {answered}, limited {limited}"
    );
    // Still connected: pings are not rate limited.
    alice
        .send_raw(Message::Ping(Bytes::from_static(b"p")))
        .await?;
    loop {
        if let Message::Pong(_) = alice.raw().await? {
            break;
        }
    }
    let m = server.metrics().await?;
    ensure!(metric(&m, r#"switchboard_errors_total{code="rate_limited"}"#) == Some(limited as f64));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_disconnected_and_nobody_else_waits() -> Result<()> {
    let mut config = base_config();
    config.limits.outbound_queue = 8;
    config.limits.max_message_bytes = 1024 * 1024;
    let server = TestServer::start(config).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let mut user = server.user().await?;
    let r = user
        .ok(json!({"type": "start_chat", "queue": "hardware", "subject": "big logs"}))
        .await?;
    let chat = r["chat"].as_u64().unwrap_or_default();
    alice.ok(json!({"type": "accept", "chat": chat})).await?;

    // Alice stops reading; the user keeps talking and is never held up. 128 × 256 KiB
    // is far more than socket buffers and alice's 8-frame queue can hold. Alice reads
    // again as soon as the server has given up on her: the close frame waits behind the
    // backlog, and the server drops a connection whose close cannot be written within
    // the write timeout (at most 2 s).
    let text = "y".repeat(256 * 1024);
    for sent in 1..=128 {
        user.ok(json!({"type": "send", "chat": chat, "text": text}))
            .await?;
        let m = server.metrics().await?;
        if metric(&m, "switchboard_slow_consumer_disconnects_total") == Some(1.0) {
            break;
        }
        ensure!(sent < 128, "128 messages never filled alice's queue");
    }
    // The notice that found her queue full reached nobody, and is counted so.
    server
        .wait_for_metric("switchboard_undeliverable_notices_total", |v| v >= 1.0)
        .await?;
    let close = alice.closed().await?;
    let close = close.ok_or_else(|| anyhow::anyhow!("no close frame"))?;
    ensure!(u16::from(close.code) == 1008, "{close:?}");
    ensure!(close.reason.as_str().contains("slow consumer"), "{close:?}");
    let m = server.metrics().await?;
    ensure!(
        metric(&m, "switchboard_slow_consumer_disconnects_total") == Some(1.0),
        "{m:?}"
    );
    // The user is unaffected.
    user.ok(json!({"type": "send", "chat": chat, "text": "still there?"}))
        .await?;
    Ok(())
}

/// The welcome takes no place in the outbound queue: with a queue of one frame, a
/// command sent in the same TCP write as the upgrade request still gets the welcome and
/// then its reply, not a slow-consumer close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_frame_queue_still_holds_the_first_reply() -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = base_config();
    config.limits.outbound_queue = 1;
    let server = TestServer::start(config).await?;
    let command = br#"{"type":"start_chat","req":1,"queue":"hardware","subject":"first"}"#;
    let mut bytes = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    )
    .into_bytes();
    // One masked text frame (a payload under 126 bytes: a one-byte length).
    let mask = [0x12, 0x34, 0x56, 0x78];
    bytes.extend([0x81, 0x80 | u8::try_from(command.len())?]);
    bytes.extend(mask);
    bytes.extend(command.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    let mut socket = tokio::net::TcpStream::connect(server.addr).await?;
    socket.write_all(&bytes).await?;
    // The 101 response, then server frames (unmasked, short enough for a 2-byte length).
    let mut got = Vec::new();
    let mut texts: Vec<Value> = Vec::new();
    let deadline = tokio::time::Instant::now() + switchboard_tests::WAIT;
    while texts.len() < 2 {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, socket.read(&mut buf)).await??;
        ensure!(n > 0, "connection closed after {texts:?}");
        got.extend_from_slice(&buf[..n]);
        let Some(head) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        ensure!(
            got.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&got)
        );
        let mut at = head + 4;
        texts.clear();
        while at + 2 <= got.len() {
            let (opcode, len) = (got[at] & 0x0f, usize::from(got[at + 1] & 0x7f));
            let (start, len) = match len {
                126 if at + 4 <= got.len() => (
                    at + 4,
                    usize::from(u16::from_be_bytes([got[at + 2], got[at + 3]])),
                ),
                126 => break,
                127 => anyhow::bail!("unexpectedly long frame"),
                n => (at + 2, n),
            };
            if start + len > got.len() {
                break;
            }
            ensure!(
                opcode == 1,
                "frame with opcode {opcode}: {:?}",
                &got[start..start + len]
            );
            texts.push(serde_json::from_slice(&got[start..start + len])?);
            at = start + len;
        }
    }
    ensure!(texts[0]["type"] == "welcome", "{texts:?}");
    ensure!(
        texts[1]["req"] == 1 && texts[1]["reply"] == "chat_started",
        "{texts:?}"
    );
    let m = server.metrics().await?;
    ensure!(metric(&m, "switchboard_slow_consumer_disconnects_total") == Some(0.0));
    Ok(())
}

/// A client that drops its connection without a close frame has not broken the
/// protocol: nothing is counted among the server's closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_not_counted_as_a_protocol_error() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    let mut user = server.user().await?;
    user.ok(json!({"type": "start_chat", "queue": "hardware", "subject": "bye"}))
        .await?;
    // Dropped: the socket closes without a WebSocket close frame.
    drop(user);
    let deadline = tokio::time::Instant::now() + switchboard_tests::WAIT;
    loop {
        let m = server.metrics().await?;
        if metric(&m, r#"switchboard_connections{role="user"}"#) == Some(0.0) {
            ensure!(
                !m.iter()
                    .any(|(s, _)| s.starts_with("switchboard_server_closes_total")),
                "{m:?}"
            );
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the connection was never let go"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Requests that arrive together are answered together, and every one is answered: a
/// client that pipelines more requests than its outbound queue holds is not taken for
/// a slow consumer, and the replies to commands sent just before a close frame still
/// arrive, before the server's close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_all_get_replies_even_before_a_close() -> Result<()> {
    let mut config = base_config();
    config.limits.outbound_queue = 4;
    let server = TestServer::start(config).await?;
    let mut user = server.user().await?;
    let burst: Vec<Message> = (1..=20)
        .map(|i| Message::text(json!({"type": "list_my_chats", "req": i}).to_string()))
        .collect();
    user.send_burst(burst).await?;
    for i in 1..=20 {
        // (A user may not list chats: each request gets its error frame.)
        let r = user.answer(json!(i)).await?;
        ensure!(r["code"] == "wrong_role", "request {i}: {r}");
    }
    let start = json!({"type": "start_chat", "req": 99, "queue": "hardware", "subject": "bye"});
    user.send_burst(vec![Message::text(start.to_string()), Message::Close(None)])
        .await?;
    let mut replied = false;
    loop {
        match user.raw().await? {
            Message::Text(t) => {
                let f: Value = serde_json::from_str(t.as_str())?;
                replied |= f["req"] == 99 && f["reply"] == "chat_started";
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    ensure!(
        replied,
        "no reply to the command sent just before the close"
    );
    let m = server.metrics().await?;
    ensure!(
        metric(&m, "switchboard_slow_consumer_disconnects_total") == Some(0.0),
        "a pipelining client was taken for a slow consumer"
    );
    Ok(())
}

/// Connects, retrying while the server still counts a connection that just closed.
async fn connect_retry(url: &str) -> Result<Client> {
    let deadline = tokio::time::Instant::now() + switchboard_tests::WAIT;
    loop {
        match Client::connect(url, None).await {
            Ok(c) => return Ok(c),
            Err(e) => ensure!(
                tokio::time::Instant::now() < deadline,
                "never connected: {e}"
            ),
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_and_bad_upgrades() -> Result<()> {
    let mut config = base_config();
    config.limits.max_connections = 2;
    let server = TestServer::start(config).await?;
    let url = format!("ws://{}/ws", server.addr);
    let _a = server.user().await?;
    let b = server.user().await?;
    ensure!(b.welcome["user"] == 2, "{}", b.welcome);
    let third = Client::connect(&url, None).await;
    let err = third.err().map(|e| e.to_string()).unwrap_or_default();
    ensure!(err.contains("503"), "{err}");
    // A slot frees when a connection ends.
    b.close().await?;
    let c = connect_retry(&url).await?;
    ensure!(c.welcome["role"] == "user");
    // Refused upgrades (the third, and any retries while the slot was still taken)
    // took no id: user ids count admitted connections.
    ensure!(c.welcome["user"] == 3, "{}", c.welcome);

    // Unknown agent token: 401 before any upgrade (and before the connection limit).
    let err = Client::connect(&url, Some("who-am-i"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    ensure!(err.contains("401"), "{err}");
    // Token in the query string works like the header.
    c.close().await?;
    let c = connect_retry(&format!("{url}?token=bob-token")).await?;
    ensure!(c.welcome["agent"] == "bob", "{}", c.welcome);
    // Plain GET /ws without upgrade headers.
    let (status, body) = server.http("GET", "/ws", None, None).await?;
    ensure!(
        status == 426 && body.contains("upgrade_required"),
        "{status} {body}"
    );
    Ok(())
}

/// The status line and headers the server answers `request` (raw HTTP) with,
/// lower-cased.
async fn response_head(addr: std::net::SocketAddr, request: &str) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(request.as_bytes()).await?;
    let mut buf = Vec::new();
    // Up to the end of the headers: a refused upgrade may keep the connection open.
    let deadline = tokio::time::Instant::now() + switchboard_tests::WAIT;
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut chunk = [0u8; 1024];
        let n = tokio::time::timeout_at(deadline, s.read(&mut chunk)).await??;
        ensure!(n > 0, "closed before the headers ended");
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    Ok(text
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string())
}

/// Refusals carry the headers their status calls for: `Allow` on a 405, `Upgrade` (and
/// `Connection: upgrade`) on a 426, the supported `Sec-WebSocket-Version` on a refused version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_what_would_be_accepted() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    let addr = server.addr;
    let close = "Connection: close\r\n\r\n";
    let head = response_head(
        addr,
        &format!("DELETE /metrics HTTP/1.1\r\nHost: x\r\n{close}"),
    )
    .await?;
    ensure!(
        head.starts_with("http/1.1 405") && head.contains("\r\nallow: get, head\r\n"),
        "{head}"
    );
    let head = response_head(addr, &format!("HEAD /ws HTTP/1.1\r\nHost: x\r\n{close}")).await?;
    ensure!(
        head.starts_with("http/1.1 405") && head.contains("\r\nallow: get\r\n"),
        "{head}"
    );
    let head = response_head(
        addr,
        &format!(
            "DELETE /admin/config HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n{close}"
        ),
    )
    .await?;
    ensure!(
        head.starts_with("http/1.1 405") && head.contains("\r\nallow: get, head, put\r\n"),
        "{head}"
    );
    let head = response_head(addr, &format!("GET /ws HTTP/1.1\r\nHost: x\r\n{close}")).await?;
    ensure!(
        head.starts_with("http/1.1 426")
            && head.contains("\r\nupgrade: websocket")
            && head.contains("\r\nconnection: upgrade"),
        "{head}"
    );
    let head = response_head(
        addr,
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    )
    .await?;
    ensure!(
        head.starts_with("http/1.1 400") && head.contains("\r\nsec-websocket-version: 13"),
        "{head}"
    );
    // A key that is not 16 bytes of base64.
    let head = response_head(
        addr,
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: not-a-key\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await?;
    ensure!(head.starts_with("http/1.1 400"), "{head}");
    // A missing token: the scheme to present one in.
    let head = response_head(
        addr,
        &format!("GET /api/chats HTTP/1.1\r\nHost: x\r\n{close}"),
    )
    .await?;
    ensure!(
        head.starts_with("http/1.1 401") && head.contains("\r\nwww-authenticate: bearer\r\n"),
        "{head}"
    );
    // The scheme's name is case-insensitive (RFC 9110); another scheme is refused.
    for (scheme, status) in [("BEARER", "200"), ("bEaReR", "200"), ("Basic", "401")] {
        let head = response_head(
            addr,
            &format!("GET /admin/config HTTP/1.1\r\nHost: x\r\nAuthorization: {scheme} {ADMIN}\r\n{close}"),
        )
        .await?;
        ensure!(
            head.starts_with(&format!("http/1.1 {status}")),
            "{scheme}: {head}"
        );
    }
    Ok(())
}

/// HEAD is answered as GET is, without the body: health checks and monitors that
/// probe with HEAD get their 200 (and a 401 where GET would get one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_reads_like_get_without_a_body() -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start(base_config()).await?;
    let whole = |request: String| async move {
        let mut s = tokio::net::TcpStream::connect(server.addr).await?;
        s.write_all(request.as_bytes()).await?;
        let mut buf = Vec::new();
        tokio::time::timeout(switchboard_tests::WAIT, s.read_to_end(&mut buf)).await??;
        anyhow::Ok(String::from_utf8_lossy(&buf).to_ascii_lowercase())
    };
    let auth = format!("Authorization: Bearer {ADMIN}\r\n");
    for (path, headers, status) in [
        ("/healthz", "", "200"),
        ("/metrics", "", "200"),
        ("/api/chats", auth.as_str(), "200"),
        ("/admin/config", auth.as_str(), "200"),
        ("/admin/agents", "", "401"),
    ] {
        let get = whole(format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
        ))
        .await?;
        let head = whole(format!(
            "HEAD {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
        ))
        .await?;
        let (get_head, get_body) = get.split_once("\r\n\r\n").unwrap_or_default();
        ensure!(
            head.starts_with(&format!("http/1.1 {status}")) && head.ends_with("\r\n\r\n"),
            "HEAD {path}: {head:?}"
        );
        ensure!(
            get_head.starts_with(&format!("http/1.1 {status}")) && !get_body.is_empty(),
            "GET {path}: {get:?}"
        );
        // The same type and length as GET's body (the metrics change between the two
        // requests, so only their type is compared), and no body.
        let header = |h: &str, name: &str| {
            h.lines()
                .find(|l| l.starts_with(&format!("{name}:")))
                .map(str::to_string)
        };
        let mut same = vec!["content-type"];
        if path != "/metrics" {
            same.push("content-length");
        }
        for name in same {
            ensure!(
                header(&head, name).is_some() && header(&head, name) == header(get_head, name),
                "{path} {name}: {head:?} vs {get_head:?}"
            );
        }
    }
    Ok(())
}

/// What the HTTP parser refuses before any route sees it gets hyper's bare status (no
/// JSON body), as docs/protocol.md says: 400 for a request line that is not HTTP, 431
/// for more than 100 header fields or headers over about 400 KiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparseable_requests_get_a_bare_status() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    let head = response_head(server.addr, "HELLO THERE\r\n\r\n").await?;
    ensure!(head.starts_with("http/1.1 400"), "{head}");
    let many: String = (0..101).map(|i| format!("X-Field-{i}: {i}\r\n")).collect();
    let head = response_head(
        server.addr,
        &format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n"),
    )
    .await?;
    ensure!(head.starts_with("http/1.1 431"), "{head}");
    let long = "x".repeat(500 * 1024);
    let head = response_head(
        server.addr,
        &format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: {long}\r\n\r\n"),
    )
    .await?;
    ensure!(head.starts_with("http/1.1 431"), "{head}");
    // The server still answers on a new connection.
    let (status, _) = server.http("GET", "/healthz", None, None).await?;
    ensure!(status == 200, "{status}");
    Ok(())
}

/// A request body that stops arriving is answered `408` once the write timeout has
/// passed, instead of holding its connection forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_arrives_times_out() -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = base_config();
    config.limits.write_timeout_ms = 300;
    let server = TestServer::start(config).await?;
    let mut s = tokio::net::TcpStream::connect(server.addr).await?;
    // Promises 100 bytes, sends 10, and waits.
    s.write_all(
        format!(
            "POST /admin/queues HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"queue\":"
        )
        .as_bytes(),
    )
    .await?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(switchboard_tests::WAIT, s.read(&mut buf)).await??;
    let head = String::from_utf8_lossy(&buf[..n]);
    ensure!(head.starts_with("HTTP/1.1 408"), "{head}");
    ensure!(head.contains("request_timeout"), "{head}");
    Ok(())
}

/// Method, path, token, body, expected status, expected code.
type HttpCase<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    u16,
    &'a str,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_http_requests_get_clear_statuses() -> Result<()> {
    let mut config = base_config();
    config.limits.max_http_body_bytes = 512;
    let server = TestServer::start(config).await?;
    let code = |body: &str| -> String {
        serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let cases: Vec<HttpCase> = vec![
        ("GET", "/nowhere", None, None, 404, "not_found"),
        ("GET", "/%ff%fe/../..", None, None, 404, "not_found"),
        (
            "POST",
            "/healthz",
            None,
            Some("{}"),
            405,
            "method_not_allowed",
        ),
        ("DELETE", "/metrics", None, None, 405, "method_not_allowed"),
        ("GET", "/api/tickets", None, None, 401, "unauthorized"),
        (
            "GET",
            "/api/tickets",
            Some("bogus"),
            None,
            401,
            "unauthorized",
        ),
        (
            "GET",
            "/api/tickets/abc",
            Some(ADMIN),
            None,
            400,
            "bad_request",
        ),
        (
            "GET",
            "/api/tickets/77",
            Some(ADMIN),
            None,
            404,
            "not_found",
        ),
        // A numeric id has one spelling, escapes included.
        (
            "GET",
            "/api/chats/%31",
            Some(ADMIN),
            None,
            400,
            "bad_request",
        ),
        (
            "GET",
            "/api/tickets/%31/",
            Some(ADMIN),
            None,
            400,
            "bad_request",
        ),
        (
            "GET",
            "/api/chats/1",
            Some("alice-token"),
            None,
            404,
            "not_found",
        ),
        ("GET", "/admin/config", None, None, 401, "unauthorized"),
        (
            "GET",
            "/admin/config",
            Some("alice-token"),
            None,
            403,
            "forbidden",
        ),
        (
            "GET",
            "/admin/config",
            Some("wrong"),
            None,
            403,
            "forbidden",
        ),
        (
            "DELETE",
            "/admin/config",
            Some(ADMIN),
            None,
            405,
            "method_not_allowed",
        ),
        (
            "PUT",
            "/admin/config",
            Some(ADMIN),
            Some("{nope"),
            400,
            "bad_request",
        ),
        (
            "PUT",
            "/admin/config",
            Some(ADMIN),
            Some(r#"{"routing": {"policy": "telepathy"}}"#),
            400,
            "bad_request",
        ),
        (
            "PUT",
            "/admin/config",
            Some(ADMIN),
            Some(r#"{"routing": {"auto_accept": true, "policy": "manual"}}"#),
            422,
            "invalid_config",
        ),
        (
            "POST",
            "/admin/queues",
            Some(ADMIN),
            Some(r#"{"queue": "hardware"}"#),
            409,
            "already_exists",
        ),
        (
            "POST",
            "/admin/queues",
            Some(ADMIN),
            Some(r#"{"name": 1}"#),
            400,
            "bad_request",
        ),
        (
            "POST",
            "/admin/agents",
            Some(ADMIN),
            Some(r#"{"id": "zed", "queues": ["nowhere"]}"#),
            404,
            "unknown_queue",
        ),
        (
            "POST",
            "/admin/agents",
            Some(ADMIN),
            Some(r#"{"id": "zed", "token": "alice-token"}"#),
            409,
            "already_exists",
        ),
    ];
    for (method, path, token, body, status, want) in cases {
        let (got, text) = server.http(method, path, token, body).await?;
        ensure!(
            got == status && code(&text) == want,
            "{method} {path}: {got} {text}"
        );
    }
    let big = format!(r#"{{"queue": "{}"}}"#, "q".repeat(2000));
    let (got, text) = server
        .http("POST", "/admin/queues", Some(ADMIN), Some(&big))
        .await?;
    ensure!(
        got == 413 && code(&text) == "payload_too_large",
        "{got} {text}"
    );
    // Garbage that is not HTTP at all: the server answers 400 or drops it, and lives on.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(server.addr).await?;
        s.write_all(b"\x16\x03\x01 this is not http\r\n\r\n")
            .await?;
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(switchboard_tests::WAIT, s.read_to_end(&mut buf)).await?;
    }
    let (status, _) = server.http("GET", "/healthz", None, None).await?;
    ensure!(status == 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_changes_routing_and_provisions_at_run_time() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    let (status, body) = server
        .http("GET", "/admin/config", Some(ADMIN), None)
        .await?;
    let v: Value = serde_json::from_str(&body)?;
    ensure!(
        status == 200 && v["routing"]["auto_accept"] == false,
        "{body}"
    );
    // Changing only routing is fine; disconnect and limits are read-only.
    let mut changed = v.clone();
    changed["routing"]["auto_accept"] = json!(true);
    changed["routing"]["policy"] = json!("round-robin");
    let (status, body) = server
        .http(
            "PUT",
            "/admin/config",
            Some(ADMIN),
            Some(&changed.to_string()),
        )
        .await?;
    ensure!(
        status == 200 && body.contains("round-robin"),
        "{status} {body}"
    );
    // Read-only sections given in part: the fields left out are the ones in force (the
    // base configuration's rate limit is not the default), not the defaults.
    let routing = &changed["routing"];
    let partial = [
        (
            json!({"routing": routing, "limits": {"burst": 10000}}),
            200,
            "round-robin",
        ),
        (
            json!({"routing": routing, "limits": {}, "disconnect": {"user": "abandon"}}),
            200,
            "round-robin",
        ),
        (
            json!({"routing": routing, "limits": {"burst": 1}}),
            422,
            "read_only",
        ),
        (
            json!({"routing": routing, "disconnect": {"agent_grace": 1}}),
            422,
            "read_only",
        ),
        (
            json!({"routing": routing, "limits": {"burst": "many"}}),
            400,
            "bad_request",
        ),
        (
            json!({"routing": routing, "limits": {"bursts": 10000}}),
            400,
            "bad_request",
        ),
        (
            json!({"routing": routing, "limits": [1]}),
            400,
            "bad_request",
        ),
    ];
    for (put, status, want) in partial {
        let (got, body) = server
            .http("PUT", "/admin/config", Some(ADMIN), Some(&put.to_string()))
            .await?;
        ensure!(got == status && body.contains(want), "{put}: {got} {body}");
    }
    changed["limits"]["burst"] = json!(1);
    let (status, body) = server
        .http(
            "PUT",
            "/admin/config",
            Some(ADMIN),
            Some(&changed.to_string()),
        )
        .await?;
    ensure!(
        status == 422 && body.contains("read_only"),
        "{status} {body}"
    );

    // Provision a queue and an agent, who can connect and is routed to at once.
    let (status, _) = server
        .http(
            "POST",
            "/admin/queues",
            Some(ADMIN),
            Some(r#"{"queue": "billing"}"#),
        )
        .await?;
    ensure!(status == 201);
    let agent = r#"{"id": "erin", "name": "Erin", "token": "erin-token", "permissions": ["ESChat_Agent"], "queues": ["billing"]}"#;
    let (status, body) = server
        .http("POST", "/admin/agents", Some(ADMIN), Some(agent))
        .await?;
    ensure!(status == 201, "{status} {body}");
    let mut erin = server.signed_in("erin-token").await?;
    let mut user = server.user().await?;
    user.ok(json!({"type": "start_chat", "queue": "billing", "subject": "invoice"}))
        .await?;
    let a = erin.notice("assigned").await?;
    ensure!(a["queue"] == "billing", "{a}");
    let (status, body) = server
        .http("GET", "/admin/agents", Some(ADMIN), None)
        .await?;
    ensure!(status == 200 && body.contains("\"erin\""), "{body}");
    Ok(())
}

/// Keep-alive: the server pings every `ping_interval_ms`; a client that reads (and so
/// answers the pings) stays connected past `idle_timeout_ms`, one that stays silent is
/// closed with 1008 once that much time passed without a frame from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_pings_and_closes_the_silent() -> Result<()> {
    use std::time::Duration;
    let mut config = base_config();
    config.limits.ping_interval_ms = 100;
    config.limits.idle_timeout_ms = 1_000;
    let server = TestServer::start(config).await?;
    let mut live = server.user().await?;
    let mut silent = server.user().await?;
    let until = tokio::time::Instant::now() + Duration::from_millis(2_500);
    let mut pings = 0;
    while let Ok(m) = tokio::time::timeout_at(until, live.raw()).await {
        if let Message::Ping(_) = m? {
            pings += 1;
        }
    }
    ensure!(pings >= 5, "{pings} pings in 2.5 s at one per 100 ms");
    still_usable(&mut live).await?;
    // The silent one read nothing meanwhile, so it answered no ping.
    let close = silent.closed().await?.context("a close frame")?;
    ensure!(
        u16::from(close.code) == 1008 && close.reason.as_str().contains("idle timeout"),
        "{close:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_read_api_requests_at_once_all_get_their_answer() -> Result<()> {
    // The server copies and writes a few read API answers at a time; the rest wait
    // their turn. Many more at once than that, then as many again one after another:
    // every turn taken is given back, and everyone gets the same answer.
    let server = TestServer::start(base_config()).await?;
    let mut users = Vec::new();
    for i in 0..3 {
        let mut u = server.user().await?;
        u.ok(json!({"type": "start_chat", "queue": "hardware", "subject": format!("chat {i}")}))
            .await?;
        users.push(u);
    }
    let (status, expected) = server.http("GET", "/api/chats", Some(ADMIN), None).await?;
    ensure!(status == 200, "{status} {expected}");
    ensure!(expected.matches("\"subject\"").count() == 3, "{expected}");
    let at_once = (0..24).map(|_| server.http("GET", "/api/chats", Some(ADMIN), None));
    for answer in futures_util::future::join_all(at_once).await {
        let (status, body) = answer?;
        ensure!(status == 200 && body == expected, "{status} {body}");
    }
    for _ in 0..24 {
        let (status, body) = server.http("GET", "/api/chats", Some(ADMIN), None).await?;
        ensure!(status == 200 && body == expected, "{status} {body}");
    }
    server.stop().await
}
