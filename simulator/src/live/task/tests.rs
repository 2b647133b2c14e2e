//! The task against scripted servers: frames it cannot read, answers lost with a
//! connection, and what each latency is measured from.

use super::{Ctx, Kind, connect_timed, run};
use crate::behaviour::{Effects, Input, Participant};
use crate::live::clock::RunClock;
use crate::live::ledger::{Ledger, Unseen};
use crate::live::progress::Live;
use crate::metrics::{MetricName, Recorder};
use futures_util::{SinkExt as _, StreamExt as _};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_server::domain::{
    AgentId, ChatId, ChatSource, ChatState, Command, LeftReason, Notice, QueueId, UserId,
};
use switchboard_server::protocol::{ServerFrame, Welcome, WireLimits};
use tokio_tungstenite::tungstenite::Message;

/// A participant that arrives on its start and ends when its chat does.
struct UntilChatEnds;

impl Participant for UntilChatEnds {
    fn on(&mut self, _: Duration, input: Input<'_>, _: &mut Effects, rec: &mut Recorder) {
        match input {
            Input::Start => rec.counters.chats.offered += 1,
            Input::Notice(Notice::ChatEnded { .. }) => rec.counters.chats.closed += 1,
            _ => {}
        }
    }

    fn finish(&mut self, _: Duration, _: &mut Recorder) {}
}

/// The welcome frame of user 1.
fn welcome() -> String {
    ServerFrame::Welcome {
        who: Welcome::User { user: UserId(1) },
        limits: WireLimits {
            max_message_bytes: 65_536,
            messages_per_sec: 100,
            burst: 100,
            outbound_queue: 100,
        },
    }
    .to_json()
}

/// A user's context in a run of its own that does not end by itself, with `ledger`.
fn user_ctx(end: tokio::sync::watch::Receiver<bool>, ledger: Arc<Ledger>) -> Ctx {
    Ctx {
        clock: RunClock::start(1.0),
        live: Arc::new(Live::default()),
        ledger,
        transfers: Arc::default(),
        end,
        target: Duration::from_secs(60),
        interval: Duration::from_secs(1),
        history: false,
        start_at: Some(Instant::now()),
        reconnect: false,
    }
}

/// A server that takes its time to accept, then sends a welcome, the frames of
/// `middle` and the end of the user's chat; its WebSocket URL.
async fn scripted_server(accept_after: Duration, middle: Vec<String>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tokio::time::sleep(accept_after).await;
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let ended = ServerFrame::Notice {
            notice: Notice::ChatEnded {
                chat: ChatId(1),
                state: ChatState::Abandoned,
            },
        };
        let frames = std::iter::once(welcome())
            .chain(middle)
            .chain([ended.to_json()]);
        for text in frames {
            ws.send(Message::text(text)).await.unwrap();
        }
        // Hold the connection until the client is done with it.
        while ws.next().await.is_some_and(|m| m.is_ok()) {}
    });
    url
}

/// Runs [`UntilChatEnds`] as a user scheduled at the clock's start against `url`.
async fn user_until_its_chat_ends(url: String) -> Recorder {
    let (_end_tx, end) = tokio::sync::watch::channel(false);
    let ctx = user_ctx(end, Arc::default());
    let (rec, _) = tokio::time::timeout(
        Duration::from_secs(10),
        run(UntilChatEnds, Kind::User, url, ctx),
    )
    .await
    .expect("the task ends once the chat has");
    rec
}

/// A frame this build cannot read (a newer server's notice) is counted as
/// `bad_frame` and skipped: the connection goes on, and what follows still arrives.
#[tokio::test]
async fn a_frame_that_cannot_be_read_is_counted_and_skipped() {
    let future = r#"{"type":"notice","notice":{"notice":"from_a_newer_server"}}"#;
    let url = scripted_server(Duration::ZERO, vec![future.into()]).await;
    let rec = user_until_its_chat_ends(url).await;
    assert_eq!(rec.counters.errors.get("bad_frame"), Some(&1));
    assert_eq!(rec.counters.chats.closed, 1, "the frame after it arrived");
    assert_eq!(rec.counters.errors.get("connection_closed"), None);
}

/// An answer to a command that cannot be read is a broken connection, not a frame
/// to skip: the command would wait for it for ever.
#[tokio::test]
async fn an_answer_that_cannot_be_read_breaks_the_connection() {
    let future = r#"{"type":"reply","req":1,"reply":{"reply":"from_a_newer_server"}}"#;
    let url = scripted_server(Duration::ZERO, vec![future.into()]).await;
    let rec = user_until_its_chat_ends(url).await;
    assert_eq!(rec.counters.errors.get("bad_frame"), Some(&1));
    assert_eq!(rec.counters.chats.closed, 0, "the connection ended there");
}

/// A participant that sends two messages as it starts.
struct SendsTwo;

impl Participant for SendsTwo {
    fn on(&mut self, _: Duration, input: Input<'_>, fx: &mut Effects, _: &mut Recorder) {
        if matches!(input, Input::Start) {
            for text in ["one", "two"] {
                let send = Command::Send {
                    chat: ChatId(1),
                    text: text.into(),
                };
                fx.send.push((3, send));
            }
        }
    }

    fn finish(&mut self, _: Duration, _: &mut Recorder) {}
}

/// Runs [`SendsTwo`] as a user against a server that reads both messages, answers
/// the first (after `first`, when given) and closes; its recorder and the ledger.
async fn two_sent_then_dropped(first: Option<&'static str>) -> (Recorder, Arc<Ledger>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        ws.send(Message::text(welcome())).await.unwrap();
        if let Some(first) = first {
            ws.send(Message::text(first)).await.unwrap();
        }
        // Both messages arrive; only the first is answered before the server goes.
        for _ in 0..2 {
            ws.next().await.unwrap().unwrap();
        }
        let sent = r#"{"type":"reply","req":3,"command":"send","reply":"sent","chat":1,"seq":1}"#;
        ws.send(Message::text(sent)).await.unwrap();
        ws.close(None).await.unwrap();
    });
    let (_end_tx, end) = tokio::sync::watch::channel(false);
    let ledger = Arc::new(Ledger::default());
    let ctx = user_ctx(end, ledger.clone());
    let (rec, _) =
        tokio::time::timeout(Duration::from_secs(10), run(SendsTwo, Kind::User, url, ctx))
            .await
            .expect("the task ends with its connection");
    (rec, ledger)
}

/// Commands whose answers a dropped connection took with it are counted, one
/// `reply_lost` each, not left out of every count. The message whose answer was
/// lost leaves the ledger (its fate is unknown); the one the server took stays,
/// unseen, unless the chat was the user's own, which ends with the connection.
#[tokio::test]
async fn answers_a_dropped_connection_took_are_counted_lost() {
    let (rec, ledger) = two_sent_then_dropped(None).await;
    assert_eq!(rec.counters.errors.get("connection_closed"), Some(&1));
    assert_eq!(
        rec.counters.errors.get("reply_lost"),
        Some(&1),
        "{:?}",
        rec.counters.errors
    );
    assert_eq!(ledger.unseen(u64::MAX).count, 1);

    let started = r#"{"type":"reply","req":1,"command":"start_chat","reply":"chat_started","chat":1,"queue":"q","position":0,"assigned":true}"#;
    let (rec, ledger) = two_sent_then_dropped(Some(started)).await;
    assert_eq!(rec.counters.errors.get("reply_lost"), Some(&1));
    assert_eq!(ledger.unseen(u64::MAX), Unseen::default());
}

/// A user that asks for a chat as it starts, and is done when the chat ends.
struct AsksForAChat;

impl Participant for AsksForAChat {
    fn on(&mut self, _: Duration, input: Input<'_>, fx: &mut Effects, rec: &mut Recorder) {
        match input {
            Input::Start => {
                let start = Command::StartChat {
                    queue: QueueId::from("q"),
                    subject: "help".into(),
                    source: ChatSource::default(),
                    customer: None,
                };
                fx.send.push((1, start));
            }
            Input::Notice(Notice::ChatEnded { .. }) => rec.counters.chats.closed += 1,
            _ => {}
        }
    }

    fn finish(&mut self, _: Duration, _: &mut Recorder) {}
}

/// `routing_latency` runs from when the chat request could go out, not from the
/// user's arrival: a server slow to take the connection shows in `connect_time`,
/// and routing that is quick once asked is not charged with it.
#[tokio::test]
async fn routing_latency_leaves_the_connect_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let slow = Duration::from_millis(300);
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tokio::time::sleep(slow).await;
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        ws.send(Message::text(welcome())).await.unwrap();
        ws.next().await.unwrap().unwrap();
        let started = r#"{"type":"reply","req":1,"command":"start_chat","reply":"chat_started","chat":1,"queue":"q","position":0,"assigned":true}"#;
        let joined = ServerFrame::Notice {
            notice: Notice::AgentJoined {
                chat: ChatId(1),
                agent: AgentId::from("alice"),
                name: "Alice".into(),
            },
        };
        let ended = ServerFrame::Notice {
            notice: Notice::ChatEnded {
                chat: ChatId(1),
                state: ChatState::Abandoned,
            },
        };
        for text in [started.to_string(), joined.to_json(), ended.to_json()] {
            ws.send(Message::text(text)).await.unwrap();
        }
        while ws.next().await.is_some_and(|m| m.is_ok()) {}
    });
    let (_end_tx, end) = tokio::sync::watch::channel(false);
    let ctx = user_ctx(end, Arc::default());
    let (rec, _) = tokio::time::timeout(
        Duration::from_secs(10),
        run(AsksForAChat, Kind::User, url, ctx),
    )
    .await
    .expect("the task ends once the chat has");
    let connect = rec.exact(MetricName::ConnectTime).max.expect("connected");
    let routing = rec.exact(MetricName::RoutingLatency).max.expect("routed");
    assert!(connect >= slow.as_micros() as u64, "connect {connect} µs");
    assert!(
        routing < slow.as_micros() as u64,
        "routing {routing} µs includes the connect"
    );
}

/// A participant that times the wait from its agent leaving on a transfer to the
/// next one joining, as the user model does.
#[derive(Default)]
struct TimesTransfers {
    left: Option<Duration>,
}

impl Participant for TimesTransfers {
    fn on(&mut self, now: Duration, input: Input<'_>, _: &mut Effects, rec: &mut Recorder) {
        match input {
            Input::Notice(Notice::AgentLeft { .. }) => self.left = Some(now),
            Input::Notice(Notice::AgentJoined { .. }) => {
                if let Some(left) = self.left.take() {
                    rec.record(MetricName::TransferWait, now.saturating_sub(left));
                }
            }
            Input::Notice(Notice::ChatEnded { .. }) => rec.counters.chats.closed += 1,
            _ => {}
        }
    }

    fn finish(&mut self, _: Duration, _: &mut Recorder) {}
}

/// A user hears of a transfer when the server tells it, but its wait for the next
/// agent runs from when the transfer was due: a server that tells the user late
/// (here: with the next agent's join, in one go) does not shorten `transfer_wait`.
#[tokio::test]
async fn a_transfer_wait_runs_from_when_the_transfer_was_due() {
    let left = ServerFrame::Notice {
        notice: Notice::AgentLeft {
            chat: ChatId(1),
            agent: AgentId::from("alice"),
            reason: LeftReason::Transferred,
        },
    };
    let joined = ServerFrame::Notice {
        notice: Notice::AgentJoined {
            chat: ChatId(1),
            agent: AgentId::from("bob"),
            name: "Bob".into(),
        },
    };
    let url = scripted_server(Duration::ZERO, vec![left.to_json(), joined.to_json()]).await;
    let (_end_tx, end) = tokio::sync::watch::channel(false);
    let ctx = user_ctx(end, Arc::default());
    let late = Duration::from_millis(200);
    // Due 200 ms before the user hears of it, after the run's clock started.
    tokio::time::sleep(late + Duration::from_millis(50)).await;
    ctx.transfers
        .due(ChatId(1), &AgentId::from("alice"), Instant::now() - late);
    let (rec, _) = tokio::time::timeout(
        Duration::from_secs(10),
        run(TimesTransfers::default(), Kind::User, url, ctx),
    )
    .await
    .expect("the task ends once the chat has");
    let wait = rec.exact(MetricName::TransferWait).max.expect("timed");
    assert!(
        wait >= late.as_micros() as u64,
        "{wait} µs: timed from when the user heard"
    );
    assert!(wait < 10_000_000, "{wait} µs");
}

/// A user counts as arrived in the interval of its scheduled arrival, however long
/// the server took to accept its connection (the open model).
#[tokio::test]
async fn an_arrival_counts_in_the_interval_it_was_due_in() {
    let url = scripted_server(Duration::from_millis(1500), Vec::new()).await;
    let mut rec = user_until_its_chat_ends(url).await;
    let offered = |rec: &mut Recorder, i| rec.timeline().get(i).map_or(0, |iv| iv.counts.offered);
    assert_eq!(offered(&mut rec, 0), 1, "due in the first second");
    assert_eq!(offered(&mut rec, 1), 0, "connected in the second");
}

/// A user scheduled to connect earlier than its task got to run counts the delay in
/// `connect_time`, as every latency counts from the schedule.
#[tokio::test]
async fn connect_time_counts_from_the_schedule() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let server = tokio::spawn(switchboard_server::serve(
        listener,
        switchboard_server::ServerConfig::default(),
        std::future::pending::<()>(),
    ));
    let on_time = connect_timed(&url, None).await.expect("connects").3;
    let late = Instant::now() - Duration::from_millis(300);
    let late = connect_timed(&url, Some(late)).await.expect("connects").3;
    assert!(late >= Duration::from_millis(300), "{late:?}");
    assert!(on_time > Duration::ZERO);
    // A schedule still ahead (agents connecting before the clock starts) is not
    // counted backwards.
    let ahead = Instant::now() + Duration::from_secs(60);
    let ahead = connect_timed(&url, Some(ahead)).await.expect("connects").3;
    assert!(
        ahead > Duration::ZERO,
        "timed from a moment still to come: {ahead:?}"
    );
    server.abort();
}
