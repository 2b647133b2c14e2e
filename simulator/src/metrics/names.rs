//! The names of what a run measures. They are a contract: reports, thresholds and
//! tests refer to metrics by these exact strings (DESIGN.md, "Measurements").

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which clock a metric is measured on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    /// Scenario time: real time multiplied back by `time_scale` in live mode.
    Scenario,
    /// Real (wall-clock) time: transport and server latencies, live mode only.
    Real,
}

/// A latency or duration metric, recorded into an HDR histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricName {
    /// Chat requested → agent joined, as the user sees it.
    AcceptWait,
    /// Chat transferred → the next agent joined (not a re-queue after an agent's
    /// connection was lost).
    TransferWait,
    /// Chat accepted → closed.
    HandleTime,
    /// A message sent on one socket → received on the other.
    MessageLatency,
    /// A ticket command (`create_ticket`, `confirm_ticket`) due → its reply.
    TicketLatency,
    /// From a user's scheduled arrival (an agent's first try) to the server's `welcome`
    /// on its WebSocket: the timer's lateness, the TCP connect and the upgrade.
    ConnectTime,
    /// Chat requested → agent joined, for chats requested while a slot was free.
    RoutingLatency,
    /// How late the driver started an action compared with its schedule: a
    /// self-check of the load generator (large values mean it was overloaded).
    SchedulerLag,
}

impl MetricName {
    /// Every metric, in report order.
    pub const ALL: [MetricName; 8] = [
        MetricName::AcceptWait,
        MetricName::TransferWait,
        MetricName::HandleTime,
        MetricName::MessageLatency,
        MetricName::TicketLatency,
        MetricName::ConnectTime,
        MetricName::RoutingLatency,
        MetricName::SchedulerLag,
    ];

    /// The metric's name in reports and thresholds.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricName::AcceptWait => "accept_wait",
            MetricName::TransferWait => "transfer_wait",
            MetricName::HandleTime => "handle_time",
            MetricName::MessageLatency => "message_latency",
            MetricName::TicketLatency => "ticket_latency",
            MetricName::ConnectTime => "connect_time",
            MetricName::RoutingLatency => "routing_latency",
            MetricName::SchedulerLag => "scheduler_lag",
        }
    }

    /// The clock the metric is measured on.
    pub fn clock(self) -> Clock {
        match self {
            MetricName::AcceptWait | MetricName::TransferWait | MetricName::HandleTime => {
                Clock::Scenario
            }
            _ => Clock::Real,
        }
    }

    /// Its position in [`MetricName::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for MetricName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MetricName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        MetricName::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown metric `{s}`; expected one of: {}",
                    list(MetricName::ALL.iter().map(|m| m.as_str()))
                )
            })
    }
}

/// A statistic of a metric's distribution, as in `accept_wait.p95`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stat {
    /// Number of samples.
    Count,
    /// Smallest sample.
    Min,
    /// Arithmetic mean.
    Mean,
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
    /// Largest sample.
    Max,
}

impl Stat {
    /// Every statistic, in report (and CSV column) order.
    pub const ALL: [Stat; 9] = [
        Stat::Count,
        Stat::Min,
        Stat::Mean,
        Stat::P50,
        Stat::P90,
        Stat::P95,
        Stat::P99,
        Stat::P999,
        Stat::Max,
    ];

    /// The statistic's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stat::Count => "count",
            Stat::Min => "min",
            Stat::Mean => "mean",
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
            Stat::P999 => "p999",
            Stat::Max => "max",
        }
    }

    /// The percentile (0..=100) for percentile statistics.
    pub fn percentile(self) -> Option<f64> {
        match self {
            Stat::P50 => Some(50.0),
            Stat::P90 => Some(90.0),
            Stat::P95 => Some(95.0),
            Stat::P99 => Some(99.0),
            Stat::P999 => Some(99.9),
            _ => None,
        }
    }
}

impl FromStr for Stat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Stat::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown statistic `{s}`; expected one of: {}",
                    list(Stat::ALL.iter().map(|m| m.as_str()))
                )
            })
    }
}

/// A rate computed at the end of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateName {
    /// Chats accepted within the scenario's target ÷ chats offered.
    ServiceLevel,
    /// Chats abandoned ÷ chats offered.
    AbandonRate,
    /// Busy agent slot-time ÷ offered agent slot-time.
    Occupancy,
    /// Jain's fairness index of per-agent occupancy (1 = perfectly even).
    Fairness,
}

impl RateName {
    /// Every rate, in report order.
    pub const ALL: [RateName; 4] = [
        RateName::ServiceLevel,
        RateName::AbandonRate,
        RateName::Occupancy,
        RateName::Fairness,
    ];

    /// The rate's name in reports and thresholds.
    pub fn as_str(self) -> &'static str {
        match self {
            RateName::ServiceLevel => "service_level",
            RateName::AbandonRate => "abandon_rate",
            RateName::Occupancy => "occupancy",
            RateName::Fairness => "fairness",
        }
    }
}

impl FromStr for RateName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        RateName::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown rate `{s}`"))
    }
}

/// Joins names for "expected one of" messages.
pub(crate) fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_contract() {
        let names: Vec<_> = MetricName::ALL.iter().map(|m| m.as_str()).collect();
        assert_eq!(
            names,
            [
                "accept_wait",
                "transfer_wait",
                "handle_time",
                "message_latency",
                "ticket_latency",
                "connect_time",
                "routing_latency",
                "scheduler_lag"
            ]
        );
        for (i, m) in MetricName::ALL.iter().enumerate() {
            assert_eq!(m.index(), i);
            assert_eq!(m.as_str().parse::<MetricName>(), Ok(*m));
            let json = serde_json::to_string(m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.as_str()));
        }
        assert_eq!(MetricName::AcceptWait.clock(), Clock::Scenario);
        assert_eq!(MetricName::MessageLatency.clock(), Clock::Real);
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let err = "accept_time".parse::<MetricName>().unwrap_err();
        assert!(
            err.contains("accept_wait") && err.contains("scheduler_lag"),
            "{err}"
        );
        let err = "p75".parse::<Stat>().unwrap_err();
        assert!(err.contains("p999"), "{err}");
        assert_eq!(
            "abandon_rate".parse::<RateName>(),
            Ok(RateName::AbandonRate)
        );
    }
}
