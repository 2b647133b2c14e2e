//! Connections coming and going: the disconnect rules (agent grace period and resume,
//! user disconnect), a newer connection replacing an older one, graceful shutdown with
//! a flushed journal, and `/metrics` in Prometheus text format.

use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use switchboard_server::protocol::{JournalEntry, JournalResult};
use switchboard_tests::{
    ADMIN, Client, TestServer, base_config, metric, parse_prometheus, temp_path,
};
use tokio_tungstenite::tungstenite::Message;

fn agent<'a>(agents: &'a Value, id: &str) -> &'a Value {
    agents["agents"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == id))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_gone_after_grace_chats_back_to_front_of_queue() -> Result<()> {
    let mut config = base_config();
    config.disconnect.agent_grace = Duration::from_millis(200);
    let server = TestServer::start(config).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let mut bob = server.signed_in("bob-token").await?;
    let mut user = server.user().await?;
    let first = user
        .ok(json!({"type": "start_chat", "queue": "software", "subject": "first"}))
        .await?["chat"]
        .as_u64()
        .context("chat id")?;
    alice.ok(json!({"type": "accept", "chat": first})).await?;
    user.ok(json!({"type": "send", "chat": first, "text": "before the drop"}))
        .await?;
    let mut later = server.user().await?;
    let second = later
        .ok(json!({"type": "start_chat", "queue": "software", "subject": "second"}))
        .await?["chat"]
        .as_u64()
        .context("chat id")?;

    // The connection drops without a close handshake.
    drop(alice);
    let left = user.notice("agent_left").await?;
    ensure!(
        left["reason"] == "agent_gone" && left["agent"] == "alice",
        "{left}"
    );
    bob.notice_where(|n| {
        n["notice"] == "queue_changed" && n["queue"] == "software" && n["queued"] == 2
    })
    .await?;

    // Back at the front, keeping its age.
    let q = bob.ok(json!({"type": "list_queue"})).await?;
    let order: Vec<u64> = q["chats"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["chat"].as_u64()).collect())
        .unwrap_or_default();
    ensure!(order == vec![first, second], "{q}");
    let (_, body) = server
        .http("GET", &format!("/api/chats/{first}"), Some(ADMIN), None)
        .await?;
    let chat: Value = serde_json::from_str(&body)?;
    ensure!(
        q["chats"][0]["waiting_since"] == chat["requested_at"],
        "{q} {chat}"
    );

    let acc = bob.ok(json!({"type": "accept", "chat": first})).await?;
    ensure!(acc["history"][0]["text"] == "before the drop", "{acc}");
    // Alice signing in later starts afresh with no chats.
    let mut alice = server.signed_in("alice-token").await?;
    let mine = alice.ok(json!({"type": "list_my_chats"})).await?;
    ensure!(
        mine["chats"].as_array().is_some_and(Vec::is_empty),
        "{mine}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_reconnecting_in_time_resumes_chats() -> Result<()> {
    let mut config = base_config();
    config.disconnect.agent_grace = Duration::from_secs(60);
    let server = TestServer::start(config).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let mut user = server.user().await?;
    let chat = user
        .ok(json!({"type": "start_chat", "queue": "hardware", "subject": "keyboard"}))
        .await?["chat"]
        .as_u64()
        .context("chat id")?;
    alice.ok(json!({"type": "accept", "chat": chat})).await?;
    user.ok(json!({"type": "send", "chat": chat, "text": "it types double"}))
        .await?;
    alice.notice("message").await?;
    drop(alice);
    server
        .wait_for_agents(|v| {
            let a = agent(v, "alice");
            a["signed_in"] == true && a["connected"] == false
        })
        .await?;
    let m = server.metrics().await?;
    ensure!(metric(&m, r#"switchboard_agents{status="disconnected"}"#) == Some(1.0));
    // Written while the agent is away: it reaches the agent when it is back (R10).
    user.ok(json!({"type": "send", "chat": chat, "text": "still there?"}))
        .await?;

    let mut alice = server.agent("alice-token").await?;
    let st = alice.ok(json!({"type": "sign_in"})).await?;
    ensure!(st["my_chats"] == json!([chat]), "{st}");
    let resumed = alice.notice("resumed").await?;
    let texts: Vec<&str> = resumed["history"]
        .as_array()
        .map(|h| h.iter().filter_map(|e| e["text"].as_str()).collect())
        .unwrap_or_default();
    ensure!(
        resumed["chat"] == chat && texts == ["it types double", "still there?"],
        "{resumed}"
    );
    user.ok(json!({"type": "send", "chat": chat, "text": "you back?"}))
        .await?;
    let m = alice.notice("message").await?;
    ensure!(m["entry"]["text"] == "you back?", "{m}");
    alice
        .ok(json!({"type": "send", "chat": chat, "text": "yes"}))
        .await?;
    user.notice("message").await?;
    ensure!(
        !user.kept().any(|f| f["notice"] == "agent_left"),
        "user was told the agent left"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_disconnect_abandons_and_tells_the_agent() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let mut user = server.user().await?;
    let chat = user
        .ok(json!({"type": "start_chat", "queue": "hardware", "subject": "mouse"}))
        .await?["chat"]
        .as_u64()
        .context("chat id")?;
    alice.ok(json!({"type": "accept", "chat": chat})).await?;
    let mut waiting = server.user().await?;
    let queued = waiting
        .ok(json!({"type": "start_chat", "queue": "hardware", "subject": "monitor"}))
        .await?["chat"]
        .as_u64()
        .context("chat id")?;
    alice
        .notice_where(|n| n["notice"] == "queue_changed" && n["queued"] == 1)
        .await?;

    user.close().await?;
    let ended = alice.notice("chat_ended").await?;
    ensure!(
        ended["chat"] == chat && ended["state"] == "abandoned",
        "{ended}"
    );
    drop(waiting);
    // (A queue count pushed before the waiting user left may still say 0 from before
    // they came, so the chats themselves are what is waited for.)
    let deadline = tokio::time::Instant::now() + switchboard_tests::WAIT;
    for id in [chat, queued] {
        loop {
            let (_, body) = server
                .http("GET", &format!("/api/chats/{id}"), Some(ADMIN), None)
                .await?;
            let v: Value = serde_json::from_str(&body)?;
            if v["state"] == "abandoned" {
                break;
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "chat {id} not abandoned: {v}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    alice
        .notice_where(|n| n["notice"] == "queue_changed" && n["queued"] == 0)
        .await?;
    let mine = alice.ok(json!({"type": "list_my_chats"})).await?;
    ensure!(
        mine["chats"].as_array().is_some_and(Vec::is_empty),
        "{mine}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_agent_connection_replaces_older_without_disconnecting() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    let mut old = server.signed_in("alice-token").await?;
    let mut new = server.agent("alice-token").await?;
    let close = old.closed().await?.context("no close frame")?;
    ensure!(
        u16::from(close.code) == 1000 && close.reason.as_str().contains("replaced"),
        "{close:?}"
    );
    let st = new.ok(json!({"type": "sign_in"})).await?;
    ensure!(st["agent"] == "alice", "{st}");
    server
        .wait_for_agents(|v| agent(v, "alice")["connected"] == true)
        .await?;
    let mut user = server.user().await?;
    user.ok(json!({"type": "start_chat", "queue": "hardware", "subject": "x"}))
        .await?;
    new.notice("queue_changed").await?;
    Ok(())
}

/// For the hand-over tests: a flood is not rate limited, and an old session is still
/// in its write when the new connection kicks it, however long the flood takes on a
/// slow machine.
fn handover_config() -> switchboard_server::config::ServerConfig {
    let mut config = base_config();
    config.limits.messages_per_sec = 100_000;
    config.limits.burst = 100_000;
    config.limits.write_timeout_ms = 60_000;
    config
}

/// Notices still queued for an agent connection that a newer one replaces go to the
/// newer one, after its welcome and in order, instead of being dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacing_connection_gets_the_notices_its_predecessor_still_held() -> Result<()> {
    let server = TestServer::start(handover_config()).await?;
    let (mut old, mut user, chat) = in_a_chat(&server, "handover").await?;
    // The old connection stops reading: 18 MB of messages fill its socket's buffers,
    // its session blocks in a write, and the later notices wait in its queue.
    flood(&mut user, &chat, 300).await?;
    let mut new = server.agent("alice-token").await?;
    let seqs = messages_until(&mut new, 300).await?;
    ensure!(
        !seqs.is_empty(),
        "no queued message reached the new connection"
    );
    ensure!(
        seqs.windows(2).all(|w| w[0] + 1 == w[1]) && seqs.last() == Some(&300),
        "the handed-over messages are not the tail of the conversation in order: {seqs:?}"
    );
    // Between them, the two connections got every message: what the old socket holds
    // (until the frame the kick cut off) and what was handed over overlap, if anything,
    // but leave no gap.
    let mut got: BTreeSet<u64> = seqs.into_iter().collect();
    got.extend(messages_to_the_end(&mut old).await?);
    let missing: Vec<u64> = (1..=300).filter(|n| !got.contains(n)).collect();
    ensure!(missing.is_empty(), "lost messages: {missing:?}");
    Ok(())
}

/// The `seq` of each chat message `client` receives, until message `last` (or until
/// [`switchboard_tests::WAIT`] passes).
async fn messages_until(client: &mut Client, last: u64) -> Result<Vec<u64>> {
    let mut seqs = Vec::new();
    let deadline = tokio::time::Instant::now() + switchboard_tests::WAIT;
    while seqs.last() != Some(&last) {
        let Ok(f) = tokio::time::timeout_at(deadline, client.frame()).await else {
            break;
        };
        let f = f?;
        if f["notice"] == "message" {
            seqs.push(f["entry"]["seq"].as_u64().context("seq")?);
        }
    }
    Ok(seqs)
}

/// The `seq` of each chat message a replaced connection still receives before it ends
/// (its close, or the server dropping it).
async fn messages_to_the_end(client: &mut Client) -> Result<Vec<u64>> {
    let mut seqs = Vec::new();
    let deadline = tokio::time::Instant::now() + switchboard_tests::WAIT;
    while let Ok(Ok(f)) = tokio::time::timeout_at(deadline, client.frame()).await {
        if f["notice"] == "message" {
            seqs.push(f["entry"]["seq"].as_u64().context("seq")?);
        }
    }
    Ok(seqs)
}

/// An agent that reconnects twice in quick succession loses nothing either: the middle
/// connection, replaced while it was still taking over (or writing) its predecessor's
/// notices, passes them on to the newest one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_quick_replacements_lose_no_notice() -> Result<()> {
    let server = TestServer::start(handover_config()).await?;
    let (mut first, mut user, chat) = in_a_chat(&server, "double handover").await?;
    flood(&mut user, &chat, 300).await?;
    // The second connection reads nothing after its welcome; the third replaces it at
    // once.
    let mut second = server.agent("alice-token").await?;
    let mut third = server.agent("alice-token").await?;
    let mut got: BTreeSet<u64> = messages_until(&mut third, 300).await?.into_iter().collect();
    ensure!(
        got.contains(&300),
        "the newest connection never got the last message"
    );
    for old in [&mut first, &mut second] {
        got.extend(messages_to_the_end(old).await?);
    }
    let missing: Vec<u64> = (1..=300).filter(|n| !got.contains(n)).collect();
    ensure!(missing.is_empty(), "lost messages: {missing:?}");
    Ok(())
}

/// Every command a replaced connection had read is answered on it before its close
/// frame, and what it had not read has no effect: the messages in the transcript are
/// exactly the ones whose `send` was answered. (The kick lands while the older session
/// works through a pipelined burst, in the middle of a batch more often than not.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_connection_answers_every_command_it_read() -> Result<()> {
    let server = TestServer::start(handover_config()).await?;
    for round in 0..5 {
        let (mut old, _user, chat) = in_a_chat(&server, &format!("replies {round}")).await?;
        let burst = (1..=2_000u64)
            .map(|req| {
                let send =
                    json!({"type": "send", "chat": chat, "text": format!("m{req}"), "req": req});
                Message::text(send.to_string())
            })
            .collect();
        old.send_burst(burst).await?;
        let _new = server.agent("alice-token").await?;
        let answered = answers_until_closed(&mut old).await?;
        let (status, body) = server
            .http("GET", &format!("/api/chats/{chat}"), Some(ADMIN), None)
            .await?;
        ensure!(status == 200, "{status} {body}");
        let transcript: Value = serde_json::from_str(&body)?;
        let carried_out: BTreeSet<u64> = transcript["transcript"]
            .as_array()
            .context("transcript")?
            .iter()
            .filter_map(|e| e["text"].as_str()?.strip_prefix('m')?.parse().ok())
            .collect();
        ensure!(
            answered == carried_out,
            "round {round}: {} sends answered, {} carried out; carried out without an \
             answer: {:?}",
            answered.len(),
            carried_out.len(),
            carried_out.difference(&answered).collect::<Vec<_>>()
        );
    }
    Ok(())
}

/// The `req` of every reply a connection receives until the server closes it.
async fn answers_until_closed(client: &mut Client) -> Result<BTreeSet<u64>> {
    let mut reqs = BTreeSet::new();
    loop {
        match client.raw().await? {
            Message::Text(t) => {
                let f: Value = serde_json::from_str(t.as_str())?;
                if f["type"] == "reply" {
                    reqs.insert(f["req"].as_u64().context("req")?);
                } else {
                    ensure!(f["type"] == "notice", "unexpected frame: {f}");
                }
            }
            Message::Close(_) => return Ok(reqs),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_closes_with_1001_and_flushes_the_journal() -> Result<()> {
    let journal = temp_path("journal.jsonl");
    let mut config = base_config();
    config.journal = Some(journal.clone());
    let server = TestServer::start(config).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let mut user = server.user().await?;
    let chat = user
        .ok(json!({"type": "start_chat", "queue": "hardware", "subject": "shutdown"}))
        .await?["chat"]
        .as_u64()
        .context("chat id")?;
    alice.ok(json!({"type": "accept", "chat": chat})).await?;
    ensure!(alice.err(json!({"type": "accept", "chat": 99})).await? == "unknown_chat");
    user.ok(json!({"type": "send", "chat": chat, "text": "bye"}))
        .await?;

    let closes = tokio::spawn(async move {
        let a = alice.closed().await?;
        let u = user.closed().await?;
        anyhow::Ok((a, u))
    });
    server.stop().await?;
    let (a, u) = closes.await??;
    for c in [a, u] {
        let c = c.context("no close frame")?;
        ensure!(u16::from(c.code) == 1001, "{c:?}");
    }

    let text = std::fs::read_to_string(&journal)?;
    let entries: Vec<JournalEntry> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    ensure!(!entries.is_empty());
    for (i, e) in entries.iter().enumerate() {
        ensure!(e.seq == i as u64 + 1, "gap at {i}: {}", e.seq);
    }
    let names: Vec<&str> = entries.iter().map(|e| e.command.name()).collect();
    for want in ["sign_in", "start_chat", "accept", "send", "disconnect"] {
        ensure!(names.contains(&want), "{want} missing from {names:?}");
    }
    ensure!(
        entries.iter().any(
            |e| matches!(&e.result, JournalResult::Error { code, .. } if code == "unknown_chat")
        ),
        "refused command not journaled"
    );
    ensure!(
        entries.iter().any(
            |e| matches!(&e.result, JournalResult::Ok { deliveries, .. } if !deliveries.is_empty())
        ),
        "no deliveries journaled"
    );
    ensure!(
        entries.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
        "time went backwards"
    );
    let _ = std::fs::remove_file(&journal);
    Ok(())
}

/// Alice (signed in) and a user in a chat she accepted, on `server`.
async fn in_a_chat(server: &TestServer, subject: &str) -> Result<(Client, Client, Value)> {
    let mut alice = server.signed_in("alice-token").await?;
    let mut user = server.user().await?;
    let chat = user
        .ok(json!({"type": "start_chat", "queue": "hardware", "subject": subject}))
        .await?["chat"]
        .clone();
    alice.ok(json!({"type": "accept", "chat": chat})).await?;
    Ok((alice, user, chat))
}

/// `from` sends `n` messages of 60 KB to `chat`: enough, with a few hundred, to fill
/// the socket buffers of a peer that stopped reading.
async fn flood(from: &mut Client, chat: &Value, n: usize) -> Result<()> {
    let text = "x".repeat(60_000);
    for _ in 0..n {
        from.ok(json!({"type": "send", "chat": chat, "text": text}))
            .await?;
    }
    Ok(())
}

/// A session stuck writing to a peer that stopped reading can outlast the shutdown
/// grace; the Desk still hears of its end before the journal closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_stuck_at_shutdown_is_still_journaled_as_gone() -> Result<()> {
    let journal = temp_path("stuck-at-shutdown.jsonl");
    let _ = std::fs::remove_file(&journal);
    let mut config = base_config();
    config.journal = Some(journal.clone());
    config.limits.shutdown_grace_ms = 300;
    config.limits.write_timeout_ms = 30_000;
    config.limits.messages_per_sec = 100_000;
    config.limits.burst = 100_000;
    let server = TestServer::start(config).await?;
    let (mut alice, user, chat) = in_a_chat(&server, "stuck").await?;
    // The user stops reading; 16 MB of messages fill its socket's buffers, and its
    // session blocks in a write.
    flood(&mut alice, &chat, 280).await?;
    let who = user.user_id();
    tokio::time::timeout(Duration::from_secs(20), server.stop())
        .await
        .context("shutdown took longer than its grace")??;
    let text = std::fs::read_to_string(&journal)?;
    let gone = text.lines().any(|l| {
        serde_json::from_str::<Value>(l)
            .is_ok_and(|e| e["principal"]["user"] == who && e["command"]["type"] == "disconnect")
    });
    ensure!(gone, "no disconnect of user {who} in the journal");
    drop(user);
    let _ = std::fs::remove_file(&journal);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_holding_an_earlier_run_is_refused_and_left_as_it_was() -> Result<()> {
    let journal = temp_path("earlier-run.jsonl");
    let earlier = "{\"seq\":1}\n";
    std::fs::write(&journal, earlier)?;
    let mut config = base_config();
    config.journal = Some(journal.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let served = tokio::time::timeout(
        Duration::from_secs(10),
        switchboard_server::serve(listener, config, std::future::pending()),
    )
    .await
    .context("serve should refuse at once")?;
    let err = served.err().context("serve should refuse the journal")?;
    ensure!(
        err.to_string().contains("earlier run") && err.to_string().contains("earlier-run"),
        "{err}"
    );
    ensure!(std::fs::read_to_string(&journal)? == earlier);
    let _ = std::fs::remove_file(&journal);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_journal_is_counted_and_reported_at_shutdown() -> Result<()> {
    // Every write to /dev/full fails with "no space left on device".
    let full = std::path::Path::new("/dev/full");
    if !full.exists() {
        return Ok(());
    }
    let mut config = base_config();
    config.journal = Some(full.to_path_buf());
    let server = TestServer::start(config).await?;
    let mut alice = server.signed_in("alice-token").await?;
    // The server keeps serving while the writer has failed; entries it can no longer
    // hand over are counted.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        alice
            .ok(json!({"type": "set_availability", "availability": "available"}))
            .await?;
        let lost = metric(
            &server.metrics().await?,
            "switchboard_journal_lost_entries_total",
        );
        if lost.is_some_and(|n| n > 0.0) {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "journal_lost_entries_total stayed at {lost:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nothing ever reached /dev/full: every command the Desk handled is counted lost,
    // those the writer held when it failed included.
    alice
        .ok(json!({"type": "set_availability", "availability": "available"}))
        .await?;
    let m = server.metrics().await?;
    let handled: f64 = m
        .iter()
        .filter(|(name, _)| name.starts_with("switchboard_commands_total{"))
        .map(|(_, v)| v)
        .sum();
    let lost = metric(&m, "switchboard_journal_lost_entries_total");
    ensure!(
        lost == Some(handled),
        "lost {lost:?} of {handled} journaled commands"
    );
    let err = server
        .stop()
        .await
        .err()
        .context("serve should report the journal failure")?;
    ensure!(err.to_string().contains("/dev/full"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let mut user = server.user().await?;
    let chat = user
        .ok(json!({"type": "start_chat", "queue": "hardware", "subject": "metrics"}))
        .await?["chat"]
        .as_u64()
        .context("chat id")?;
    let mut waiting = server.user().await?;
    waiting
        .ok(json!({"type": "start_chat", "queue": "hardware", "subject": "waits"}))
        .await?;
    alice.ok(json!({"type": "accept", "chat": chat})).await?;
    user.ok(json!({"type": "send", "chat": chat, "text": "one"}))
        .await?;
    // Malformed (no `type`) but with a `req`, so its error frame can be awaited.
    alice.send_text(r#"{"req": 99}"#).await?;
    let f = alice.answer(json!(99)).await?;
    ensure!(f["code"] == "malformed", "{f}");

    let (status, body) = server.http("GET", "/metrics", None, None).await?;
    ensure!(status == 200);
    // Every family has HELP and TYPE before its samples.
    let mut typed = std::collections::BTreeSet::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let name = parts.next().context("type name")?;
            let kind = parts.next().context("type kind")?;
            ensure!(kind == "gauge" || kind == "counter", "{line}");
            typed.insert(name.to_string());
        } else if !line.starts_with('#') && !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            ensure!(typed.contains(name), "sample before TYPE: {line}");
        }
    }
    let m = parse_prometheus(&body)?;
    let want = [
        (r#"switchboard_connections{role="agent"}"#, 1.0),
        (r#"switchboard_connections{role="user"}"#, 2.0),
        (r#"switchboard_chats{state="active"}"#, 1.0),
        (r#"switchboard_chats{state="queued"}"#, 1.0),
        (
            r#"switchboard_queue_depth{queue="hardware",list="queue"}"#,
            1.0,
        ),
        (
            r#"switchboard_queue_depth{queue="software",list="queue"}"#,
            0.0,
        ),
        (r#"switchboard_agents{status="available"}"#, 1.0),
        (r#"switchboard_agents{status="offline"}"#, 3.0),
        ("switchboard_messages_relayed_total", 1.0),
        (r#"switchboard_errors_total{code="malformed"}"#, 1.0),
        (r#"switchboard_routing_decisions_total{kind="accept"}"#, 1.0),
        (r#"switchboard_commands_total{command="start_chat"}"#, 2.0),
        ("switchboard_connections_total", 3.0),
        ("switchboard_journal_lost_entries_total", 0.0),
    ];
    for (series, value) in want {
        ensure!(
            metric(&m, series) == Some(value),
            "{series}: {:?}\n{body}",
            metric(&m, series)
        );
    }
    ensure!(metric(&m, "switchboard_free_slots").is_some(), "{body}");
    let (status, health) = server.http("GET", "/healthz", None, None).await?;
    ensure!(status == 200 && health.contains("ok"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_disconnect_can_close_instead_of_abandon() -> Result<()> {
    let mut config = base_config();
    config.disconnect.user = switchboard_server::domain::UserDisconnect::Close;
    let server = TestServer::start(config).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let mut user = server.user().await?;
    let chat = user
        .ok(json!({"type": "start_chat", "queue": "hardware", "subject": "docking station"}))
        .await?["chat"]
        .as_u64()
        .context("chat id")?;
    alice.ok(json!({"type": "accept", "chat": chat})).await?;
    drop(user);
    let ended = alice.notice("chat_ended").await?;
    ensure!(
        ended["state"] == "closed" && ended["by"] == "user",
        "{ended}"
    );
    Ok(())
}

/// A server keeping few ended chats (`limits.keep_ended_chats`) drops the oldest, with
/// their transcripts, but not their tickets: the admin and the agent who created one
/// still read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_ended_chats_keep_their_tickets() -> Result<()> {
    let mut config = base_config();
    config.limits.keep_ended_chats = Some(1);
    let server = TestServer::start(config).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let mut chats = Vec::new();
    let mut ticket = None;
    for subject in ["printer", "mouse"] {
        let mut user = server.user().await?;
        let chat = user
            .ok(json!({"type": "start_chat", "queue": "hardware", "subject": subject}))
            .await?["chat"]
            .as_u64()
            .context("chat id")?;
        alice.ok(json!({"type": "accept", "chat": chat})).await?;
        if ticket.is_none() {
            let t = alice
                .ok(json!({"type": "create_ticket", "chat": chat, "kind": "incident"}))
                .await?;
            ticket = t["id"].as_u64();
        }
        alice.ok(json!({"type": "close", "chat": chat})).await?;
        chats.push(chat);
    }
    let ticket = ticket.context("ticket id")?;
    let get = |path: String, token: &'static str| {
        let server = &server;
        async move { server.http("GET", &path, Some(token), None).await }
    };
    // The first chat ended before the second: only the second is kept.
    let (status, _) = get(format!("/api/chats/{}", chats[0]), ADMIN).await?;
    ensure!(status == 404, "the older chat is dropped: {status}");
    let (status, _) = get(format!("/api/chats/{}", chats[1]), ADMIN).await?;
    ensure!(status == 200, "the last one is kept: {status}");
    // Its ticket stays, for the admin and for its creator, and in the listing.
    for token in [ADMIN, "alice-token"] {
        let (status, body) = get(format!("/api/tickets/{ticket}"), token).await?;
        ensure!(status == 200, "{token}: {status} {body}");
    }
    let (status, _) = get(format!("/api/tickets/{ticket}"), "bob-token").await?;
    ensure!(status == 404, "not to another agent: {status}");
    let (_, body) = get("/api/tickets".into(), ADMIN).await?;
    let listed: Value = serde_json::from_str(&body)?;
    ensure!(listed["tickets"][0]["id"] == ticket, "{listed}");
    Ok(())
}
