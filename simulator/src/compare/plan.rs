//! What to compare: `--vary KEY=V1,V2,…` arguments, checked up front against the
//! scenario (each value is applied as a `--set` override and the scenario validated),
//! and the variants they make (the cartesian product, first key slowest).

use super::CompareError;
use crate::scenario::{Override, Scenario, ScenarioError};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// One `--vary KEY=V1,V2,…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vary {
    /// The override key, as `--set` takes it.
    pub key: String,
    /// The values to try, in order.
    pub values: Vec<String>,
}

impl FromStr for Vary {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (key, values) = s.split_once('=').ok_or_else(|| {
            format!("`{s}` is not KEY=V1,V2,… (e.g. routing.policy=least-active,round-robin)")
        })?;
        let key = key.trim().to_string();
        if key.is_empty() {
            return Err(format!("`{s}` has no key before `=`"));
        }
        let values: Vec<String> = split_values(values);
        if values.is_empty() {
            return Err(format!("`{s}` has no values after `=`"));
        }
        Ok(Vary { key, values })
    }
}

/// Splits on commas outside parentheses, so `users.web.arrival=poisson(rate=2/s),
/// poisson(rate=3/s)` keeps each distribution whole.
fn split_values(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for ch in s.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    out.push(cur.trim().to_string());
    out.retain(|v| !v.is_empty());
    out
}

/// One combination of varied values.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// `key=value` pairs joined by `, `.
    pub name: String,
    /// The overrides that make it.
    pub overrides: Vec<Override>,
    /// The scenario with them applied (seed as in the file).
    pub scenario: Scenario,
}

impl Variant {
    /// The value this variant gives `key`, if varied.
    pub fn value_of(&self, key: &str) -> Option<&str> {
        self.overrides
            .iter()
            .find(|o| o.key == key)
            .map(|o| o.value.as_str())
    }
}

/// A checked comparison plan.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The scenario file.
    pub file: PathBuf,
    /// The varied keys.
    pub vary: Vec<Vary>,
    /// Every combination.
    pub variants: Vec<Variant>,
    /// Replications per variant.
    pub replications: u64,
    /// The scenario's master seed; replication `i` uses `seed + i`.
    pub seed: u64,
}

fn describe(e: &ScenarioError) -> String {
    match e {
        ScenarioError::Invalid(d) => d
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

impl Plan {
    /// Refuses what `mode` cannot run as asked, before anything runs: in virtual time,
    /// varied keys it ignores (`time_scale`, the outbound queue and slow consumers are
    /// not modelled there: the variants would be identical); live, a variant whose run
    /// would be refused (more open files than this process may have, a grace period
    /// `time_scale` shrinks to nothing).
    pub fn check_mode(&self, mode: crate::metrics::Mode) -> Result<(), CompareError> {
        if mode == crate::metrics::Mode::Live {
            // What would stop a variant's live run (too few open files, a grace period
            // `time_scale` shrinks to nothing) stops the comparison before any runs.
            let refused: Vec<String> = self
                .variants
                .iter()
                .filter_map(|v| {
                    crate::live::preflight(&v.scenario, true)
                        .err()
                        .map(|e| format!("{}: {e}", v.name))
                })
                .collect();
            if refused.is_empty() {
                return Ok(());
            }
            return Err(CompareError::Invalid(refused.join("\n")));
        }
        let ignored: Vec<&str> = self
            .vary
            .iter()
            .map(|v| v.key.as_str())
            .filter(|k| {
                *k == "time_scale"
                    || *k == "faults.outbound_queue"
                    || k.starts_with("faults.slow_consumer_")
            })
            .collect();
        if ignored.is_empty() {
            return Ok(());
        }
        Err(CompareError::Invalid(format!(
            "{} cannot change a virtual-time comparison (virtual time does not model \
             them): compare them with --mode live",
            ignored
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    /// Checks every key and value against the scenario at `file` (with `base` `--set`
    /// overrides) and builds the variants. All problems are reported together (an
    /// unknown key with the list of valid keys).
    pub fn new(
        file: &Path,
        base: &[Override],
        vary: Vec<Vary>,
        replications: u64,
    ) -> Result<Plan, CompareError> {
        if vary.is_empty() {
            return Err(CompareError::Invalid(
                "nothing to compare: give at least one --vary KEY=V1,V2,…".into(),
            ));
        }
        if replications == 0 {
            return Err(CompareError::Invalid(
                "--replications must be at least 1".into(),
            ));
        }
        let scenario =
            Scenario::load(file, base).map_err(|e| CompareError::Invalid(describe(&e)))?;
        // A stream without a name is named after its queue, and its generators after
        // its name: pinned, varying its queue does not redraw its arrivals.
        let pins = scenario
            .users
            .iter()
            .enumerate()
            .filter(|(_, u)| u.name.is_none())
            .map(|(i, u)| Override {
                key: format!("users.{i}.name"),
                value: u.name().to_string(),
            });
        let base: Vec<Override> = base.iter().cloned().chain(pins).collect();
        let base = base.as_slice();
        let mut problems = Vec::new();
        let last_seed = scenario.seed.checked_add(replications.saturating_sub(1));
        if last_seed.is_none_or(|s| s > i64::MAX as u64) {
            problems.push(format!(
                "{replications} replications from seed {} run past the largest seed a \
                 scenario file holds ({}): use a smaller seed",
                scenario.seed,
                i64::MAX
            ));
        }
        for (i, v) in vary.iter().enumerate() {
            if vary[..i].iter().any(|w| w.key == v.key) {
                problems.push(format!("`{}` is varied twice", v.key));
            }
            if v.key == "seed" {
                problems.push(
                    "`seed` cannot be varied: replications already vary it (common random numbers)"
                        .into(),
                );
            }
            if v.key.starts_with("thresholds.") || v.key == "name" || v.key == "description" {
                problems.push(format!(
                    "`{}` cannot change a comparison's figures (thresholds are held to every \
                     run, but do not rank): vary something the run depends on",
                    v.key
                ));
            }
            for (j, value) in v.values.iter().enumerate() {
                if v.values[..j].contains(value) {
                    problems.push(format!(
                        "{}={value}: given twice (two variants would be the same)",
                        v.key
                    ));
                    continue;
                }
                let ov = Override {
                    key: v.key.clone(),
                    value: value.clone(),
                };
                let mut all = base.to_vec();
                all.push(ov);
                if let Err(e) = Scenario::load(file, &all) {
                    problems.push(format!("{}={value}: {}", v.key, describe(&e)));
                }
            }
        }
        if !problems.is_empty() {
            // An unknown key's message lists the valid keys; say which of them compare
            // cannot vary. Other problems need no list.
            let listed = problems.iter().any(|p| p.contains("valid keys"));
            let hint = if listed {
                "\n(compare varies any of them but seed, name, description and \
                 thresholds.<key>; in virtual time not time_scale, faults.outbound_queue or \
                 faults.slow_consumer_* either)"
            } else {
                ""
            };
            return Err(CompareError::Invalid(format!(
                "{}{hint}",
                problems.join("\n")
            )));
        }
        let mut combos: Vec<Vec<Override>> = vec![Vec::new()];
        for v in &vary {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    v.values.iter().map(move |value| {
                        let mut c = c.clone();
                        c.push(Override {
                            key: v.key.clone(),
                            value: value.clone(),
                        });
                        c
                    })
                })
                .collect();
        }
        let mut variants = Vec::new();
        for overrides in combos {
            let mut all = base.to_vec();
            all.extend(overrides.iter().cloned());
            // Values valid alone may still clash together.
            let scenario = Scenario::load(file, &all).map_err(|e| {
                CompareError::Invalid(format!(
                    "{}: {}",
                    overrides
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    describe(&e)
                ))
            })?;
            let name = overrides
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            // Values written differently (`2m`, `120s`), or one field varied under two
            // names (`users.web.x`, `users.0.x`), can make two variants of one scenario.
            if let Some(same) = variants.iter().find(|v: &&Variant| v.scenario == scenario) {
                return Err(CompareError::Invalid(format!(
                    "{name}: the same scenario as {} (two variants would be the same)",
                    same.name
                )));
            }
            variants.push(Variant {
                name,
                overrides,
                scenario,
            });
        }
        Ok(Plan {
            file: file.to_path_buf(),
            vary,
            variants,
            replications,
            seed: scenario.seed,
        })
    }
}
