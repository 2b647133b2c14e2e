//! The seed's live-chat workflows, end to end over real sockets: accept from Queue,
//! accept transferred with notes, auto-accept with "Available for N", share and pin an
//! article, create incident and work order with and without a template (draft →
//! confirm). Rule numbers (R1–R15) refer to DESIGN.md.

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use switchboard_tests::{ADMIN, TestServer, base_config, metric};

async fn start_chat(
    user: &mut switchboard_tests::Client,
    queue: &str,
    subject: &str,
) -> Result<u64> {
    let r = user
        .ok(json!({"type": "start_chat", "queue": queue, "subject": subject, "customer": "jsmith"}))
        .await?;
    ensure!(r["reply"] == "chat_started", "{r}");
    Ok(r["chat"].as_u64().unwrap_or_default())
}

fn ids(list: &Value) -> Vec<u64> {
    list["chats"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["chat"].as_u64()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_from_queue_and_talk() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let mut bob = server.signed_in("bob-token").await?;
    let mut user = server.user().await?;
    ensure!(
        user.welcome["role"] == "user" && user.user_id() > 0,
        "{}",
        user.welcome
    );

    // R15: a self-service user asks for a chat; R3: queue members see the count.
    let chat = start_chat(&mut user, "software", "Outlook password prompt").await?;
    let n = alice.notice("queue_changed").await?;
    ensure!(n["queue"] == "software" && n["queued"] == 1, "{n}");
    bob.notice("queue_changed").await?;
    let q = alice.ok(json!({"type": "list_queue"})).await?;
    ensure!(ids(&q) == vec![chat], "{q}");

    // A message typed while waiting is kept for whoever accepts (R10).
    user.ok(json!({"type": "send", "chat": chat, "text": "hello?"}))
        .await?;

    // R8: alice wins, gets the history and (R9) customer information and resources.
    let acc = alice.ok(json!({"type": "accept", "chat": chat})).await?;
    ensure!(
        acc["reply"] == "accepted" && acc["command"] == "accept",
        "{acc}"
    );
    ensure!(acc["history"][0]["text"] == "hello?", "{acc}");
    ensure!(acc["customer"]["name"] == "Jane Smith", "{acc}");
    ensure!(acc["resources"]["outages"][0]["id"] == "OUT-1", "{acc}");
    let articles = acc["resources"]["articles"].to_string();
    ensure!(articles.contains("KA-0001"), "{acc}");
    // The user is told the agent is online.
    let joined = user.notice("agent_joined").await?;
    ensure!(
        joined["agent"] == "alice" && joined["name"] == "Alice",
        "{joined}"
    );
    // Everyone else gets a clear already_accepted.
    ensure!(bob.err(json!({"type": "accept", "chat": chat})).await? == "already_accepted");

    // R10: both ways, in order.
    alice
        .ok(json!({"type": "send", "chat": chat, "text": "Hi, Alice here"}))
        .await?;
    let m = user.notice("message").await?;
    ensure!(
        m["entry"]["text"] == "Hi, Alice here" && m["entry"]["from"]["agent"] == "alice",
        "{m}"
    );
    for i in 0..20 {
        user.send_text(&json!({"type": "send", "chat": chat, "text": format!("m{i}")}).to_string())
            .await?;
    }
    for i in 0..20 {
        let m = alice.notice("message").await?;
        ensure!(m["entry"]["text"] == format!("m{i}"), "out of order: {m}");
    }

    // R4: My Chats.
    let mine = alice.ok(json!({"type": "list_my_chats"})).await?;
    ensure!(ids(&mine) == vec![chat], "{mine}");

    alice.ok(json!({"type": "close", "chat": chat})).await?;
    let ended = user.notice("chat_ended").await?;
    ensure!(
        ended["state"] == "closed" && ended["by"]["agent"] == "alice",
        "{ended}"
    );
    ensure!(alice.err(json!({"type": "accept", "chat": chat})).await? == "chat_ended");

    // The transcript is kept (R10) and readable over HTTP.
    let (status, text) = server
        .http(
            "GET",
            &format!("/api/chats/{chat}/transcript"),
            Some(ADMIN),
            None,
        )
        .await?;
    ensure!(
        status == 200 && text.contains("hello?") && text.contains("m19"),
        "{status} {text}"
    );
    let (status, body) = server
        .http(
            "GET",
            &format!("/api/chats/{chat}"),
            Some("bob-token"),
            None,
        )
        .await?;
    // The chat's state is flattened into it, as in every other message.
    let v: Value = serde_json::from_str(&body)?;
    ensure!(
        status == 200 && v["state"] == "closed" && v["by"]["agent"] == "alice",
        "{status} {body}"
    );
    Ok(())
}

/// Ids in paths may arrive percent-encoded (an article id can be any text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_segments_are_percent_decoded() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    let (status, body) = server
        .http("GET", "/api/articles/KA%2d0001", Some(ADMIN), None)
        .await?;
    ensure!(status == 200 && body.contains("KA-0001"), "{status} {body}");
    let (status, _) = server
        .http("GET", "/api/articles/KA%2D0001+", Some(ADMIN), None)
        .await?;
    ensure!(
        status == 404,
        "a `+` in a path is a plus, not a space: {status}"
    );
    Ok(())
}

/// `GET /api/chats` pages through every chat in id order; bad paging is a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_list_pages_through_every_chat() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    let mut users = Vec::new();
    let mut started = Vec::new();
    for i in 0..5 {
        let mut user = server.user().await?;
        started.push(start_chat(&mut user, "hardware", &format!("chat {i}")).await?);
        users.push(user);
    }
    let mut seen = Vec::new();
    let mut after = 0;
    let mut pages = 0;
    loop {
        let (status, body) = server
            .http(
                "GET",
                &format!("/api/chats?after={after}&limit=2"),
                Some(ADMIN),
                None,
            )
            .await?;
        ensure!(status == 200, "{status} {body}");
        let page: Value = serde_json::from_str(&body)?;
        let chats = page["chats"].as_array().cloned().unwrap_or_default();
        ensure!(chats.len() <= 2, "{body}");
        seen.extend(chats.iter().filter_map(|c| c["id"].as_u64()));
        pages += 1;
        match page["next"].as_u64() {
            Some(next) => after = next,
            None => break,
        }
        ensure!(pages < 10, "paging does not end: {body}");
    }
    ensure!(seen == started && pages == 3, "{seen:?} in {pages} pages");
    let (status, body) = server.http("GET", "/api/chats", Some(ADMIN), None).await?;
    let all: Value = serde_json::from_str(&body)?;
    ensure!(
        status == 200 && all["chats"].as_array().map(Vec::len) == Some(5) && all["next"].is_null(),
        "{body}"
    );
    for bad in ["limit=0", "limit=5001", "limit=many", "after=first"] {
        let (status, body) = server
            .http("GET", &format!("/api/chats?{bad}"), Some(ADMIN), None)
            .await?;
        ensure!(
            status == 400 && body.contains("bad_request"),
            "{bad}: {status} {body}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_with_notes_to_agent_and_queue() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let mut bob = server.signed_in("bob-token").await?;
    let mut carol = server.signed_in("carol-token").await?;
    let mut user = server.user().await?;
    let chat = start_chat(&mut user, "software", "VPN drops every hour").await?;
    alice.ok(json!({"type": "accept", "chat": chat})).await?;
    user.ok(json!({"type": "send", "chat": chat, "text": "it drops at :00"}))
        .await?;

    // Bad targets first: nothing changes.
    let to_nobody = json!({"type": "transfer", "chat": chat, "to": {"agent": "nobody"}});
    ensure!(alice.err(to_nobody).await? == "unknown_agent");
    let to_noqueue = json!({"type": "transfer", "chat": chat, "to": {"queue": "nowhere"}});
    ensure!(alice.err(to_noqueue).await? == "unknown_queue");
    let to_dave = json!({"type": "transfer", "chat": chat, "to": {"agent": "dave"}});
    ensure!(alice.err(to_dave).await? == "invalid_transfer");

    alice
        .ok(json!({"type": "transfer", "chat": chat, "to": {"agent": "bob"}, "notes": "VPN client 5.2, reinstalled once"}))
        .await?;
    let offered = bob.notice("transfer_offered").await?;
    ensure!(
        offered["from"] == "alice" && offered["notes"] == "VPN client 5.2, reinstalled once",
        "{offered}"
    );
    let left = user.notice("agent_left").await?;
    ensure!(left["reason"] == "transferred", "{left}");

    // R5: only bob sees a transfer addressed to bob, over HTTP too.
    let path = format!("/api/chats/{chat}");
    let erin = r#"{"id": "erin", "token": "erin-token", "permissions": ["ESChat_Agent"], "queues": ["software"]}"#;
    let (status, body) = server
        .http("POST", "/admin/agents", Some(ADMIN), Some(erin))
        .await?;
    ensure!(status == 200 || status == 201, "{status} {body}");
    let (status, body) = server.http("GET", &path, Some("erin-token"), None).await?;
    ensure!(
        status == 404 || status == 403,
        "erin, in the chat's queue, read a transfer addressed to bob: {status} {body}"
    );
    let (status, body) = server.http("GET", &path, Some("bob-token"), None).await?;
    ensure!(status == 200, "{status} {body}");
    ensure!(
        carol
            .err(json!({"type": "accept_transfer", "chat": chat}))
            .await?
            == "not_visible"
    );
    ensure!(
        alice
            .err(json!({"type": "accept_transfer", "chat": chat}))
            .await?
            == "not_visible"
    );
    ensure!(bob.err(json!({"type": "accept", "chat": chat})).await? == "not_queued");
    let t = bob.ok(json!({"type": "list_transferred"})).await?;
    ensure!(ids(&t) == vec![chat], "{t}");

    // R8: history plus the previous agent's notes.
    let acc = bob
        .ok(json!({"type": "accept_transfer", "chat": chat}))
        .await?;
    ensure!(acc["origin"] == "transferred", "{acc}");
    ensure!(
        acc["notes"][0]["notes"] == "VPN client 5.2, reinstalled once",
        "{acc}"
    );
    ensure!(acc["history"][0]["text"] == "it drops at :00", "{acc}");
    let joined = user.notice("agent_joined").await?;
    ensure!(joined["agent"] == "alice", "{joined}");
    let joined = user.notice("agent_joined").await?;
    ensure!(joined["agent"] == "bob", "{joined}");

    // To a support queue: its members (carol) see it, others (alice) do not.
    bob.ok(json!({"type": "transfer", "chat": chat, "to": {"queue": "network"}, "notes": "network issue"}))
        .await?;
    let qc = carol
        .notice_where(|n| {
            n["notice"] == "queue_changed" && n["queue"] == "network" && n["transferred"] == 1
        })
        .await?;
    ensure!(qc["queued"] == 0, "{qc}");
    ensure!(
        alice
            .err(json!({"type": "accept_transfer", "chat": chat}))
            .await?
            == "not_visible"
    );
    let t = carol.ok(json!({"type": "list_transferred"})).await?;
    ensure!(ids(&t) == vec![chat], "{t}");
    let acc = carol
        .ok(json!({"type": "accept_transfer", "chat": chat}))
        .await?;
    ensure!(acc["notes"].as_array().map(Vec::len) == Some(2), "{acc}");
    ensure!(
        bob.err(json!({"type": "send", "chat": chat, "text": "still here?"}))
            .await?
            == "not_owner"
    );
    Ok(())
}

/// R3 with coalescing off (`queue_count_interval_ms = 0`): every change of a queue's
/// counts reaches every online member at once, in Desk order (each member's queue
/// holds the one encoded notice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncoalesced_queue_counts_reach_every_online_member_in_order() -> Result<()> {
    let mut config = base_config();
    config.limits.queue_count_interval_ms = 0;
    let server = TestServer::start(config).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let mut bob = server.signed_in("bob-token").await?;
    let mut ann = server.user().await?;
    let mut ben = server.user().await?;
    let first = start_chat(&mut ann, "software", "one").await?;
    start_chat(&mut ben, "software", "two").await?;
    alice.ok(json!({"type": "accept", "chat": first})).await?;
    for member in [&mut alice, &mut bob] {
        let mut queued = Vec::new();
        for _ in 0..3 {
            let n = member
                .notice_where(|n| n["notice"] == "queue_changed" && n["queue"] == "software")
                .await?;
            queued.push(n["queued"].as_u64().context("queued")?);
        }
        ensure!(queued == vec![1, 2, 1], "{queued:?}");
    }
    Ok(())
}

/// R7: with auto-accept off an agent accepts any number of chats from Queue and from
/// Transferred (the limit of four from Transferred is auto-accept's, R6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_accept_has_no_limits() -> Result<()> {
    let config = base_config();
    ensure!(
        !config.routing.auto_accept,
        "the base configuration accepts by hand"
    );
    let server = TestServer::start(config).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let mut bob = server.signed_in("bob-token").await?;
    let mut users = Vec::new();
    let mut chats = Vec::new();
    for i in 0..6 {
        let mut u = server.user().await?;
        chats.push(start_chat(&mut u, "software", &format!("printer {i} offline")).await?);
        users.push(u);
    }
    // Six from Queue, more than "Available for" could ever allow.
    for chat in &chats {
        let r = bob.ok(json!({"type": "accept", "chat": chat})).await?;
        ensure!(r["reply"] == "accepted", "{r}");
    }
    for chat in &chats {
        bob.ok(
            json!({"type": "transfer", "chat": chat, "to": {"agent": "alice"}, "notes": "yours"}),
        )
        .await?;
    }
    // All six from Transferred: no limit of four without auto-accept.
    for chat in &chats {
        let r = alice
            .ok(json!({"type": "accept_transfer", "chat": chat}))
            .await?;
        ensure!(
            r["reply"] == "accepted" && r["origin"] == "transferred",
            "{r}"
        );
    }
    let mine = alice.ok(json!({"type": "list_my_chats"})).await?;
    let mut held = ids(&mine);
    held.sort_unstable();
    ensure!(held == chats, "{mine}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_accept_with_available_for_n() -> Result<()> {
    let mut config = base_config();
    config.routing.auto_accept = true;
    let server = TestServer::start(config).await?;
    let mut alice = server.signed_in("alice-token").await?;

    // R2: under auto-accept agents declare "Available for N", 0..=4.
    let plain = json!({"type": "set_availability", "availability": "available"});
    ensure!(alice.err(plain).await? == "invalid_availability");
    let five = json!({"type": "set_availability", "availability": {"available_for": 5}});
    ensure!(alice.err(five).await? == "invalid_availability");
    let st = alice
        .ok(json!({"type": "set_availability", "availability": {"available_for": 2}}))
        .await?;
    ensure!(
        st["reply"] == "status" && st["availability"]["available_for"] == 2,
        "{st}"
    );

    let mut users = Vec::new();
    let mut chats = Vec::new();
    for i in 0..3 {
        let mut u = server.user().await?;
        chats.push(start_chat(&mut u, "hardware", &format!("laptop {i} broken")).await?);
        users.push(u);
    }
    // R6: the first two are routed to alice; the third waits for a free slot.
    for (u, chat) in users.iter_mut().zip(&chats).take(2) {
        let a = alice
            .notice_where(|n| n["notice"] == "assigned" && n["chat"] == *chat)
            .await?;
        ensure!(a["origin"] == "auto", "{a}");
        let j = u.notice("agent_joined").await?;
        ensure!(j["agent"] == "alice", "{j}");
    }
    let q = alice.ok(json!({"type": "list_queue"})).await?;
    ensure!(ids(&q) == vec![chats[2]], "{q}");

    alice.ok(json!({"type": "close", "chat": chats[0]})).await?;
    let a = alice.notice("assigned").await?;
    ensure!(a["chat"] == chats[2], "{a}");
    users[2].notice("agent_joined").await?;

    let m = server.metrics().await?;
    ensure!(
        metric(&m, r#"switchboard_routing_decisions_total{kind="auto"}"#) == Some(3.0),
        "{m:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_and_pin_article_then_incident() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let mut user = server.user().await?;
    let chat = start_chat(&mut user, "hardware", "cannot reach VPN").await?;
    alice.ok(json!({"type": "accept", "chat": chat})).await?;

    // R11: search by term, share (shown in the conversation), pin.
    let found = alice
        .ok(json!({"type": "search_articles", "term": "vpn"}))
        .await?;
    ensure!(found["articles"][0]["id"] == "KA-0002", "{found}");
    let nothing = alice
        .ok(json!({"type": "search_articles", "term": "zebra"}))
        .await?;
    ensure!(
        nothing["articles"].as_array().is_some_and(Vec::is_empty),
        "{nothing}"
    );
    alice
        .ok(json!({"type": "share_article", "chat": chat, "article": "KA-0002"}))
        .await?;
    let m = user.notice("message").await?;
    ensure!(
        m["entry"]["kind"] == "article" && m["entry"]["link"] == "https://kb.example.com/KA-0002",
        "{m}"
    );
    alice
        .ok(json!({"type": "pin_article", "chat": chat, "article": "KA-0001"}))
        .await?;
    let bad = json!({"type": "share_article", "chat": chat, "article": "KA-9999"});
    ensure!(alice.err(bad).await? == "unknown_article");

    // R12: Create Incident without a template: transcript in the description, the
    // shared article's link in the activity log, the pinned one flagged.
    let t = alice
        .ok(json!({"type": "create_ticket", "chat": chat, "kind": "incident"}))
        .await?;
    ensure!(t["reply"] == "ticket" && t["status"] == "created", "{t}");
    ensure!(
        t["number"].as_str().is_some_and(|n| n.starts_with("INC")),
        "{t}"
    );
    ensure!(
        t["description"]
            .as_str()
            .is_some_and(|d| d.contains("KA-0002")),
        "{t}"
    );
    ensure!(
        t["activity"]
            .to_string()
            .contains("https://kb.example.com/KA-0002"),
        "{t}"
    );
    ensure!(t["pinned"][0] == "KA-0001", "{t}");
    let n = user.notice("ticket_created").await?;
    ensure!(n["ticket"]["id"] == t["id"], "{n}");
    // R14: never a second ticket for the chat.
    let again = json!({"type": "create_ticket", "chat": chat, "kind": "work_order"});
    ensure!(alice.err(again).await? == "ticket_exists");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_with_and_without_template() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let mut chats = Vec::new();
    let mut users = Vec::new();
    for subject in [
        "new laptop needed",
        "laptop screen cracked",
        "password locked",
    ] {
        let mut u = server.user().await?;
        let c = start_chat(&mut u, "hardware", subject).await?;
        alice.ok(json!({"type": "accept", "chat": c})).await?;
        u.ok(json!({"type": "send", "chat": c, "text": format!("about: {subject}")}))
            .await?;
        chats.push(c);
        users.push(u);
    }

    // R12: Create Work Order without a template.
    let wo = alice
        .ok(json!({"type": "create_ticket", "chat": chats[0], "kind": "work_order"}))
        .await?;
    ensure!(
        wo["status"] == "created" && wo["kind"] == "work_order",
        "{wo}"
    );
    ensure!(
        wo["number"].as_str().is_some_and(|n| n.starts_with("WO")),
        "{wo}"
    );
    ensure!(
        wo["description"]
            .as_str()
            .is_some_and(|d| d.contains("about: new laptop needed")),
        "{wo}"
    );

    // R13: with a template whose required field is blank: draft until confirmed.
    let found = alice
        .ok(json!({"type": "search_templates", "term": "laptop"}))
        .await?;
    ensure!(found["templates"][0]["id"] == "TPL-LAPTOP", "{found}");
    let draft = alice
        .ok(json!({"type": "create_ticket", "chat": chats[1], "kind": "incident", "template": "TPL-LAPTOP"}))
        .await?;
    ensure!(
        draft["status"] == "draft" && draft["fields"]["urgency"] == "3-Medium",
        "{draft}"
    );
    let tid = draft["id"].as_u64().unwrap_or_default();
    ensure!(
        alice
            .err(json!({"type": "confirm_ticket", "ticket": tid}))
            .await?
            == "required_fields_blank"
    );
    let unknown_field = json!({"type": "fill_ticket", "ticket": tid, "fields": {"colour": "red"}});
    ensure!(alice.err(unknown_field).await? == "unknown_field");
    let filled = alice
        .ok(json!({"type": "fill_ticket", "ticket": tid, "fields": {"asset_tag": "LAPTOP-4411"}}))
        .await?;
    ensure!(filled["status"] == "draft", "{filled}");
    // Nothing was announced while it was a draft.
    ensure!(!users[1].kept().any(|f| f["notice"] == "ticket_created"));
    let created = alice
        .ok(json!({"type": "confirm_ticket", "ticket": tid}))
        .await?;
    ensure!(created["status"] == "created", "{created}");
    ensure!(
        created["description"]
            .as_str()
            .is_some_and(|d| d.contains("laptop screen cracked")),
        "{created}"
    );
    users[1].notice("ticket_created").await?;
    ensure!(
        alice
            .err(json!({"type": "confirm_ticket", "ticket": tid}))
            .await?
            == "not_draft"
    );
    ensure!(
        alice
            .err(json!({"type": "confirm_ticket", "ticket": 999}))
            .await?
            == "unknown_ticket"
    );

    // R13: a template with every required field filled creates at once.
    let t = alice
        .ok(json!({"type": "create_ticket", "chat": chats[2], "kind": "incident", "template": "TPL-PASSWORD"}))
        .await?;
    ensure!(
        t["status"] == "created" && t["fields"]["account"] == "windows",
        "{t}"
    );
    let bad = json!({"type": "create_ticket", "chat": chats[2], "kind": "incident", "template": "TPL-NOPE"});
    let code = alice.err(bad).await?;
    ensure!(
        code == "ticket_exists" || code == "unknown_template",
        "{code}"
    );

    // Read API: every ticket, then in pages of two, then one.
    let (status, body) = server
        .http("GET", "/api/tickets", Some(ADMIN), None)
        .await?;
    let v: Value = serde_json::from_str(&body)?;
    ensure!(
        status == 200 && v["tickets"].as_array().map(Vec::len) == Some(3) && v["next"].is_null(),
        "{body}"
    );
    let ids = |v: &Value| -> Vec<u64> {
        v["tickets"]
            .as_array()
            .map(|ts| ts.iter().filter_map(|t| t["id"].as_u64()).collect())
            .unwrap_or_default()
    };
    let all = ids(&v);
    let (_, body) = server
        .http("GET", "/api/tickets?limit=2", Some(ADMIN), None)
        .await?;
    let first: Value = serde_json::from_str(&body)?;
    let next = first["next"].as_u64().context("a second page")?;
    let (_, body) = server
        .http(
            "GET",
            &format!("/api/tickets?after={next}&limit=2"),
            Some(ADMIN),
            None,
        )
        .await?;
    let second: Value = serde_json::from_str(&body)?;
    ensure!(
        [ids(&first), ids(&second)].concat() == all && second["next"].is_null(),
        "{first} then {second}"
    );
    for bad in ["limit=0", "limit=1001", "after=first"] {
        let (status, body) = server
            .http("GET", &format!("/api/tickets?{bad}"), Some(ADMIN), None)
            .await?;
        ensure!(status == 400, "{bad}: {status} {body}");
    }
    let (status, body) = server
        .http(
            "GET",
            &format!("/api/tickets/{tid}"),
            Some("alice-token"),
            None,
        )
        .await?;
    ensure!(
        status == 200 && body.contains("LAPTOP-4411"),
        "{status} {body}"
    );
    // Carol (network only) sees none of these hardware tickets.
    let (status, body) = server
        .http(
            "GET",
            &format!("/api/tickets/{tid}"),
            Some("carol-token"),
            None,
        )
        .await?;
    ensure!(status == 404, "{status} {body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_and_roles() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    // R1: dave lacks ESChat_Agent.
    let mut dave = server.agent("dave-token").await?;
    ensure!(dave.welcome["role"] == "agent" && dave.welcome["agent"] == "dave");
    ensure!(dave.err(json!({"type": "sign_in"})).await? == "permission_denied");
    ensure!(dave.err(json!({"type": "list_queue"})).await? == "permission_denied");
    // Nor over HTTP: a hardware chat exists, dave is in hardware, and still reads nothing.
    let mut user = server.user().await?;
    let chat = start_chat(&mut user, "hardware", "printer").await?;
    for path in [
        "/api/chats".to_string(),
        format!("/api/chats/{chat}"),
        format!("/api/chats/{chat}/transcript"),
        "/api/tickets".to_string(),
        "/api/articles?term=password".to_string(),
    ] {
        let (status, body) = server.http("GET", &path, Some("dave-token"), None).await?;
        ensure!(
            status == 403 && body.contains("permission_denied"),
            "{path}: {status} {body}"
        );
    }

    let mut alice = server.agent("alice-token").await?;
    ensure!(alice.err(json!({"type": "list_queue"})).await? == "not_signed_in");
    alice.ok(json!({"type": "sign_in"})).await?;
    ensure!(
        alice
            .err(json!({"type": "start_chat", "queue": "hardware", "subject": "x"}))
            .await?
            == "wrong_role"
    );
    ensure!(
        alice
            .err(json!({"type": "set_routing", "routing": {}}))
            .await?
            == "wrong_role"
    );
    ensure!(
        alice
            .err(json!({"type": "add_queue", "queue": "x"}))
            .await?
            == "wrong_role"
    );

    let mut user = server.user().await?;
    let chat = start_chat(&mut user, "hardware", "printer").await?;
    ensure!(user.err(json!({"type": "accept", "chat": chat})).await? == "wrong_role");
    ensure!(user.err(json!({"type": "sign_in"})).await? == "wrong_role");
    // A user sees only their own chat.
    let mut other = server.user().await?;
    ensure!(other.user_id() != user.user_id());
    ensure!(
        other
            .err(json!({"type": "send", "chat": chat, "text": "hi"}))
            .await?
            == "unknown_chat"
    );
    ensure!(other.err(json!({"type": "close", "chat": chat})).await? == "unknown_chat");
    // Agents cannot take chats of queues they do not belong to (R3).
    let mut carol = server.signed_in("carol-token").await?;
    ensure!(carol.err(json!({"type": "accept", "chat": chat})).await? == "not_visible");
    // The owner can still abandon it.
    user.ok(json!({"type": "close", "chat": chat})).await?;
    ensure!(alice.err(json!({"type": "accept", "chat": chat})).await? == "chat_ended");
    Ok(())
}

/// The read API's searches match as the `search_articles` and `search_templates`
/// commands do (every word, any case, in title, keywords or body; a blank term lists
/// everything), without their limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_searches_match_as_the_commands_do() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    let ids = |body: &str, list: &str| -> Result<Vec<String>> {
        let v: Value = serde_json::from_str(body)?;
        Ok(v[list]
            .as_array()
            .context("a list")?
            .iter()
            .filter_map(|a| a["id"].as_str().map(str::to_string))
            .collect())
    };
    for (path, list, expected) in [
        ("/api/articles?term=PASSWORD", "articles", vec!["KA-0001"]),
        (
            "/api/articles?term=windows+reset",
            "articles",
            vec!["KA-0001"],
        ),
        ("/api/articles?term=vpn+password", "articles", vec![]),
        (
            "/api/articles?term=%20",
            "articles",
            vec!["KA-0001", "KA-0002"],
        ),
        ("/api/articles", "articles", vec!["KA-0001", "KA-0002"]),
        (
            "/api/templates?term=Password",
            "templates",
            vec!["TPL-PASSWORD"],
        ),
        (
            "/api/templates?term=hardware%20laptop",
            "templates",
            vec!["TPL-LAPTOP"],
        ),
        (
            "/api/templates",
            "templates",
            vec!["TPL-LAPTOP", "TPL-PASSWORD"],
        ),
    ] {
        let (status, body) = server.http("GET", path, Some("alice-token"), None).await?;
        ensure!(status == 200, "{path}: {status} {body}");
        ensure!(ids(&body, list)? == expected, "{path}: {body}");
    }
    Ok(())
}

/// R2/R7: an admin switching Agent Auto Accept on resets what the agents had declared;
/// a connected agent is told its new status at once (`status_changed`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_auto_accept_sends_agents_their_new_status() -> Result<()> {
    let server = TestServer::start(base_config()).await?;
    let mut alice = server.signed_in("alice-token").await?;
    let (_, config) = server
        .http("GET", "/admin/config", Some(ADMIN), None)
        .await?;
    let mut routing: Value = serde_json::from_str::<Value>(&config)?["routing"].clone();
    ensure!(routing["auto_accept"] == false, "{routing}");
    routing["auto_accept"] = json!(true);
    routing["default_available_for"] = json!(2);
    let body = json!({ "routing": routing }).to_string();
    let (status, reply) = server
        .http("PUT", "/admin/config", Some(ADMIN), Some(&body))
        .await?;
    ensure!(status == 200, "{status} {reply}");
    let told = alice.notice("status_changed").await?;
    ensure!(
        told["agent"] == "alice"
            && told["auto_accept"] == true
            && told["availability"] == json!({"available_for": 2}),
        "{told}"
    );
    Ok(())
}
