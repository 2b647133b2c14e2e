//! Reading a scenario: TOML syntax, then types (serde, unknown fields refused), then
//! `--set` overrides, then the cross-field rules; every problem becomes a
//! [`Diagnostic`] naming the file, line, column and field.

use super::error::{Diagnostic, Origin, ScenarioError};
use super::location::{FieldPath, SpanIndex, line_col};
use super::model::Scenario;
use super::overrides::{Override, apply};
use super::validate::validate;
use std::fs;
use std::path::Path;

/// Reads and validates the scenario at `path`, applying `overrides` in order.
pub fn load(path: &Path, overrides: &[Override]) -> Result<Scenario, ScenarioError> {
    let bytes = fs::read(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file = path.display().to_string();
    let text = String::from_utf8(bytes).map_err(|e| not_utf8(&file, e))?;
    parse(&text, &file, overrides)
}

/// A file that is not UTF-8 (as TOML must be), with the line and column where the
/// text stops being so.
fn not_utf8(file: &str, e: std::string::FromUtf8Error) -> ScenarioError {
    let at = e.utf8_error().valid_up_to();
    let bytes = e.into_bytes();
    let valid = String::from_utf8_lossy(&bytes[..at]);
    ScenarioError::Invalid(vec![at_offset(
        file,
        &valid,
        at,
        "syntax".to_string(),
        "the file is not UTF-8 text here (TOML files are UTF-8): save it as UTF-8",
    )])
}

/// Parses and validates scenario `text`; `file` names it in messages.
pub fn parse(text: &str, file: &str, overrides: &[Override]) -> Result<Scenario, ScenarioError> {
    let index = SpanIndex::parse(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        // The parser does not name a duplicated key; its span does.
        let key = e.span().and_then(|s| text.get(s)).map(str::trim);
        let message = match key {
            Some(key) if e.message().trim() == "duplicate key" && !key.is_empty() => {
                format!("duplicate key `{key}`: a key is given once per table")
            }
            _ => e.message().to_string(),
        };
        ScenarioError::Invalid(vec![at_offset(
            file,
            text,
            at,
            "syntax".to_string(),
            &message,
        )])
    })?;
    let from_toml = |e: toml::de::Error| {
        let at = e.span().map_or(0, |s| s.start);
        // An empty span at the start is the document itself (a missing top-level
        // field): naming the first key there would blame the wrong field.
        let field = match e.span() {
            Some(s) if !(s.is_empty() && s.start == 0) => index.path_at(at).to_string(),
            _ => "(top level)".to_string(),
        };
        ScenarioError::Invalid(vec![at_offset(file, text, at, field, &plain(e.message()))])
    };
    // The file must stand on its own; overrides then change values in it.
    let mut scenario: Scenario = toml::from_str(text).map_err(from_toml)?;
    // What the file alone breaks: a rule broken only with the overrides is theirs,
    // even when it is reported at a field they did not set (a policy that no longer
    // fits the overridden auto_accept, a stream whose queue a group left).
    let file_issues = if overrides.is_empty() {
        Vec::new()
    } else {
        validate(&scenario)
    };
    let mut overridden: Vec<(FieldPath, &Override)> = Vec::new();
    if !overrides.is_empty() {
        let original: toml::Table = toml::from_str(text).map_err(from_toml)?;
        let mut doc = original.clone();
        for ov in overrides {
            let paths = apply(&mut doc, ov).map_err(|m| override_error(file, ov, m))?;
            overridden.extend(paths.into_iter().map(|p| (p, ov)));
        }
        scenario = match toml::Value::Table(doc).try_into() {
            Ok(s) => s,
            Err(e) => return Err(blame_override(file, &original, overrides, e)),
        };
    }
    let mut diagnostics: Vec<Diagnostic> = validate(&scenario)
        .into_iter()
        .map(|issue| {
            let only_with_overrides = !overrides.is_empty() && !file_issues.contains(&issue);
            // The last override that wrote there is the one whose value is in force. A
            // problem the file has on its own stays the file's unless an override
            // replaced the whole value at fault (not just a field inside it).
            let by_override = overridden.iter().rev().find(|(p, _)| {
                !issue.path.0.is_empty()
                    && p.overlaps(&issue.path)
                    && (only_with_overrides || p.0.len() <= issue.path.0.len())
            });
            match by_override {
                Some((_, ov)) => Diagnostic {
                    file: file.to_string(),
                    origin: Origin::Override(ov.to_string()),
                    field: issue.path.to_string(),
                    message: issue.message,
                },
                None if only_with_overrides => Diagnostic {
                    file: file.to_string(),
                    origin: Origin::Override(
                        overrides
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(" --set "),
                    ),
                    field: issue.path.to_string(),
                    message: issue.message,
                },
                None => at_offset(
                    file,
                    text,
                    index.span_of(&issue.path).start,
                    issue.path.to_string(),
                    &issue.message,
                ),
            }
        })
        .collect();
    if diagnostics.is_empty() {
        Ok(scenario)
    } else {
        diagnostics.sort_by_key(|d| match d.origin {
            Origin::File { line, col } => (0, line, col),
            Origin::Override(_) => (1, 0, 0),
        });
        Err(ScenarioError::Invalid(diagnostics))
    }
}

fn at_offset(file: &str, text: &str, offset: usize, field: String, message: &str) -> Diagnostic {
    let lc = line_col(text, offset);
    Diagnostic {
        file: file.to_string(),
        origin: Origin::File {
            line: lc.line,
            col: lc.col,
        },
        field,
        message: one_line(message),
    }
}

fn override_error(file: &str, ov: &Override, message: String) -> ScenarioError {
    ScenarioError::Invalid(vec![Diagnostic {
        file: file.to_string(),
        origin: Origin::Override(ov.to_string()),
        field: ov.key.clone(),
        message,
    }])
}

/// The file read fine on its own, so the first override after which the document no
/// longer reads is the one at fault.
fn blame_override(
    file: &str,
    original: &toml::Table,
    overrides: &[Override],
    err: toml::de::Error,
) -> ScenarioError {
    let mut doc = original.clone();
    for ov in overrides {
        if apply(&mut doc, ov).is_err() {
            break;
        }
        if let Err(e) = toml::Value::Table(doc.clone()).try_into::<Scenario>() {
            return override_error(file, ov, one_line(&plain(e.message())));
        }
    }
    let ov = overrides
        .last()
        .map(ToString::to_string)
        .unwrap_or_default();
    ScenarioError::Invalid(vec![Diagnostic {
        file: file.to_string(),
        origin: Origin::Override(ov.clone()),
        field: ov,
        message: one_line(&plain(err.message())),
    }])
}

/// A type error in the file's words rather than Rust's: "expected u8" is "expected a
/// whole number from 0 to 255", "expected struct RoutingSpec" is "expected a table",
/// and so on. Only serde's closing `, expected …` clause and its `invalid type: …`
/// are rewritten: a key or a value quoted in the message stays as written.
fn plain(message: &str) -> String {
    // The TOML parser's word for `1e400`.
    if message.trim() == "floating-point number overflowed" {
        return "the number is too large to hold (past 1.8e308): give a smaller one".into();
    }
    const EXPECTED: &str = ", expected ";
    let Some(at) = message.rfind(EXPECTED) else {
        return message.to_string();
    };
    let (head, tail) = message.split_at(at + EXPECTED.len());
    let word_end = |t: &str| {
        t.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(t.len())
    };
    let (what, rest) = if let Some(name) = tail.strip_prefix("struct ") {
        ("a table", &name[word_end(name)..])
    } else if let Some(rest) = tail.strip_prefix("a sequence") {
        ("an array", rest)
    } else if let Some(rest) = tail.strip_prefix("a map") {
        ("a table", rest)
    } else {
        let end = word_end(tail);
        let what = match &tail[..end] {
            "u8" => "a whole number from 0 to 255",
            "u16" => "a whole number from 0 to 65535",
            "u32" => "a whole number from 0 to 4294967295",
            "u64" | "usize" => "a whole number, 0 or more",
            "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
            "f32" | "f64" => "a number",
            _ => return message.to_string(),
        };
        (what, &tail[end..])
    };
    let head = head
        .replace("invalid type: map", "invalid type: table")
        .replace("invalid type: sequence", "invalid type: array");
    format!("{head}{what}{rest}")
}

fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
