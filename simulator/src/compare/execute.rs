//! Running a comparison: replication by replication, every variant with the same
//! master seed (`seed + i`), collecting the figures each run produced.

use super::CompareError;
use super::plan::Plan;
use super::stats::{Estimate, paired};
use crate::live::{self, LiveOptions};
use crate::metrics::{MetricName, Mode, Recorder, RunInfo, Summary};
use crate::scenario::Scenario;
use crate::virtual_time::VirtualRun;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// A compared metric: its name in `comparison.csv`, unit, and which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MetricSpec {
    /// Name in the CSV and console.
    pub name: &'static str,
    /// `ratio`, `s` or `count`.
    pub unit: &'static str,
    /// Whether a larger value is better (`None`: neither, e.g. occupancy).
    pub higher_is_better: Option<bool>,
}

impl MetricSpec {
    /// `v` within the values the metric can take (a ratio from 0 to 1, a wait or a
    /// count from 0): where a confidence interval's end is shown, rather than a service
    /// level of 100.19% or a wait of -0.42 s.
    pub fn clip(&self, v: f64) -> f64 {
        match self.unit {
            // `clamp` and the guard keep a NaN (no interval, one replication) as it is.
            "ratio" => v.clamp(0.0, 1.0),
            _ if v.is_nan() => v,
            _ => v.max(0.0),
        }
    }
}

/// Every compared metric, in report order. The first ranks the variants.
pub const METRICS: [MetricSpec; 9] = [
    MetricSpec {
        name: "service_level",
        unit: "ratio",
        higher_is_better: Some(true),
    },
    MetricSpec {
        name: "accept_wait.mean",
        unit: "s",
        higher_is_better: Some(false),
    },
    MetricSpec {
        name: "accept_wait.p50",
        unit: "s",
        higher_is_better: Some(false),
    },
    MetricSpec {
        name: "accept_wait.p95",
        unit: "s",
        higher_is_better: Some(false),
    },
    MetricSpec {
        name: "accept_wait.p99",
        unit: "s",
        higher_is_better: Some(false),
    },
    MetricSpec {
        name: "abandon_rate",
        unit: "ratio",
        higher_is_better: Some(false),
    },
    MetricSpec {
        name: "occupancy",
        unit: "ratio",
        higher_is_better: None,
    },
    MetricSpec {
        name: "fairness",
        unit: "ratio",
        higher_is_better: Some(true),
    },
    MetricSpec {
        name: "transfers",
        unit: "count",
        higher_is_better: None,
    },
];

/// The metric that orders the variants (`--rank-by`): one of [`METRICS`] with a
/// better direction; `service_level` by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RankBy(pub usize);

impl RankBy {
    /// The metric's name.
    pub fn name(self) -> &'static str {
        METRICS[self.0].name
    }
}

impl std::str::FromStr for RankBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let rankable = || METRICS.iter().filter(|m| m.higher_is_better.is_some());
        METRICS
            .iter()
            .position(|m| m.name == s && m.higher_is_better.is_some())
            .map(RankBy)
            .ok_or_else(|| {
                let names: Vec<&str> = rankable().map(|m| m.name).collect();
                format!("cannot rank by `{s}`: choose one of {}", names.join(", "))
            })
    }
}

impl Serialize for RankBy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// What is compared for each support queue when users ask more than one: service
/// level, mean accept wait and abandon rate, as in [`METRICS`].
pub const QUEUE_METRICS: [MetricSpec; 3] = [METRICS[0], METRICS[1], METRICS[5]];

/// Quantiles at which the accept_wait CDF is sampled.
pub fn cdf_quantiles() -> Vec<f64> {
    let mut q: Vec<f64> = (0..=98).map(|i| f64::from(i) / 100.0).collect();
    q.extend([0.99, 0.995, 0.999, 1.0]);
    q
}

/// What one run produced, for the comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunFigures {
    /// One value per [`METRICS`] entry.
    pub values: Vec<Option<f64>>,
    /// Per-agent occupancy.
    pub agent_loads: Vec<f64>,
    /// accept_wait in seconds at each of [`cdf_quantiles`] (empty when none accepted).
    pub cdf: Vec<f64>,
    /// Chats offered (identical across variants of a replication under CRN).
    pub offered: u64,
    /// Per support queue, one value per [`QUEUE_METRICS`] entry.
    pub queues: BTreeMap<String, Vec<Option<f64>>>,
    /// The run's warnings ([`Summary::warnings`]: users still waiting at the end past
    /// the target; in live runs the load generator behind its own schedule, chats
    /// counted lost in a run compressed to seconds, messages unseen at the end). Absent
    /// from the JSON when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The scenario's thresholds this run did not meet, as written. Absent from the
    /// JSON when it met them all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_thresholds: Vec<String>,
    /// Of those, the ones that failed for want of data (nothing in the run to compute
    /// them from: no transfer for a `transfer_wait` threshold, say).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thresholds_without_data: Vec<String>,
    /// The thresholds that do not apply to this run (a real-time metric in virtual
    /// time): they pass without being tested.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thresholds_not_applicable: Vec<String>,
}

impl RunFigures {
    /// The figures of a summarised run and its recorder.
    pub fn of(summary: &Summary, recorder: &mut Recorder) -> RunFigures {
        let wait = summary.metrics.get(MetricName::AcceptWait);
        let s = |v: Option<f64>| v.map(|ms| ms / 1000.0);
        let values = vec![
            summary.service_level,
            s(wait.and_then(|w| w.mean)),
            s(wait.and_then(|w| w.p50)),
            s(wait.and_then(|w| w.p95)),
            s(wait.and_then(|w| w.p99)),
            summary.abandon_rate,
            summary.occupancy,
            summary.fairness,
            Some(summary.counters.chats.transferred as f64),
        ];
        let cdf = match recorder.histogram(MetricName::AcceptWait) {
            Ok(h) if !h.is_empty() => cdf_quantiles()
                .into_iter()
                .map(|q| h.value_at_quantile(q) as f64 / 1e6)
                .collect(),
            _ => Vec::new(),
        };
        RunFigures {
            values,
            agent_loads: summary
                .agents
                .values()
                .filter_map(|a| a.occupancy())
                .collect(),
            cdf,
            offered: summary.counters.chats.offered,
            queues: summary
                .queues
                .iter()
                .map(|(name, q)| {
                    let wait = q.accept_wait.mean.map(|ms| ms / 1000.0);
                    (name.clone(), vec![q.service_level, wait, q.abandon_rate])
                })
                .collect(),
            warnings: summary.warnings.clone(),
            failed_thresholds: summary
                .thresholds
                .iter()
                .filter(|t| !t.pass)
                .map(|t| t.expression.clone())
                .collect(),
            thresholds_without_data: summary
                .thresholds
                .iter()
                .filter(|t| !t.pass && t.no_data.is_some())
                .map(|t| t.expression.clone())
                .collect(),
            thresholds_not_applicable: summary
                .thresholds
                .iter()
                .filter(|t| t.not_applicable.is_some())
                .map(|t| t.expression.clone())
                .collect(),
        }
    }
}

/// One variant's runs.
#[derive(Clone, Debug, Serialize)]
pub struct VariantResult {
    /// The variant's name (`key=value, …`).
    pub name: String,
    /// `(key, value)` of each varied key.
    pub values: Vec<(String, String)>,
    /// Replication `i`'s figures at index `i`.
    pub runs: Vec<RunFigures>,
}

impl VariantResult {
    /// Metric `m`'s value in every replication.
    pub fn series(&self, m: usize) -> Vec<Option<f64>> {
        self.runs.iter().map(|r| r.values[m]).collect()
    }

    /// Metric `m`'s estimate over replications.
    pub fn estimate(&self, m: usize) -> Option<Estimate> {
        Estimate::of(self.series(m))
    }

    /// How many of its runs met every threshold of the scenario.
    pub fn runs_meeting_thresholds(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| r.failed_thresholds.is_empty())
            .count()
    }

    /// Each threshold some run failed, with how many runs failed it and how many of
    /// those for want of data, in the order of `thresholds`.
    pub fn threshold_failures<'a>(&self, thresholds: &'a [String]) -> Vec<(&'a str, usize, usize)> {
        thresholds
            .iter()
            .map(|t| {
                let count = |list: fn(&RunFigures) -> &Vec<String>| {
                    self.runs.iter().filter(|r| list(r).contains(t)).count()
                };
                (
                    t.as_str(),
                    count(|r| &r.failed_thresholds),
                    count(|r| &r.thresholds_without_data),
                )
            })
            .filter(|&(_, failed, _)| failed > 0)
            .collect()
    }

    /// [`QUEUE_METRICS`] entry `m` of `queue`'s users, estimated over replications.
    pub fn queue_estimate(&self, queue: &str, m: usize) -> Option<Estimate> {
        Estimate::of(
            self.runs
                .iter()
                .map(|r| r.queues.get(queue).and_then(|v| v[m])),
        )
    }
}

/// A finished comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// The scenario's name.
    pub scenario: String,
    /// Live or virtual.
    pub mode: Mode,
    /// Replications per variant.
    pub replications: u64,
    /// Master seed of replication 0.
    pub seed: u64,
    /// The varied keys.
    pub keys: Vec<String>,
    /// Every variant.
    pub variants: Vec<VariantResult>,
    /// The metric that orders them.
    pub rank_by: RankBy,
    /// The scenario's thresholds, as written: every run is held to them (and its
    /// variant's count of runs that met them all reported), but they do not rank.
    pub thresholds: Vec<String>,
    /// Wall-clock seconds the comparison took.
    pub real_seconds: f64,
    /// Why the comparison stopped before its planned replications (a run failed, or a
    /// live one was stopped by Ctrl-C): `replications` then counts those every variant
    /// completed. Absent from the JSON when it ran to the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl Comparison {
    /// Variants ordered best first by the mean of the `rank_by` metric, ties broken by
    /// [`Comparison::tie_breakers`]: mean service level, mean accept_wait, then every
    /// other metric with a better direction, in [`METRICS`] order (a tie of means that
    /// the list order broke would name a "best" the figures do not). A variant that
    /// could not compute a metric comes after those that could; variants equal in
    /// every mean keep the order given.
    pub fn ranking(&self) -> Vec<usize> {
        let mut keys = vec![self.rank_by.0];
        keys.extend(self.tie_breakers());
        // Each metric's mean, turned so that larger is better.
        let score = |i: usize, m: usize| {
            let better = METRICS[m].higher_is_better.unwrap_or(true);
            self.variants[i]
                .estimate(m)
                .map_or(f64::NEG_INFINITY, |e| if better { e.mean } else { -e.mean })
        };
        let mut order: Vec<usize> = (0..self.variants.len()).collect();
        order.sort_by(|&a, &b| {
            keys.iter()
                .map(|&m| score(b, m).total_cmp(&score(a, m)))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        order
    }

    /// The metrics that order variants tied on the mean of `rank_by`, in turn.
    pub fn tie_breakers(&self) -> Vec<usize> {
        let directional = (0..METRICS.len()).filter(|&m| METRICS[m].higher_is_better.is_some());
        [0, 1]
            .into_iter()
            .chain(directional.filter(|&m| m > 1))
            .filter(|&m| m != self.rank_by.0)
            .collect()
    }

    /// Every run's warnings, in the order the runs were made: the variant's name, the
    /// replication and the warning.
    pub fn warnings(&self) -> Vec<(&str, u64, &str)> {
        let mut all = Vec::new();
        for i in 0..self.replications {
            for v in &self.variants {
                let Some(run) = usize::try_from(i).ok().and_then(|i| v.runs.get(i)) else {
                    continue;
                };
                for w in &run.warnings {
                    all.push((v.name.as_str(), i, w.as_str()));
                }
            }
        }
        all
    }

    /// The thresholds some run could not apply (a real-time metric in virtual time):
    /// they passed without being tested.
    pub fn thresholds_not_applicable(&self) -> Vec<&str> {
        self.thresholds
            .iter()
            .filter(|t| {
                self.variants
                    .iter()
                    .flat_map(|v| &v.runs)
                    .any(|r| r.thresholds_not_applicable.contains(t))
            })
            .map(String::as_str)
            .collect()
    }

    /// The support queues users asked, when some run's users asked more than one
    /// (otherwise each queue's figures are the totals').
    pub fn queues(&self) -> Vec<String> {
        let runs = || self.variants.iter().flat_map(|v| v.runs.iter());
        if !runs().any(|r| r.queues.len() > 1) {
            return Vec::new();
        }
        let names: std::collections::BTreeSet<&String> =
            runs().flat_map(|r| r.queues.keys()).collect();
        names.into_iter().cloned().collect()
    }

    /// The paired difference `a - b` of metric `m` over replications.
    pub fn difference(&self, m: usize, a: usize, b: usize) -> Option<Estimate> {
        paired(&self.variants[a].series(m), &self.variants[b].series(m))
    }
}

/// Runs one scenario once and returns its summary and recorder.
pub async fn run_once(scenario: &Scenario, mode: Mode) -> Result<(Summary, Recorder), String> {
    let (mut recorder, elapsed) = match mode {
        Mode::Virtual => {
            let (rec, _stats, _desk) = VirtualRun::new(scenario).map_err(|e| e.to_string())?.run();
            (rec, scenario.horizon().as_secs_f64())
        }
        Mode::Live => {
            let opts = LiveOptions {
                target: None,
                journal: None,
                progress: false,
                history: false,
                interrupt_ends_at_once: true,
            };
            let o = live::run(scenario, opts).await.map_err(|e| e.to_string())?;
            if o.interrupted.is_some() {
                return Err("interrupted (Ctrl-C): the comparison stops".to_string());
            }
            (o.recorder, o.scenario.as_secs_f64())
        }
    };
    let mut info = RunInfo::for_scenario(scenario, mode, &[]);
    // Wall-clock fields are left alone: a comparison reports scenario figures only.
    info.elapsed.scenario_seconds = elapsed;
    let mut summary = Summary::build(info, &mut recorder).map_err(|e| e.to_string())?;
    summary.apply_thresholds(&scenario.thresholds.0);
    Ok((summary, recorder))
}

/// Runs `plan` in `mode`; `progress` is told `(done, total, variant)` after each run.
pub async fn compare(
    plan: &Plan,
    mode: Mode,
    rank_by: RankBy,
    progress: impl FnMut(usize, usize, &str),
) -> Result<Comparison, CompareError> {
    compare_with(plan, mode, rank_by, progress, |scenario| async move {
        let (summary, mut recorder) = run_once(&scenario, mode).await?;
        Ok(RunFigures::of(&summary, &mut recorder))
    })
    .await
}

/// [`compare`] with `run` making each run. A run that fails (or a live one stopped by
/// Ctrl-C) stops the comparison: it fails if the first replication was not complete,
/// and otherwise keeps the replications every variant completed, saying why it
/// stopped ([`Comparison::stopped`]).
async fn compare_with<F, Fut>(
    plan: &Plan,
    mode: Mode,
    rank_by: RankBy,
    mut progress: impl FnMut(usize, usize, &str),
    mut run: F,
) -> Result<Comparison, CompareError>
where
    F: FnMut(Scenario) -> Fut,
    Fut: Future<Output = Result<RunFigures, String>>,
{
    let wall = Instant::now();
    let total = plan.variants.len() * plan.replications as usize;
    let mut variants: Vec<VariantResult> = plan
        .variants
        .iter()
        .map(|v| VariantResult {
            name: v.name.clone(),
            values: v
                .overrides
                .iter()
                .map(|o| (o.key.clone(), o.value.clone()))
                .collect(),
            runs: Vec::new(),
        })
        .collect();
    let mut done = 0;
    let mut completed = plan.replications;
    let mut stopped = None;
    'replications: for i in 0..plan.replications {
        for (v, variant) in plan.variants.iter().enumerate() {
            let mut scenario = variant.scenario.clone();
            scenario.seed = plan.seed.wrapping_add(i);
            match run(scenario).await {
                Ok(figures) => variants[v].runs.push(figures),
                Err(message) if i == 0 => {
                    return Err(CompareError::Run {
                        variant: variant.name.clone(),
                        replication: i,
                        message,
                    });
                }
                Err(message) => {
                    // Replications are paired across variants: only whole ones count.
                    for v in &mut variants {
                        v.runs.truncate(i as usize);
                    }
                    completed = i;
                    stopped = Some(format!(
                        "variant `{}`, replication {i} (seed {}): {message}; the figures are the {i} replication{} every variant completed, of {} planned",
                        variant.name,
                        plan.seed.wrapping_add(i),
                        if i == 1 { "" } else { "s" },
                        plan.replications
                    ));
                    break 'replications;
                }
            }
            done += 1;
            progress(done, total, &variant.name);
        }
    }
    Ok(Comparison {
        scenario: plan
            .variants
            .first()
            .map_or_else(String::new, |v| v.scenario.name.clone()),
        mode,
        replications: completed,
        seed: plan.seed,
        keys: plan.vary.iter().map(|v| v.key.clone()).collect(),
        variants,
        rank_by,
        thresholds: plan.variants.first().map_or_else(Vec::new, |v| {
            v.scenario
                .thresholds
                .0
                .iter()
                .map(crate::threshold::Threshold::expression)
                .collect()
        }),
        real_seconds: wall.elapsed().as_secs_f64(),
        stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A variant whose every replication has service level `sl`, mean wait `wait`
    /// seconds and fairness `fair`.
    fn variant(name: &str, sl: f64, wait: f64, fair: f64) -> VariantResult {
        let mut values = vec![None; METRICS.len()];
        values[0] = Some(sl);
        values[1] = Some(wait);
        values[3] = Some(wait * 3.0);
        values[7] = Some(fair);
        let run = RunFigures {
            values,
            agent_loads: Vec::new(),
            cdf: Vec::new(),
            offered: 10,
            queues: BTreeMap::new(),
            warnings: Vec::new(),
            failed_thresholds: Vec::new(),
            thresholds_without_data: Vec::new(),
            thresholds_not_applicable: Vec::new(),
        };
        VariantResult {
            name: name.into(),
            values: Vec::new(),
            runs: vec![run.clone(), run],
        }
    }

    fn comparison(rank_by: &str) -> Comparison {
        Comparison {
            scenario: "unit".into(),
            mode: Mode::Virtual,
            replications: 2,
            seed: 1,
            keys: Vec::new(),
            variants: vec![
                variant("a", 0.95, 4.0, 0.90),
                variant("b", 0.97, 6.0, 0.80),
                variant("c", 0.97, 5.0, 0.70),
            ],
            rank_by: rank_by.parse().expect("a rankable metric"),
            thresholds: Vec::new(),
            real_seconds: 0.0,
            stopped: None,
        }
    }

    #[test]
    fn a_live_run_s_warnings_reach_the_comparison_s_text_page_and_json() {
        // A run whose load generator fell 50 ms behind its schedule warns of it.
        let mut recorder = Recorder::new(std::time::Duration::from_secs(60));
        for _ in 0..100 {
            recorder.record(
                MetricName::SchedulerLag,
                std::time::Duration::from_millis(50),
            );
        }
        let info = RunInfo {
            mode: Mode::Live,
            time_scale: 1.0,
            ..RunInfo::unit()
        };
        let summary = Summary::build(info, &mut recorder).unwrap();
        let run = RunFigures::of(&summary, &mut recorder);
        assert!(!run.warnings.is_empty());
        assert_eq!(run.warnings, summary.warnings);

        let mut c = comparison("service_level");
        c.variants[1].runs[1] = run;
        let warning = c.variants[1].runs[1].warnings[0].clone();
        assert!(
            warning.starts_with("load generator overloaded"),
            "{warning}"
        );
        assert_eq!(c.warnings(), [("b", 1, warning.as_str())]);
        let text = super::super::report::render(&c);
        assert!(
            text.contains("Warnings from 1 of 6 runs")
                && text.contains(&format!("b, replication 1 (seed 2): {warning}")),
            "{text}"
        );
        let page = super::super::html::to_html(&c);
        assert!(page.contains("1 warning from the runs"), "{page}");
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json["variants"][1]["runs"][1]["warnings"][0],
            warning.as_str()
        );
        assert!(json["variants"][0]["runs"][0].get("warnings").is_none());

        // Without warnings nothing is said.
        let quiet = comparison("service_level");
        assert!(quiet.warnings().is_empty());
        assert!(!super::super::report::render(&quiet).contains("Warnings"));
        assert!(!super::super::html::to_html(&quiet).contains("warning"));
    }

    #[test]
    fn each_variant_says_how_many_runs_met_the_thresholds_and_which_failed() {
        let mut c = comparison("service_level");
        // Without thresholds nothing is said.
        assert!(!super::super::report::render(&c).contains("Thresholds"));
        assert!(!super::super::html::to_html(&c).contains("threshold"));

        let (lost, p95) = ("chats.lost == 0", "accept_wait.p95 < 60s");
        c.thresholds = vec![lost.into(), p95.into()];
        c.variants[0].runs[0].failed_thresholds = vec![p95.into()];
        c.variants[0].runs[1].failed_thresholds = vec![lost.into(), p95.into()];
        c.variants[2].runs[1].failed_thresholds = vec![lost.into()];
        assert_eq!(c.variants[0].runs_meeting_thresholds(), 0);
        assert_eq!(c.variants[1].runs_meeting_thresholds(), 2);
        assert_eq!(
            c.variants[0].threshold_failures(&c.thresholds),
            [(lost, 1, 0), (p95, 2, 0)]
        );
        let text = super::super::report::render(&c);
        assert!(
            text.contains(
                "Thresholds, held to every run (they do not rank): `chats.lost == 0`, `accept_wait.p95 < 60s`\n  \
                 c        met all in 1 of 2 runs (`chats.lost == 0` failed in 1)\n  \
                 b        met all in 2 of 2 runs\n  \
                 a        met all in 0 of 2 runs (`chats.lost == 0` failed in 1, `accept_wait.p95 < 60s` failed in 2)\n"
            ),
            "{text}"
        );
        let page = super::super::html::to_html(&c);
        assert!(
            page.contains("<th>runs meeting every threshold</th>")
                && page.contains("<td>1 of 2</td></tr>"),
            "{page}"
        );
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["thresholds"][1], p95);
        assert_eq!(json["variants"][0]["runs"][1]["failed_thresholds"][0], lost);
        assert!(
            json["variants"][1]["runs"][0]
                .get("failed_thresholds")
                .is_none()
        );

        // A threshold that failed for want of data says so; one that does not apply
        // in the mode is not called met.
        let latency = "message_latency.p99 < 250ms";
        c.thresholds.push(latency.into());
        for v in &mut c.variants {
            for r in &mut v.runs {
                r.thresholds_not_applicable = vec![latency.into()];
            }
        }
        c.variants[0].runs[1].thresholds_without_data = vec![p95.into()];
        let text = super::super::report::render(&c);
        assert!(
            text.contains(
                "(they do not rank): `chats.lost == 0`, `accept_wait.p95 < 60s`\n\
                 Not applicable in virtual mode, so not tested: `message_latency.p99 < 250ms`\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("`accept_wait.p95 < 60s` failed in 2, 1 of them for want of data"),
            "{text}"
        );
    }

    /// A comparison of `routing.policy` over two variants and three replications,
    /// whose run of `fails` at seed `at` fails.
    async fn stopping_at(fails: &str, at: u64) -> Result<Comparison, CompareError> {
        let dir = std::env::temp_dir().join(format!("sb-compare-stop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("stop.toml");
        std::fs::write(
            &file,
            "name = \"stop\"\nseed = 10\nduration = \"1m\"\n[[queues]]\nname = \"q\"\n\
             [[agents]]\ngroup = \"a\"\ncount = 1\nqueues = [\"q\"]\n\
             [[users]]\nqueue = \"q\"\narrival = \"poisson(rate=1/min)\"\n",
        )
        .unwrap();
        let vary = "routing.policy=least-active,round-robin".parse().unwrap();
        let plan = Plan::new(&file, &[], vec![vary], 3).unwrap();
        let figures = variant("x", 0.9, 1.0, 0.8).runs[0].clone();
        compare_with(
            &plan,
            Mode::Virtual,
            RankBy::default(),
            |_, _, _| {},
            |scenario| {
                let policy = format!("{:?}", scenario.routing.policy).to_lowercase();
                let failed = scenario.seed == at && policy.contains(fails);
                let figures = figures.clone();
                async move {
                    if failed {
                        Err("the server went away".to_string())
                    } else {
                        Ok(figures)
                    }
                }
            },
        )
        .await
    }

    #[tokio::test]
    async fn a_run_that_fails_keeps_the_replications_every_variant_completed() {
        // Replication 2's second variant fails: replications 0 and 1 stand, whole.
        let c = stopping_at("roundrobin", 12)
            .await
            .expect("a partial comparison");
        assert_eq!(c.replications, 2);
        assert!(c.variants.iter().all(|v| v.runs.len() == 2));
        let why = c.stopped.as_deref().expect("stopped");
        assert_eq!(
            why,
            "variant `routing.policy=round-robin`, replication 2 (seed 12): the server went away; \
             the figures are the 2 replications every variant completed, of 3 planned"
        );
        let text = super::super::report::render(&c);
        assert!(
            text.contains(&format!("\nSTOPPED EARLY at {why}\n")),
            "{text}"
        );
        assert!(super::super::html::to_html(&c).contains("<b>Stopped early</b>"));
        assert_eq!(serde_json::to_value(&c).unwrap()["stopped"], why);

        // One that fails in the first replication leaves nothing to compare.
        let e = stopping_at("leastactive", 10)
            .await
            .expect_err("no whole replication");
        assert!(matches!(e, CompareError::Run { replication: 0, .. }), "{e}");

        // One that never fails: no word of stopping.
        let c = stopping_at("none", 10).await.expect("complete");
        assert_eq!((c.replications, c.stopped), (3, None));
    }

    fn ranked(rank_by: &str) -> Vec<String> {
        let c = comparison(rank_by);
        c.ranking()
            .into_iter()
            .map(|i| c.variants[i].name.clone())
            .collect()
    }

    #[test]
    fn variants_rank_by_the_chosen_metric_in_its_better_direction() {
        // Service level; the tie between b and c goes to the shorter wait.
        assert_eq!(ranked("service_level"), ["c", "b", "a"]);
        // Lower is better for waits.
        assert_eq!(ranked("accept_wait.mean"), ["a", "c", "b"]);
        assert_eq!(ranked("fairness"), ["a", "b", "c"]);
    }

    #[test]
    fn a_tie_of_service_level_and_wait_goes_to_the_next_metric_not_the_list_order() {
        // With slots to spare every policy answers at once: fairness tells them apart.
        let mut c = comparison("service_level");
        c.variants = vec![
            variant("listed-first", 1.0, 0.0, 0.97),
            variant("fairer", 1.0, 0.0, 0.999),
        ];
        let order: Vec<&str> = c
            .ranking()
            .into_iter()
            .map(|i| c.variants[i].name.as_str())
            .collect();
        assert_eq!(order, ["fairer", "listed-first"]);
        let text = crate::compare::report::render(&c);
        assert!(
            text.contains("ties broken by mean accept_wait.mean, accept_wait.p50")
                && text.contains("fairness:")
                && text.contains("Paired differences from the first-ranked (fairer)"),
            "{text}"
        );
    }

    #[test]
    fn policies_on_the_service_level_axis_are_not_joined_by_a_line() {
        let mut c = comparison("service_level");
        let with_key = |key: &str, c: &mut Comparison| {
            c.keys = vec![key.to_string()];
            for v in &mut c.variants {
                v.values = vec![(key.to_string(), v.name.clone())];
            }
        };
        with_key("routing.policy", &mut c);
        assert!(!super::super::html::to_html(&c).contains("<polyline"));
        // An ordered key is.
        with_key("agents.desk.count", &mut c);
        assert!(super::super::html::to_html(&c).contains("<polyline"));
    }

    #[test]
    fn no_paired_heading_without_a_variant_to_compare() {
        let mut c = comparison("service_level");
        let mut empty = variant("no-chats", 0.0, 0.0, 0.0);
        for run in &mut empty.runs {
            run.values = vec![None; METRICS.len()];
        }
        c.variants = vec![variant("a", 0.95, 4.0, 0.9), empty];
        let text = crate::compare::report::render(&c);
        assert!(!text.contains("Paired differences"), "{text}");
        c.variants.push(variant("b", 0.9, 5.0, 0.9));
        let text = crate::compare::report::render(&c);
        assert!(text.contains("Paired differences"), "{text}");
    }

    /// Each difference says what it rests on: one replication with data is not
    /// tested, a gap of thousandths of a point prints as such, and the verdicts are
    /// adjusted over every difference tested (Holm).
    #[test]
    fn paired_differences_say_what_they_rest_on() {
        let mut c = comparison("service_level");
        c.replications = 4;
        let runs = |sl: [f64; 4], wait: [Option<f64>; 4], fair: f64| -> Vec<RunFigures> {
            let template = variant("", 0.0, 0.0, 0.0).runs.remove(0);
            (0..4)
                .map(|i| {
                    let mut run = template.clone();
                    run.values[0] = Some(sl[i]);
                    run.values[1] = wait[i];
                    run.values[3] = None;
                    run.values[7] = Some(fair);
                    run
                })
                .collect()
        };
        let best = [0.90, 0.92, 0.88, 0.91];
        let mut a = variant("best", 0.0, 0.0, 0.0);
        a.runs = runs(best, [Some(4.0), Some(5.0), Some(6.0), Some(5.0)], 0.9);
        let mut b = variant("close", 0.0, 0.0, 0.0);
        b.runs = runs(
            best.map(|v| v - 0.000_03),
            [Some(5.0), None, None, None],
            0.9,
        );
        let mut d = variant("noisy", 0.0, 0.0, 0.0);
        d.runs = runs(
            [0.91, 0.85, 0.87, 0.86],
            [Some(4.5), Some(4.0), Some(7.0), Some(4.0)],
            0.9,
        );
        // Below the best by 1, 2, 1.5 and 0.5 points: the interval excludes zero (a
        // raw p of 0.03), but not once adjusted over the family (3 × 0.03).
        let mut e = variant("edge", 0.0, 0.0, 0.0);
        e.runs = runs(
            [0.89, 0.90, 0.865, 0.905],
            [Some(4.0), Some(5.0), Some(6.0), Some(5.0)],
            0.9,
        );
        c.variants = vec![b, a, d, e];
        let text = crate::compare::report::render(&c);
        let paired = text.split("Paired differences").nth(1).expect("paired");
        let line = |variant: &str, metric: &str| {
            paired
                .lines()
                .find(|l| l.contains(variant) && l.contains(metric))
                .unwrap_or_else(|| panic!("no {variant} {metric} in {text}"))
                .to_string()
        };
        let close = line("close", "service_level");
        assert!(
            close.contains("-0.0030 pp") && close.ends_with(" significant"),
            "{close}"
        );
        assert!(!close.ends_with("not significant"), "{close}");
        assert!(
            line("close", "accept_wait.mean").contains("only 1 replication with data: not tested"),
            "{text}"
        );
        assert!(line("close", "fairness").contains("the same in every replication"));
        // Four differences tested: the close one's p of 0 stays 0 after adjusting,
        // the edge one's triples, the noisy ones' do not get smaller.
        assert!(paired.contains("over the 4 differences tested"), "{text}");
        let edge = line("edge", "service_level");
        assert!(
            edge.contains("[-2.28 pp, -0.22 pp]") && edge.ends_with("not significant"),
            "{edge}"
        );
        assert!(edge.contains("p 0.091"), "{edge}");
        assert!(close.contains("p < 0.001"), "{close}");
        let noisy = line("noisy", "accept_wait.mean");
        assert!(noisy.ends_with("not significant"), "{noisy}");
    }

    /// Ranked by a wait, a variant whose impatient users left comes first on the
    /// waits of those who stayed: the console says so.
    #[test]
    fn a_wait_ranking_warns_of_a_first_that_lost_more_users() {
        let mut c = comparison("accept_wait.mean");
        let with_abandons = |mut v: VariantResult, rate: f64| {
            for run in &mut v.runs {
                run.values[5] = Some(rate);
            }
            v
        };
        c.variants = vec![
            with_abandons(variant("staffed", 0.95, 6.0, 0.9), 0.01),
            with_abandons(variant("understaffed", 0.60, 2.0, 0.9), 0.35),
        ];
        let text = crate::compare::report::render(&c);
        assert!(
            text.contains("The first-ranked (understaffed) lost 35.00% of its chats to abandons, staffed lost 1.00%"),
            "{text}"
        );
        // Ranked by service level, or first with the fewest abandons: no such note.
        c.rank_by = "service_level".parse().expect("rankable");
        assert!(!crate::compare::report::render(&c).contains("patient enough"));
        c.rank_by = "accept_wait.mean".parse().expect("rankable");
        c.variants[1] = with_abandons(variant("understaffed", 0.60, 2.0, 0.9), 0.01);
        assert!(!crate::compare::report::render(&c).contains("patient enough"));
    }

    #[test]
    fn the_ranking_metric_is_shown_and_compared() {
        let text = crate::compare::report::render(&comparison("accept_wait.p95"));
        let header = text.lines().find(|l| l.contains("rank")).expect("header");
        assert!(header.contains("accept_wait.p95"), "{text}");
        assert!(text.contains("ranked by mean accept_wait.p95"), "{text}");
        let paired = text.split("Paired differences").nth(1).expect("paired");
        assert!(paired.contains("accept_wait.p95"), "{text}");
    }

    #[test]
    fn only_metrics_with_a_better_direction_rank() {
        let e = "occupancy"
            .parse::<RankBy>()
            .expect_err("occupancy has no better");
        assert!(
            e.contains("choose one of service_level, accept_wait.mean"),
            "{e}"
        );
        assert!("nonsense".parse::<RankBy>().is_err());
    }
}
