//! `--set key=value` overrides, applied to the parsed document before it is read into
//! a [`Scenario`](super::Scenario): `routing.policy=round-robin`,
//! `agents.tier1.available_for=3`, `agents.*.available_for=4`,
//! `users.hardware.arrival=poisson(rate=90/min)`, `thresholds.abandon_rate=<10%`.
//!
//! Agent groups are selected by group name, user streams by stream name (or queue),
//! either by index, or all with `*`. Values are typed by the field they set, so
//! strings need no quotes; `none` removes an optional field.

use super::location::FieldPath;
use std::fmt;
use std::str::FromStr;
use toml::{Table, Value};

/// One `key=value` override.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// The dotted key.
    pub key: String,
    /// The value as given.
    pub value: String,
}

impl FromStr for Override {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (key, value) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not key=value (e.g. routing.policy=round-robin)"))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("`{s}` has no key before `=`"));
        }
        Ok(Override {
            key: key.to_string(),
            value: value.trim().to_string(),
        })
    }
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// Names an element of an array section (a group's `group`, a stream's `name`).
type NameOf = fn(&Table) -> Option<String>;

#[derive(Clone, Copy)]
enum Kind {
    Str,
    /// A string, or `none` to remove the field.
    OptStr,
    Int,
    /// A whole number, or `none` to remove the field.
    OptInt,
    Float,
    Bool,
    /// A boolean, or `none` to remove the field (back to its default).
    OptBool,
    /// Comma-separated strings.
    List,
}

const TOP: &[(&str, Kind)] = &[
    ("name", Kind::Str),
    ("description", Kind::OptStr),
    ("seed", Kind::Int),
    ("duration", Kind::Str),
    ("drain", Kind::Str),
    ("time_scale", Kind::Float),
    ("service_level_target", Kind::Str),
];

const ROUTING: &[(&str, Kind)] = &[
    ("auto_accept", Kind::OptBool),
    ("policy", Kind::Str),
    ("max_transfer_accepts", Kind::OptInt),
    ("route_queue_transfers", Kind::OptBool),
];

const FAULTS: &[(&str, Kind)] = &[
    ("agent_grace", Kind::OptStr),
    ("outbound_queue", Kind::OptInt),
    ("drop_probability", Kind::Float),
    ("drop_after", Kind::Str),
    ("reconnect_within_grace", Kind::Float),
    ("reconnect_delay", Kind::Str),
    ("abandon_on_join", Kind::Float),
    ("accept_burst", Kind::Bool),
    ("transfer_close_race", Kind::Float),
    ("availability_flip_every", Kind::OptStr),
    ("slow_consumer_probability", Kind::Float),
    ("slow_consumer_at", Kind::Str),
    ("slow_consumer_stall", Kind::Str),
];

const AGENT: &[(&str, Kind)] = &[
    ("count", Kind::Int),
    ("queues", Kind::List),
    ("available_for", Kind::Int),
    ("manual_accept", Kind::Bool),
    ("accept_delay", Kind::Str),
    ("reply_delay", Kind::Str),
    ("handle_time", Kind::OptStr),
    ("share_article_probability", Kind::Float),
    ("pin_article_probability", Kind::Float),
    ("transfer.probability", Kind::Float),
    ("transfer.to_queue", Kind::OptStr),
    ("transfer.to_agent_group", Kind::OptStr),
    ("transfer.notes", Kind::Str),
    ("ticket.probability", Kind::Float),
    ("ticket.work_order_share", Kind::Float),
    ("ticket.template_probability", Kind::Float),
];

const USER: &[(&str, Kind)] = &[
    ("name", Kind::Str),
    ("queue", Kind::Str),
    ("arrival", Kind::Str),
    ("patience", Kind::OptStr),
    ("messages", Kind::Str),
    ("think_time", Kind::Str),
    ("source", Kind::Str),
];

/// Every key `--set` accepts, for error messages and `--help`.
pub fn valid_keys() -> String {
    let names = |fields: &[(&str, Kind)]| {
        fields
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{}; routing.{{{}}}; faults.{{{}}}; agents.<group|index|*>.{{{}}}; users.<stream|index|*>.{{{}}}; thresholds.<key>",
        names(TOP),
        names(ROUTING),
        names(FAULTS),
        names(AGENT),
        names(USER)
    )
}

/// A string value as given: bare, or quoted as in the file (`"my run"`, `'my run'`,
/// with TOML's escapes), the quotes not being part of it. Only a value that is one
/// quoted string from its first character to its last is unquoted; anything else is
/// taken as written.
fn unquoted(v: &str) -> String {
    if quoted_whole(v)
        && let Ok(mut t) = toml::from_str::<Table>(&format!("v = {v}"))
        && let Some(Value::String(s)) = t.remove("v")
    {
        return s;
    }
    v.to_string()
}

/// Whether `v` is one TOML string, `"…"` (with escapes) or `'…'`, its closing quote the
/// last character.
fn quoted_whole(v: &str) -> bool {
    let bytes = v.as_bytes();
    let Some(&open) = bytes.first().filter(|b| **b == b'"' || **b == b'\'') else {
        return false;
    };
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if open == b'"' => i += 2,
            b if b == open => return i == bytes.len() - 1,
            _ => i += 1,
        }
    }
    false
}

fn convert(kind: Kind, key: &str, v: &str) -> Result<Option<Value>, String> {
    Ok(Some(match kind {
        Kind::Str => Value::String(unquoted(v)),
        Kind::OptStr if v == "none" => return Ok(None),
        Kind::OptStr => Value::String(unquoted(v)),
        Kind::OptInt if v == "none" => return Ok(None),
        Kind::Int | Kind::OptInt => {
            let digits = v.replace('_', "");
            Value::Integer(digits.parse().map_err(|_| {
                if digits.parse::<u128>().is_ok() {
                    format!(
                        "`{key}` takes a whole number up to {} (the largest a scenario file \
                         holds), got `{v}`",
                        i64::MAX
                    )
                } else {
                    format!("`{key}` takes a whole number, got `{v}`")
                }
            })?)
        }
        Kind::Float => Value::Float(
            v.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| format!("`{key}` takes a number, got `{v}`"))?,
        ),
        Kind::OptBool if v == "none" => return Ok(None),
        Kind::Bool | Kind::OptBool => Value::Boolean(match v {
            "true" | "on" | "yes" => true,
            "false" | "off" | "no" => false,
            _ => return Err(format!("`{key}` takes true or false, got `{v}`")),
        }),
        Kind::List => Value::Array(
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(unquoted(s)))
                .collect(),
        ),
    }))
}

fn lookup<'a>(fields: &'a [(&'a str, Kind)], name: &str) -> Option<Kind> {
    fields.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

fn unknown(key: &str) -> String {
    format!("unknown key `{key}`; valid keys: {}", valid_keys())
}

/// Sets `field` (possibly `sub.leaf`) in `table`, returning the path set.
fn set(
    table: &mut Table,
    base: FieldPath,
    field: &str,
    value: Option<Value>,
) -> Result<FieldPath, String> {
    let (table, path, leaf) = match field.split_once('.') {
        // Removing a field of a sub-table that is not there leaves nothing to remove
        // (`agents.*.transfer.to_queue=none` on a group that does not transfer).
        Some((sub, leaf)) if value.is_none() && !table.contains_key(sub) => {
            return Ok(base.key(sub).key(leaf));
        }
        Some((sub, leaf)) => {
            let entry = table
                .entry(sub.to_string())
                .or_insert_with(|| Value::Table(Table::new()));
            let Value::Table(t) = entry else {
                return Err(format!("`{sub}` is not a table in the file"));
            };
            (t, base.key(sub), leaf)
        }
        None => (table, base, field),
    };
    match value {
        Some(v) => {
            table.insert(leaf.to_string(), v);
        }
        None => {
            table.remove(leaf);
        }
    }
    Ok(path.key(leaf))
}

/// Picks the elements of the array `section` that `selector` names.
fn select(
    doc: &Table,
    section: &str,
    selector: &str,
    name_of: fn(&Table) -> Option<String>,
) -> Result<Vec<usize>, String> {
    let items: Vec<&Table> = match doc.get(section) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_table).collect(),
        _ => Vec::new(),
    };
    if selector == "*" {
        return Ok((0..items.len()).collect());
    }
    // Only plain digits are an index (`+1` is a name, as the validator sees it).
    if let Some(i) = selector
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| selector.parse::<usize>().ok())
        .flatten()
    {
        return if i < items.len() {
            Ok(vec![i])
        } else {
            Err(format!(
                "there is no {section}[{i}]; the file has {} entries",
                items.len()
            ))
        };
    }
    let found: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, t)| name_of(t).as_deref() == Some(selector))
        .map(|(i, _)| i)
        .collect();
    if found.is_empty() {
        let names: Vec<String> = items.iter().filter_map(|t| name_of(t)).collect();
        return Err(format!(
            "no {section} entry named `{selector}`; names: {}",
            names.join(", ")
        ));
    }
    Ok(found)
}

fn group_name(t: &Table) -> Option<String> {
    t.get("group").and_then(Value::as_str).map(str::to_string)
}

fn stream_name(t: &Table) -> Option<String> {
    t.get("name")
        .or_else(|| t.get("queue"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Applies one override to the document, returning the paths it set.
pub fn apply(doc: &mut Table, ov: &Override) -> Result<Vec<FieldPath>, String> {
    let key = ov.key.as_str();
    let root = FieldPath::root();
    let (head, rest) = match key.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (key, None),
    };
    match (head, rest) {
        (field, None) => {
            let kind = lookup(TOP, field).ok_or_else(|| unknown(key))?;
            Ok(vec![set(doc, root, field, convert(kind, key, &ov.value)?)?])
        }
        (section @ ("routing" | "faults"), Some(field)) => {
            let fields = if section == "routing" {
                ROUTING
            } else {
                FAULTS
            };
            let kind = lookup(fields, field).ok_or_else(|| unknown(key))?;
            let value = convert(kind, key, &ov.value)?;
            let entry = doc
                .entry(section)
                .or_insert_with(|| Value::Table(Table::new()));
            let Value::Table(t) = entry else {
                return Err(format!("`{section}` is not a table in the file"));
            };
            Ok(vec![set(t, root.key(section), field, value)?])
        }
        ("thresholds", Some(tkey)) => {
            let entry = doc
                .entry("thresholds")
                .or_insert_with(|| Value::Table(Table::new()));
            let Value::Table(t) = entry else {
                return Err("`thresholds` is not a table in the file".to_string());
            };
            t.insert(tkey.to_string(), Value::String(unquoted(&ov.value)));
            Ok(vec![root.key("thresholds").key(tkey)])
        }
        (section @ ("agents" | "users"), Some(rest)) => {
            let (fields, name_of): (&[(&str, Kind)], NameOf) = if section == "agents" {
                (AGENT, group_name)
            } else {
                (USER, stream_name)
            };
            let (selector, field) = rest.split_once('.').ok_or_else(|| unknown(key))?;
            let kind = lookup(fields, field).ok_or_else(|| unknown(key))?;
            let value = convert(kind, key, &ov.value)?;
            let targets = select(doc, section, selector, name_of)?;
            let mut paths = Vec::new();
            if let Some(Value::Array(items)) = doc.get_mut(section) {
                for i in targets {
                    if let Some(Value::Table(t)) = items.get_mut(i) {
                        paths.push(set(t, root.key(section).index(i), field, value.clone())?);
                    }
                }
            }
            Ok(paths)
        }
        _ => Err(unknown(key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"
name = "x"
[routing]
policy = "least-active"
[[agents]]
group = "tier1"
available_for = 2
[[agents]]
group = "tier2"
available_for = 2
[[users]]
queue = "hw"
[[users]]
name = "vip"
queue = "hw"
"#;

    fn doc() -> Table {
        toml::from_str(DOC).unwrap()
    }

    fn set_one(doc: &mut Table, s: &str) -> Result<Vec<String>, String> {
        let ov: Override = s.parse()?;
        apply(doc, &ov).map(|ps| ps.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn sets_typed_values() {
        let mut d = doc();
        assert_eq!(
            set_one(&mut d, "routing.policy=round-robin").unwrap(),
            ["routing.policy"]
        );
        assert_eq!(d["routing"]["policy"].as_str(), Some("round-robin"));
        assert_eq!(
            set_one(&mut d, "agents.tier2.available_for=3").unwrap(),
            ["agents[1].available_for"]
        );
        assert_eq!(d["agents"][1]["available_for"].as_integer(), Some(3));
        assert_eq!(set_one(&mut d, "seed=99").unwrap(), ["seed"]);
        assert_eq!(d["seed"].as_integer(), Some(99));
        let too_big = set_one(&mut d, "seed=9223372036854775808").unwrap_err();
        assert!(too_big.contains("up to 9223372036854775807"), "{too_big}");
        let not_a_number = set_one(&mut d, "seed=seven").unwrap_err();
        assert!(
            not_a_number.contains("takes a whole number, got"),
            "{not_a_number}"
        );
        set_one(&mut d, "time_scale=60").unwrap();
        assert_eq!(d["time_scale"].as_float(), Some(60.0));
        set_one(&mut d, "routing.auto_accept=false").unwrap();
        assert_eq!(d["routing"]["auto_accept"].as_bool(), Some(false));
        set_one(&mut d, "agents.0.queues=hw, sw").unwrap();
        assert_eq!(d["agents"][0]["queues"].as_array().map(Vec::len), Some(2));
        // `none` removes an optional field, a text or a number alike.
        set_one(&mut d, "description=a run").unwrap();
        assert_eq!(d["description"].as_str(), Some("a run"));
        set_one(&mut d, "description=none").unwrap();
        assert!(d.get("description").is_none());
        set_one(&mut d, "faults.outbound_queue=8").unwrap();
        assert_eq!(d["faults"]["outbound_queue"].as_integer(), Some(8));
        set_one(&mut d, "faults.outbound_queue=none").unwrap();
        assert!(d["faults"].get("outbound_queue").is_none());
        assert!(set_one(&mut d, "faults.outbound_queue=lots").is_err());
        // `auto_accept` left out follows the policy: `none` gives that back to a file
        // that set it.
        set_one(&mut d, "routing.auto_accept=none").unwrap();
        assert!(d["routing"].get("auto_accept").is_none());
        // So do the other routing settings a file may leave out.
        set_one(&mut d, "routing.max_transfer_accepts=2").unwrap();
        set_one(&mut d, "routing.max_transfer_accepts=none").unwrap();
        set_one(&mut d, "routing.route_queue_transfers=none").unwrap();
        assert!(d["routing"].get("max_transfer_accepts").is_none());
        assert!(d["routing"].get("route_queue_transfers").is_none());
        // A setting every run needs cannot be removed.
        assert!(set_one(&mut d, "seed=none").is_err());
    }

    #[test]
    fn selects_streams_groups_and_all() {
        let mut d = doc();
        assert_eq!(
            set_one(&mut d, "agents.*.available_for=4").unwrap(),
            ["agents[0].available_for", "agents[1].available_for"]
        );
        assert_eq!(
            set_one(&mut d, "users.vip.patience=exp(mean=1m)").unwrap(),
            ["users[1].patience"]
        );
        assert_eq!(
            set_one(&mut d, "users.hw.patience=none").unwrap(),
            ["users[0].patience"]
        );
        assert!(d["users"][0].get("patience").is_none());
        assert_eq!(
            set_one(&mut d, "agents.tier1.transfer.probability=0.2").unwrap(),
            ["agents[0].transfer.probability"]
        );
        assert_eq!(
            d["agents"][0]["transfer"]["probability"].as_float(),
            Some(0.2)
        );
        assert_eq!(
            set_one(&mut d, "thresholds.accept_wait.p95=< 30s").unwrap(),
            ["thresholds.\"accept_wait.p95\""]
        );
        assert_eq!(d["thresholds"]["accept_wait.p95"].as_str(), Some("< 30s"));
    }

    #[test]
    fn quotes_around_a_string_are_not_part_of_it() {
        let mut d = doc();
        for (set, expected) in [
            (r#"name="my run""#, "my run"),
            ("name='my run'", "my run"),
            (r#"name="say \"hi\"""#, r#"say "hi""#),
            ("name=plain", "plain"),
            // Not a quoted string as a whole: taken as written.
            (r#"name="half"#, r#""half"#),
            (r#"name="a" "b""#, r#""a" "b""#),
            // A comment in TOML, text here.
            (r#"name="VIP" # see ""#, r#""VIP" # see ""#),
            (r#"name="ends \""#, r#""ends \""#),
        ] {
            set_one(&mut d, set).unwrap();
            assert_eq!(d["name"].as_str(), Some(expected), "{set}");
        }
        set_one(&mut d, r#"users.hw.patience="exp(mean=1m)""#).unwrap();
        assert_eq!(d["users"][0]["patience"].as_str(), Some("exp(mean=1m)"));
        set_one(&mut d, r#"agents.tier1.queues="hw", 'sw'"#).unwrap();
        assert_eq!(d["agents"][0]["queues"][0].as_str(), Some("hw"));
        assert_eq!(d["agents"][0]["queues"][1].as_str(), Some("sw"));
        set_one(&mut d, r#"thresholds.abandon_rate="< 5%""#).unwrap();
        assert_eq!(d["thresholds"]["abandon_rate"].as_str(), Some("< 5%"));
    }

    #[test]
    fn errors_list_what_is_valid() {
        let mut d = doc();
        let err = set_one(&mut d, "routing.polcy=random").unwrap_err();
        assert!(
            err.contains("unknown key `routing.polcy`")
                && err.contains("routing.{auto_accept, policy"),
            "{err}"
        );
        let err = set_one(&mut d, "agents.tier9.count=3").unwrap_err();
        assert!(err.contains("tier1, tier2"), "{err}");
        let err = set_one(&mut d, "agents.tier1.count=lots").unwrap_err();
        assert!(err.contains("whole number"), "{err}");
        let err = set_one(&mut d, "routing.auto_accept=maybe").unwrap_err();
        assert!(err.contains("true or false"), "{err}");
        assert!(
            set_one(&mut d, "agents.5.count=1")
                .unwrap_err()
                .contains("no agents[5]")
        );
        assert!(
            "policy"
                .parse::<Override>()
                .unwrap_err()
                .contains("key=value")
        );
        assert!(
            set_one(&mut d, "colour=blue")
                .unwrap_err()
                .contains("valid keys")
        );
    }
}
