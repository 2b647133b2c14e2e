//! Live against virtual: the same Markovian scenario run live (embedded server, real
//! WebSockets, time_scale 300, so that a real millisecond of delay on a busy machine
//! is only 0.3 s of scenario time) and in virtual time gives statistically consistent
//! queueing results. The live run must fall inside the 99% prediction interval of
//! virtual replications for service level, abandon rate and mean accept_wait.
//! The longer experiment is in `docs/virtual-time.md`.

use switchboard_sim::compare::execute::run_once;
use switchboard_sim::metrics::{MetricName, Mode, Summary};
use switchboard_sim::scenario::Scenario;

const SCENARIO: &str = r#"
name = "live-vs-virtual"
seed = 1
duration = "90m"
drain = "20m"
time_scale = 300
service_level_target = "20s"

[routing]
policy = "least-active"

[[queues]]
name = "q"

[[agents]]
group = "a"
count = 10
queues = ["q"]
available_for = 1
reply_delay = "exp(mean=10s)"
handle_time = "exp(mean=3m)"

[[users]]
queue = "q"
arrival = "poisson(rate=170/h)"
patience = "exp(mean=3m)"
messages = "2"
think_time = "exp(mean=20s)"
"#;

/// Two-sided 99% Student-t quantile for 11 degrees of freedom.
const T99_11: f64 = 3.106;

fn figures(s: &Summary) -> [f64; 3] {
    [
        s.service_level.unwrap_or(f64::NAN),
        s.abandon_rate.unwrap_or(f64::NAN),
        s.metrics
            .get(MetricName::AcceptWait)
            .and_then(|m| m.mean)
            .unwrap_or(0.0)
            / 1000.0,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_and_virtual_agree() {
    let scenario = Scenario::parse(SCENARIO, "live-vs-virtual.toml").expect("valid");
    let mut virtual_runs = Vec::new();
    for seed in 1..=12 {
        let mut s = scenario.clone();
        s.seed = seed;
        let (summary, _) = run_once(&s, Mode::Virtual).await.expect("virtual run");
        virtual_runs.push(figures(&summary));
    }
    let (live, _) = run_once(&scenario, Mode::Live).await.expect("live run");
    assert_eq!(live.counters.chats.lost, 0);
    let live = figures(&live);
    let n = virtual_runs.len() as f64;
    for (k, name) in ["service_level", "abandon_rate", "accept_wait mean (s)"]
        .iter()
        .enumerate()
    {
        let v: Vec<f64> = virtual_runs.iter().map(|r| r[k]).collect();
        let mean = v.iter().sum::<f64>() / n;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let half = T99_11 * sd * (1.0 + 1.0 / n).sqrt();
        eprintln!(
            "{name:<22} live {:.4}  virtual {mean:.4} (99% prediction ±{half:.4})",
            live[k]
        );
        assert!(
            (live[k] - mean).abs() <= half,
            "{name}: live {} outside virtual {mean} ± {half}",
            live[k]
        );
    }
}
