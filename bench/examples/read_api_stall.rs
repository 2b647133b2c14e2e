//! How long a big read API page holds up WebSocket commands.
//!
//! The reference server (in process, two worker threads) is given `CHATS` chats (1,000
//! unless the environment says otherwise), each with 40 messages of 200 bytes and a
//! ticket whose description is its transcript. Then, ten times, the admin asks for
//! `GET /api/tickets?limit=1000` (8.6 MB of JSON with the defaults) while another
//! connection sends `list_my_chats` back to back until the page has arrived. The
//! longest of those round trips is what the page cost the server's other connections.
//!
//! ```text
//! cargo run --release -p switchboard-bench --example read_api_stall
//! ```

use anyhow::{Context as _, Result};
use serde_json::json;
use std::time::{Duration, Instant};
use switchboard_tests::{ADMIN, TestServer, base_config};
use tokio_tungstenite::tungstenite::Message;

const MESSAGES: u64 = 40;
const ROUNDS: usize = 10;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let chats: usize = match std::env::var("CHATS") {
        Ok(s) => s.parse().context("CHATS must be a whole number")?,
        Err(_) => 1_000,
    };
    let mut config = base_config();
    config.limits.messages_per_sec = 1_000_000;
    config.limits.burst = 1_000_000;
    let server = TestServer::start(config).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let text = "y".repeat(200);
    for _ in 0..chats {
        let mut user = server.user().await?;
        let chat = user
            .ok(json!({"type": "start_chat", "queue": "hardware", "subject": "stall"}))
            .await?["chat"]
            .clone();
        alice.ok(json!({"type": "accept", "chat": chat})).await?;
        let burst = (1..=MESSAGES)
            .map(|req| {
                let send = json!({"type": "send", "chat": chat, "text": text, "req": req});
                Message::text(send.to_string())
            })
            .collect();
        user.send_burst(burst).await?;
        user.answer(json!(MESSAGES)).await?;
        alice
            .ok(json!({"type": "create_ticket", "chat": chat, "kind": "incident"}))
            .await?;
        alice.ok(json!({"type": "close", "chat": chat})).await?;
    }
    println!("{chats} chats of {MESSAGES} messages, each with a ticket");
    let mut probe = server.user().await?;
    let mut worst_of_rounds = Vec::new();
    for round in 1..=ROUNDS {
        let addr = server.addr;
        let page = tokio::spawn(async move {
            let started = Instant::now();
            let got =
                switchboard_tests::http(addr, "GET", "/api/tickets?limit=1000", Some(ADMIN), None)
                    .await;
            (started.elapsed(), got)
        });
        let mut worst = Duration::ZERO;
        while !page.is_finished() {
            let sent = Instant::now();
            probe.request(json!({"type": "list_my_chats"})).await?;
            worst = worst.max(sent.elapsed());
        }
        let (took, got) = page.await?;
        let (status, body) = got?;
        println!(
            "round {round:2}: page {status}, {} bytes in {:.1} ms; longest command round \
             trip meanwhile {:.2} ms",
            body.len(),
            took.as_secs_f64() * 1e3,
            worst.as_secs_f64() * 1e3
        );
        worst_of_rounds.push(worst);
    }
    worst_of_rounds.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    println!(
        "longest round trip per round: min {:.2} ms, median {:.2} ms, max {:.2} ms",
        ms(&worst_of_rounds[0]),
        ms(&worst_of_rounds[ROUNDS / 2]),
        ms(&worst_of_rounds[ROUNDS - 1])
    );
    Ok(())
}
