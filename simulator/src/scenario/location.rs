//! Where things are in a scenario file: field paths (`agents[1].available_for`),
//! finding a path's byte span in the parsed document, finding the path at a byte
//! offset (for serde errors, which only carry a span), and byte offsets to
//! line/column.

use std::fmt;
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A path to a field in the scenario document, e.g. `agents[1].transfer.to_queue`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    /// The root (the whole document).
    pub fn root() -> FieldPath {
        FieldPath(Vec::new())
    }

    /// This path extended by a key.
    pub fn key(&self, k: &str) -> FieldPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }

    /// This path extended by an index.
    pub fn index(&self, i: usize) -> FieldPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    /// Whether one path is a prefix of the other (they refer to overlapping data).
    pub fn overlaps(&self, other: &FieldPath) -> bool {
        let n = self.0.len().min(other.0.len());
        self.0[..n] == other.0[..n]
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{}", quote_key(k))?,
                Seg::Key(k) => write!(f, ".{}", quote_key(k))?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

fn quote_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        format!("\"{k}\"")
    }
}

/// A 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineCol {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, counted in characters.
    pub col: usize,
}

/// The line and column of byte `offset` in `text` (clamped to the text).
pub fn line_col(text: &str, offset: usize) -> LineCol {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    LineCol {
        line,
        col: text[line_start..offset].chars().count() + 1,
    }
}

/// The parsed document with spans, for locating fields.
pub struct SpanIndex<'i> {
    root: Spanned<DeTable<'i>>,
}

impl<'i> SpanIndex<'i> {
    /// Parses `text`; the error is a TOML syntax error with its span.
    pub fn parse(text: &'i str) -> Result<SpanIndex<'i>, toml::de::Error> {
        Ok(SpanIndex {
            root: DeTable::parse(text)?,
        })
    }

    /// The span of `path`, or of its deepest ancestor present in the file (a field
    /// left to its default points at its table).
    pub fn span_of(&self, path: &FieldPath) -> Range<usize> {
        let mut best = self.root.span();
        let mut current: Option<&DeValue<'i>> = None;
        for seg in &path.0 {
            let found = match (seg, current) {
                (Seg::Key(k), None) => find_key(self.root.get_ref(), k),
                (Seg::Key(k), Some(DeValue::Table(t))) => find_key(t, k),
                (Seg::Index(i), Some(DeValue::Array(a))) => a.get(*i).map(|v| (v.span(), v)),
                _ => None,
            };
            let Some((key_span, v)) = found else { break };
            // A scalar is pointed at directly; a table or array at its key (or, in an
            // array of tables, at the element), since its own span may be a block.
            best = if v.get_ref().is_table() || v.get_ref().is_array() {
                key_span
            } else {
                v.span()
            };
            current = Some(v.get_ref());
        }
        best
    }

    /// The deepest field whose key or value contains byte `offset`.
    pub fn path_at(&self, offset: usize) -> FieldPath {
        let mut path = FieldPath::root();
        search_table(self.root.get_ref(), offset, &mut path);
        path
    }
}

fn find_key<'a, 'i>(
    t: &'a DeTable<'i>,
    k: &str,
) -> Option<(Range<usize>, &'a Spanned<DeValue<'i>>)> {
    t.iter()
        .find(|(key, _)| key.get_ref() == k)
        .map(|(key, v)| (key.span(), v))
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end.max(span.start + 1)
}

/// Descends into `table`, appending to `path` while a child contains `offset`.
/// Returns whether anything matched.
fn search_table(table: &DeTable<'_>, offset: usize, path: &mut FieldPath) -> bool {
    for (key, value) in table.iter() {
        path.0.push(Seg::Key(key.get_ref().to_string()));
        if search_value(value, offset, path)
            || contains(&key.span(), offset)
            || contains(&value.span(), offset)
        {
            return true;
        }
        path.0.pop();
    }
    false
}

fn search_value(value: &Spanned<DeValue<'_>>, offset: usize, path: &mut FieldPath) -> bool {
    match value.get_ref() {
        DeValue::Table(t) => search_table(t, offset, path),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.0.push(Seg::Index(i));
                if search_value(item, offset, path) || contains(&item.span(), offset) {
                    return true;
                }
                path.0.pop();
            }
            false
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"name = "x"

[routing]
policy = "least-active"

[[agents]]
group = "tier1"
available_for = 5
transfer = { probability = 0.1, to_queue = "hw" }

[[agents]]
group = "tier2"
queues = ["hw", "sw"]

[thresholds]
"accept_wait.p95" = "< 60s"
"#;

    fn path(segs: &[&str]) -> FieldPath {
        FieldPath(
            segs.iter()
                .map(|s| {
                    s.parse::<usize>()
                        .map_or_else(|_| Seg::Key(s.to_string()), Seg::Index)
                })
                .collect(),
        )
    }

    fn lc_of(idx: &SpanIndex<'_>, p: &FieldPath) -> (usize, usize) {
        let lc = line_col(DOC, idx.span_of(p).start);
        (lc.line, lc.col)
    }

    #[test]
    fn displays_paths() {
        assert_eq!(
            path(&["agents", "1", "transfer", "to_queue"]).to_string(),
            "agents[1].transfer.to_queue"
        );
        assert_eq!(
            path(&["thresholds", "accept_wait.p95"]).to_string(),
            "thresholds.\"accept_wait.p95\""
        );
        assert_eq!(FieldPath::root().to_string(), "(top level)");
    }

    #[test]
    fn line_and_column() {
        let t = "ab\ncdé\nf";
        assert_eq!(line_col(t, 0), LineCol { line: 1, col: 1 });
        assert_eq!(line_col(t, 3), LineCol { line: 2, col: 1 });
        assert_eq!(line_col(t, 8), LineCol { line: 3, col: 1 });
        assert_eq!(line_col(t, 7), LineCol { line: 2, col: 4 });
        assert_eq!(line_col(t, 99), LineCol { line: 3, col: 2 });
    }

    #[test]
    fn finds_spans_of_paths() {
        let idx = SpanIndex::parse(DOC).unwrap();
        assert_eq!(lc_of(&idx, &path(&["routing", "policy"])), (4, 10));
        assert_eq!(
            lc_of(&idx, &path(&["agents", "0", "available_for"])),
            (8, 17)
        );
        assert_eq!(
            lc_of(&idx, &path(&["agents", "0", "transfer", "to_queue"])).0,
            9
        );
        assert_eq!(
            lc_of(&idx, &path(&["agents", "1", "queues", "1"])),
            (13, 17)
        );
        assert_eq!(lc_of(&idx, &path(&["thresholds", "accept_wait.p95"])).0, 16);
        // Absent field: its table.
        assert_eq!(lc_of(&idx, &path(&["agents", "1", "count"])).0, 11);
    }

    #[test]
    fn finds_paths_at_offsets() {
        let idx = SpanIndex::parse(DOC).unwrap();
        let at = |needle: &str| idx.path_at(DOC.find(needle).unwrap()).to_string();
        assert_eq!(at("5\n"), "agents[0].available_for");
        assert_eq!(at("\"hw\" }"), "agents[0].transfer.to_queue");
        assert_eq!(at("\"sw\""), "agents[1].queues[1]");
        assert_eq!(at("\"least"), "routing.policy");
        assert_eq!(at("\"< 60s\""), "thresholds.\"accept_wait.p95\"");
    }
}
