//! Live mode: every virtual agent and user is a tokio task with its own WebSocket to
//! the reference server, following the same behaviour models as virtual time.
//!
//! Arrivals are an open model: each stream's schedule is drawn from the seed before the
//! run and users are started at their intended times whatever the server does; how late
//! each one actually started is recorded (`scheduler_lag`), and waits are measured from
//! the intended time, so a stalled server cannot hide behind a slowed load generator.

mod awaited;
pub mod clock;
pub mod conn;
pub mod gauges;
pub mod ledger;
pub mod progress;
pub mod server;
pub mod task;
mod transfers;

use crate::behaviour::{AgentBot, UserBot};
use crate::cast::Cast;
use crate::history::History;
use crate::metrics::{MetricName, Recorder};
use crate::scenario::Scenario;
use clock::RunClock;
use progress::Live;
use server::{ServerError, Target, agent_token};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use switchboard_server::protocol::ServerFrame;
use task::{Ctx, Kind};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// How to run live.
#[derive(Clone, Debug, Default)]
pub struct LiveOptions {
    /// An external server (`host:port`) and its admin token; `None`: embedded.
    pub target: Option<(SocketAddr, String)>,
    /// Where the embedded server writes its journal.
    pub journal: Option<PathBuf>,
    /// Show the progress bar (on a terminal).
    pub progress: bool,
    /// Keep the event history (`history.jsonl`).
    pub history: bool,
    /// Ctrl-C ends the run at once, without letting its chats drain (a comparison
    /// discards an interrupted run anyway, and keeps the replications before it).
    pub interrupt_ends_at_once: bool,
}

/// What a live run produced.
pub struct LiveOutcome {
    /// Everything measured, merged over all tasks.
    pub recorder: Recorder,
    /// Wall-clock time the run took (after agents connected).
    pub real: Duration,
    /// Scenario time covered.
    pub scenario: Duration,
    /// Whether Ctrl-C cut the run short, and when.
    pub interrupted: Option<Interrupted>,
    /// What every participant sent and received, in order.
    pub history: History,
    /// Agents that could not connect when the run started, of how many.
    pub agents_unconnected: (usize, usize),
    /// Warnings for the settings of `[faults]` an external server does not share.
    pub unlike_faults: Vec<String>,
}

/// When Ctrl-C stopped a live run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupted {
    /// Before every user had come: arrivals stopped, open chats drained.
    DuringArrivals,
    /// During the drain: the run ended at once, open chats as they stood.
    DuringDrain,
}

/// Why a live run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The server could not be started or provisioned.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The participants' figures could not be merged into the run's.
    #[error("merging the participants' figures: {0}")]
    Metrics(#[from] crate::metrics::MetricsError),
    /// The grace period, divided by `time_scale`, is under the server's millisecond.
    #[error(
        "faults.agent_grace {grace:?} at time_scale {time_scale} is {scaled:?} of server time in a live run, under the 1 ms the server counts: it would act as no grace at all; lower time_scale or lengthen the grace"
    )]
    GraceTooShort {
        /// The scenario's grace.
        grace: Duration,
        /// The scenario's time_scale.
        time_scale: f64,
        /// What the server would get.
        scaled: Duration,
    },
    /// The run needs more open files than this process may have.
    #[error(
        "this scenario needs about {needed} open files ({agents} agents and up to ~{users} users at once{embedded}) but the limit is {limit}; {remedy}"
    )]
    OpenFiles {
        /// Estimated need.
        needed: u64,
        /// The limit.
        limit: u64,
        /// Agents.
        agents: u64,
        /// Users at once (estimate).
        users: u64,
        /// Whether the server is in this process.
        embedded: &'static str,
        /// What to do about it.
        remedy: &'static str,
    },
}

/// What a live run of `scenario` needs before anything starts (checked again by
/// [`run`]; callers check first so that a refused run leaves nothing behind): enough
/// open files, and a grace period that survives `time_scale`.
pub fn preflight(scenario: &Scenario, embedded: bool) -> Result<(), LiveError> {
    check_open_files(scenario, embedded)?;
    if let Some(grace) = scenario.faults.agent_grace {
        let scaled = crate::dist::duration::to_duration(grace.as_secs_f64() / scenario.time_scale);
        if scaled < Duration::from_millis(1) {
            return Err(LiveError::GraceTooShort {
                grace,
                time_scale: scenario.time_scale,
                scaled,
            });
        }
    }
    Ok(())
}

/// The real grace period an embedded server is given for one of `scenario` time (the
/// Desk runs on real time); the routing checker works out the same.
pub(crate) fn server_grace(scenario: Duration, time_scale: f64) -> Duration {
    crate::dist::duration::to_duration(scenario.as_secs_f64() / time_scale)
}

/// Runs `scenario` live.
pub async fn run(scenario: &Scenario, opts: LiveOptions) -> Result<LiveOutcome, LiveError> {
    let cast = Cast::of(scenario);
    preflight(scenario, opts.target.is_none())?;
    let connections = cast.agents.len() + concurrent_users(scenario) as usize * 2 + 64;
    let target = match &opts.target {
        None => {
            // A grace period set in `[faults]` is scenario time; the server's own default
            // stays as it is (server time).
            let time_scale = scenario.time_scale;
            let scaled = scenario.faults.agent_grace.is_some();
            let scale = move |d: Duration| {
                if scaled {
                    server_grace(d, time_scale)
                } else {
                    d
                }
            };
            Target::embedded(
                &cast,
                opts.journal.clone(),
                connections,
                scale,
                scenario.faults.outbound_queue,
                Duration::from_secs_f64(1.0 / time_scale.max(1e-3)),
            )
            .await?
        }
        Some((addr, token)) => Target::external(*addr, token, &cast).await?,
    };
    let unlike_faults = match &opts.target {
        Some((_, token)) => unlike_faults(scenario, &target, token).await,
        None => Vec::new(),
    };
    let live = Arc::new(Live::default());
    let ledger = Arc::new(ledger::Ledger::default());
    let transfers = Arc::new(transfers::TransferTimes::default());
    let (end_tx, end_rx) = watch::channel(false);
    let target_sl = scenario.service_level_target;

    // Agents connect first, at most 64 at a time, before the clock starts: a
    // thousand handshakes must not count as the first users' waiting time.
    let gate = Arc::new(Semaphore::new(64));
    let mut connecting = JoinSet::new();
    for (i, role) in cast.agents.iter().enumerate() {
        let url = target.ws_url(Some(&agent_token(&role.id)));
        let gate = gate.clone();
        connecting.spawn(async move {
            let _permit = gate.acquire_owned().await;
            // Agents connect before the clock starts: timed from when they try.
            (i, task::connect_timed(&url, None).await)
        });
    }
    let mut pre: Vec<Option<task::Preconnected>> = cast.agents.iter().map(|_| None).collect();
    while let Some(joined) = connecting.join_next().await {
        if let Ok((i, c)) = joined {
            pre[i] = Some(c);
        }
    }
    // A connection whose first frame is not a welcome is given up as well.
    let unconnected = pre
        .iter()
        .filter(|c| !matches!(c, Some(Ok((_, _, ServerFrame::Welcome { .. }, _)))))
        .count();
    let clock = RunClock::start(scenario.time_scale);
    let interval = crate::metrics::live_interval(scenario.time_scale, scenario.horizon());
    let mut agents = JoinSet::new();
    for (role, pre) in cast.agents.iter().zip(pre) {
        let bot = AgentBot::new(
            role.id.clone(),
            role.plan.clone(),
            scenario.agent_rng(role.group, role.index),
        );
        let url = target.ws_url(Some(&agent_token(&role.id)));
        let ctx = Ctx {
            clock,
            live: live.clone(),
            ledger: ledger.clone(),
            transfers: transfers.clone(),
            end: end_rx.clone(),
            target: target_sl,
            interval,
            history: opts.history,
            reconnect: scenario.faults.reconnects(),
            start_at: None,
        };
        agents.spawn(task::run_connected(bot, Kind::Agent, url, pre, ctx));
    }

    let bar = opts.progress.then(|| {
        progress::show(
            live.clone(),
            clock,
            clock.to_real(scenario.horizon()),
            &scenario.name,
        )
    });
    let started = Instant::now();
    // Gauges once per interval, from the server's own `GET /metrics`.
    let sampler = tokio::spawn(gauges::sample(
        target.addr,
        clock,
        interval,
        target_sl,
        end_rx.clone(),
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut arrivals = JoinSet::new();
    let streams_done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for (s, plan) in cast.user_plans.iter().enumerate() {
        let schedule = scenario
            .arrival_schedule(s)
            .expect("every stream has a schedule");
        let (plan, sc, live, ledger, transfers, end_rx, stop_rx) = (
            plan.clone(),
            scenario.clone(),
            live.clone(),
            ledger.clone(),
            transfers.clone(),
            end_rx.clone(),
            stop_rx.clone(),
        );
        let url = target.ws_url(None);
        let done = streams_done.clone();
        let history = opts.history;
        arrivals.spawn(async move {
            let mut spawned = Vec::new();
            let mut lag = Recorder::new(target_sl).with_interval(interval);
            for (n, intended) in schedule.enumerate() {
                let at = clock.instant_of(intended);
                let mut stop = stop_rx.clone();
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    _ = stop.changed() => break,
                }
                if *stop_rx.borrow() {
                    break;
                }
                lag.set_now(
                    intended,
                    Some(at.saturating_duration_since(clock.instant_of(Duration::ZERO))),
                );
                lag.record(MetricName::SchedulerLag, at.elapsed());
                let bot = UserBot::new(plan.clone(), intended, sc.user_rng(s, n as u64));
                live.users_active.fetch_add(1, Ordering::Relaxed);
                let ctx = Ctx {
                    clock,
                    live: live.clone(),
                    ledger: ledger.clone(),
                    transfers: transfers.clone(),
                    end: end_rx.clone(),
                    target: target_sl,
                    interval,
                    history,
                    reconnect: false,
                    start_at: Some(at),
                };
                spawned.push(tokio::spawn(task::run(bot, Kind::User, url.clone(), ctx)));
            }
            done.fetch_add(1, Ordering::Relaxed);
            (lag, spawned)
        });
    }

    // The run ends at the horizon, when Ctrl-C's drain is over, or as soon as arrivals
    // are done and no user is left.
    let horizon = clock.instant_of(scenario.horizon());
    let arrivals_end = clock.instant_of(scenario.duration);
    let mut interrupted = None;
    let mut interrupt = interrupts();
    let mut deadline = horizon;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline.into()) => break,
            r = interrupt.changed(), if interrupted.is_none() => {
                if r.is_ok() {
                    let _ = stop_tx.send(true);
                    let now = Instant::now();
                    // Arrivals are over once every stream has started its last user (a
                    // stream behind its schedule still has some after their time).
                    let arrivals_over = now >= arrivals_end
                        && streams_done.load(Ordering::Relaxed) == cast.user_plans.len();
                    if opts.interrupt_ends_at_once {
                        interrupted = Some(Interrupted::DuringArrivals);
                        deadline = now;
                        eprintln!("\ninterrupted: ending the run now");
                    } else if !arrivals_over {
                        interrupted = Some(Interrupted::DuringArrivals);
                        deadline = deadline.min(now + clock.to_real(scenario.drain));
                        eprintln!("\ninterrupted: arrivals stopped, draining for up to {:?}", clock.to_real(scenario.drain));
                    } else {
                        // Every user came; what is asked is to stop waiting for the rest.
                        interrupted = Some(Interrupted::DuringDrain);
                        deadline = now;
                        eprintln!("\ninterrupted during the drain: ending the run now");
                    }
                }
            }
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                let after_arrivals = Instant::now() >= arrivals_end || interrupted.is_some();
                let streams_over = streams_done.load(Ordering::Relaxed) == cast.user_plans.len();
                if after_arrivals && streams_over && live.users_active.load(Ordering::Relaxed) == 0 {
                    break;
                }
            }
        }
    }
    let scenario_time = clock.now().min(scenario.horizon());
    let real = started.elapsed();
    // What no one had seen when the run ended, whatever tasks still do on their way
    // out (a message sent or seen after this instant is not the end's).
    let unseen = ledger.unseen(clock.real_micros());
    let _ = stop_tx.send(true);
    let _ = end_tx.send(true);

    let mut recorders = Vec::new();
    if let Ok(g) = sampler.await {
        recorders.push(g);
    }
    let mut histories = Vec::new();
    while let Some(r) = arrivals.join_next().await {
        if let Ok((lag, spawned)) = r {
            recorders.push(lag);
            for h in spawned {
                if let Ok((rec, hist)) = h.await {
                    recorders.push(rec);
                    histories.push(hist);
                }
            }
        }
    }
    while let Some(r) = agents.join_next().await {
        if let Ok((rec, hist)) = r {
            recorders.push(rec);
            histories.push(hist);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    target.stop().await;
    // An empty recorder in its place would pass `chats.lost == 0` on no evidence.
    let mut recorder = Recorder::merge_all(target_sl, &recorders)?;
    recorder.set_undelivered_at_end(unseen.count, unseen.oldest);
    Ok(LiveOutcome {
        recorder,
        real,
        scenario: scenario_time,
        interrupted,
        history: History::merge(histories),
        agents_unconnected: (unconnected, cast.agents.len()),
        unlike_faults,
    })
}

/// The `[faults]` settings an external server does not share (it keeps its own), as
/// warnings; none asked, nothing read.
async fn unlike_faults(scenario: &Scenario, target: &Target, admin_token: &str) -> Vec<String> {
    let faults = &scenario.faults;
    if faults.agent_grace.is_none() && faults.outbound_queue.is_none() {
        return Vec::new();
    }
    let grace = faults.agent_grace.map(|g| {
        let scaled = crate::dist::duration::to_duration(g.as_secs_f64() / scenario.time_scale);
        (g, scaled)
    });
    match target.fault_settings(admin_token).await {
        Ok(settings) => settings.unlike_faults(grace, faults.outbound_queue),
        Err(e) => vec![format!(
            "could not read the server's settings ({e}) to compare them with `[faults]` \
             agent_grace and outbound_queue: the server keeps its own, whatever the \
             scenario asks"
        )],
    }
}

/// Users connected at once, estimated with Little's law at the peak arrival rate: rate
/// × (patience, or an hour if none + the conversation), with headroom.
fn concurrent_users(s: &Scenario) -> u64 {
    let total: f64 = s
        .users
        .iter()
        .map(|u| {
            let wait = u
                .patience
                .as_ref()
                .map_or(600.0, |p| p.mean().as_secs_f64());
            let talk = u.messages.mean() * (u.think_time.mean().as_secs_f64() + 30.0);
            u.arrival.peak_per_second() * (wait + talk) * 1.5
        })
        .sum();
    (total.ceil() as u64).min(s.expected_users().ceil() as u64 + 1)
}

/// Raises the soft open-files limit to the hard one and checks the run fits.
fn check_open_files(s: &Scenario, embedded: bool) -> Result<(), LiveError> {
    // If raising fails, what is in force now still counts.
    let limit = switchboard_server::cli::raise_open_files_limit().unwrap_or(1024);
    let agents = s.agent_count();
    let users = concurrent_users(s);
    let per_conn = if embedded { 2 } else { 1 };
    let needed = (agents + users) * per_conn + switchboard_server::config::RESERVED_OPEN_FILES;
    if needed > limit {
        return Err(LiveError::OpenFiles {
            needed,
            limit,
            agents,
            users,
            embedded: if embedded {
                ", two descriptors each with the server in this process"
            } else {
                ""
            },
            // The soft limit was just raised to the hard one: only the hard one (or
            // the load, or moving the server out) can give more.
            remedy: if embedded {
                "lower the load, raise the hard limit (`ulimit -Hn`, as root), or run the \
                 server as a separate process (--target)"
            } else {
                "lower the load or raise the hard limit (`ulimit -Hn`, as root)"
            },
        });
    }
    Ok(())
}

/// Ctrl-C, as a flag that turns true. [`listen_for_interrupt`] registers the handler
/// early (before anything is printed), so a Ctrl-C that comes while the run is still
/// connecting is not lost.
static INTERRUPT: std::sync::OnceLock<watch::Receiver<bool>> = std::sync::OnceLock::new();

/// Starts listening for Ctrl-C (SIGINT) now. Call once from `main`, inside the runtime.
/// With `drains` (a live command) the first Ctrl-C stops the live run's arrivals and
/// lets it drain, even one that comes while it is still connecting; a second one, or
/// any without `drains` (a virtual run, a check), ends the program at once with
/// status 130.
pub fn listen_for_interrupt(drains: bool) -> std::io::Result<()> {
    let (tx, rx) = watch::channel(false);
    #[cfg(unix)]
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::spawn(async move {
        loop {
            #[cfg(unix)]
            let got = sigint.recv().await.is_some();
            #[cfg(not(unix))]
            let got = tokio::signal::ctrl_c().await.is_ok();
            if !got {
                return;
            }
            if *tx.borrow() || !drains {
                eprintln!("\ninterrupted");
                std::process::exit(130);
            }
            let _ = tx.send(true);
        }
    });
    let _ = INTERRUPT.set(rx);
    Ok(())
}

/// The Ctrl-C flag; one that never turns if nobody listens.
fn interrupts() -> watch::Receiver<bool> {
    match INTERRUPT.get() {
        Some(rx) => rx.clone(),
        None => {
            let (tx, rx) = watch::channel(false);
            // Keep the sender alive so `changed()` waits forever instead of erroring.
            std::mem::forget(tx);
            rx
        }
    }
}
