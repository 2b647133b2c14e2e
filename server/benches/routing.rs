//! Routing cost: one auto-accept assignment with 100, 1,000 and 10,000 agents signed
//! in, per policy (it must stay nearly flat: pools are indexed, never scanned), the
//! Desk's command throughput on a whole conversation, and the cost of reading one
//! client frame and of writing the two frames a chat message costs the server.
//!
//! `cargo bench -p switchboard-server --bench routing`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use switchboard_server::domain::*;

const QUEUE: &str = "support";

/// A desk with `agents` agents signed in and available for 4, under `policy`. It
/// forgets ended chats, as a long run's does: an iteration ends its chat, so the
/// Desk's maps stay the same size however many iterations criterion runs.
fn desk_with(agents: usize, policy: PolicyKind) -> Desk {
    let routing = RoutingConfig {
        auto_accept: policy != PolicyKind::Manual,
        policy,
        default_available_for: 4,
        ..RoutingConfig::default()
    };
    let profiles =
        (0..agents).map(|i| AgentProfile::chat_agent(&format!("agent-{i:05}"), &[QUEUE]));
    let mut desk = Desk::new(
        DeskConfig {
            routing,
            ..DeskConfig::default()
        },
        [QueueId::from(QUEUE)],
        profiles,
        ReferenceData::default(),
    )
    .expect("valid desk");
    desk.forget_ended_chats(true);
    for i in 0..agents {
        let who = Principal::Agent(format!("agent-{i:05}").into());
        desk.handle(&who, Command::SignIn, Time(0))
            .expect("sign in");
    }
    desk
}

fn start(desk: &mut Desk, user: u64, now: u64) -> Outcome {
    desk.handle(
        &Principal::User(UserId(user)),
        Command::StartChat {
            queue: QUEUE.into(),
            subject: "laptop".into(),
            source: ChatSource::SelfService,
            customer: None,
        },
        Time(now),
    )
    .expect("start")
}

/// One iteration: a chat arrives and is auto-assigned, then its agent closes it, so the
/// pool stays the same size.
fn assignment(c: &mut Criterion) {
    let mut group = c.benchmark_group("auto_assign");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_millis(500));
    for policy in PolicyKind::ALL
        .into_iter()
        .filter(|p| *p != PolicyKind::Manual)
    {
        for agents in [100usize, 1_000, 10_000] {
            let mut desk = desk_with(agents, policy);
            let mut n = 0u64;
            group.bench_with_input(BenchmarkId::new(policy.name(), agents), &agents, |b, _| {
                b.iter(|| {
                    n += 1;
                    let o = start(&mut desk, n, n);
                    let Some((agent, chat)) =
                        o.deliveries.iter().find_map(|d| match (&d.to, &d.notice) {
                            (Recipient::Agent(a), Notice::Assigned(v)) => Some((a.clone(), v.chat)),
                            _ => None,
                        })
                    else {
                        panic!("chat was not assigned");
                    };
                    let closed = desk
                        .handle(&Principal::Agent(agent), Command::Close { chat }, Time(n))
                        .expect("close");
                    black_box(closed);
                });
            });
        }
    }
    group.finish();
}

/// Commands per second on a whole conversation with manual accept: start, accept,
/// four messages each way, close (11 commands).
fn conversation(c: &mut Criterion) {
    let mut group = c.benchmark_group("desk_throughput");
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(11));
    let mut desk = desk_with(1_000, PolicyKind::Manual);
    let mut n = 0u64;
    group.bench_function("conversation_1000_agents", |b| {
        b.iter(|| {
            n += 1;
            let agent = Principal::Agent(format!("agent-{:05}", n % 1_000).into());
            let user = Principal::User(UserId(n));
            let Reply::ChatStarted { chat, .. } = start(&mut desk, n, n).reply else {
                panic!("not started")
            };
            desk.handle(&agent, Command::Accept { chat }, Time(n))
                .expect("accept");
            for i in 0..4 {
                let text = format!("message {i}");
                desk.handle(
                    &user,
                    Command::Send {
                        chat,
                        text: text.clone(),
                    },
                    Time(n),
                )
                .expect("user send");
                desk.handle(&agent, Command::Send { chat, text }, Time(n))
                    .expect("agent send");
            }
            black_box(
                desk.handle(&agent, Command::Close { chat }, Time(n))
                    .expect("close"),
            );
        });
    });
    group.finish();
}

/// Reading one client frame into its typed message: the hot `send`, and an `accept`.
fn parsing(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_client_message");
    let frames = [
        (
            "send",
            r#"{"type":"send","req":41,"chat":12,"text":"Hi, Outlook prompts me every minute for my password"}"#,
        ),
        ("accept", r#"{"type":"accept","req":7,"chat":12}"#),
    ];
    for (name, text) in frames {
        g.throughput(Throughput::Elements(1));
        g.bench_function(name, |b| {
            b.iter(|| {
                switchboard_server::protocol::parse_client_message(std::hint::black_box(text))
            })
        });
    }
    g.finish();
}

/// Writing the frames of one relayed chat message: the `message` notice to the other
/// side and the `reply` to the sender.
fn encoding(c: &mut Criterion) {
    use switchboard_server::protocol::{ReqId, encode_notice, encode_reply};
    let mut g = c.benchmark_group("encode_server_frame");
    g.throughput(Throughput::Elements(1));
    let notice = Notice::Message {
        chat: ChatId(12),
        entry: Entry {
            seq: 41,
            at: Time(1_234_567),
            from: Party::Agent(AgentId("alice".into())),
            body: EntryBody::Text {
                text: "Hi, Outlook prompts me every minute for my password".into(),
            },
        },
    };
    g.bench_function("message_notice", |b| {
        b.iter(|| encode_notice(black_box(&notice)))
    });
    let reply = Reply::Sent {
        chat: ChatId(12),
        seq: 41,
    };
    let req = Some(ReqId::Num(41));
    g.bench_function("send_reply", |b| {
        b.iter(|| encode_reply(black_box(&req), "send", black_box(&reply)))
    });
    g.finish();
}

criterion_group!(benches, assignment, conversation, parsing, encoding);
criterion_main!(benches);
