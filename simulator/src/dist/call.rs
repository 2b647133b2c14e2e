//! The small call syntax that distributions and arrival processes share:
//! `name(positional, key=value, …)`, e.g. `lognormal(mean=8s, sd=4s)`.

/// One argument of a call, positional (`key` is `None`) or named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    /// The name before `=`, if any.
    pub key: Option<String>,
    /// The text of the value, trimmed.
    pub value: String,
}

/// A parsed `name(args)` expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The function name, lower-cased.
    pub name: String,
    /// The arguments in the order written.
    pub args: Vec<Arg>,
}

/// Parses `name(args)`; `None` when the text has no parentheses at all (a bare value).
pub fn parse_call(text: &str) -> Option<Result<Call, String>> {
    let s = text.trim();
    let open = s.find('(')?;
    Some(parse_parts(s, open))
}

fn parse_parts(s: &str, open: usize) -> Result<Call, String> {
    let name = s[..open].trim().to_ascii_lowercase();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "invalid expression `{s}`: expected `name(arguments)`"
        ));
    }
    let Some(inner) = s[open + 1..].strip_suffix(')') else {
        return Err(format!("invalid expression `{s}`: missing closing `)`"));
    };
    if inner.contains(['(', ')']) {
        return Err(format!("invalid expression `{s}`: unbalanced parentheses"));
    }
    let mut args = Vec::new();
    if !inner.trim().is_empty() {
        for part in inner.split(',') {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!("invalid expression `{s}`: empty argument"));
            }
            let arg = match part.split_once('=') {
                Some((k, v)) => Arg {
                    key: Some(k.trim().to_ascii_lowercase()),
                    value: v.trim().to_string(),
                },
                None => Arg {
                    key: None,
                    value: part.to_string(),
                },
            };
            args.push(arg);
        }
    }
    Ok(Call { name, args })
}

impl Call {
    /// Binds the arguments to parameter names: positional ones in order, named ones by
    /// name. Errors name the call and list the parameters it takes.
    pub fn bind<const N: usize>(&self, params: [&str; N]) -> Result<[Option<&str>; N], String> {
        let mut out: [Option<&str>; N] = [None; N];
        let signature = || format!("{}({})", self.name, params.join(", "));
        let mut next_positional = 0;
        for arg in &self.args {
            let slot = match &arg.key {
                Some(k) => params.iter().position(|p| p == k).ok_or_else(|| {
                    format!(
                        "`{}` takes no parameter `{k}`; expected {}",
                        self.name,
                        signature()
                    )
                })?,
                None => {
                    let i = next_positional;
                    next_positional += 1;
                    if i >= N {
                        return Err(format!(
                            "too many arguments to `{}`; expected {}",
                            self.name,
                            signature()
                        ));
                    }
                    i
                }
            };
            if out[slot].is_some() {
                return Err(format!(
                    "parameter `{}` given twice; expected {}",
                    params[slot],
                    signature()
                ));
            }
            out[slot] = Some(arg.value.as_str());
        }
        Ok(out)
    }

    /// Like [`Call::bind`], but every parameter is required.
    pub fn bind_all<const N: usize>(&self, params: [&str; N]) -> Result<[&str; N], String> {
        let bound = self.bind(params)?;
        let mut out = [""; N];
        for (i, v) in bound.iter().enumerate() {
            out[i] = v.ok_or_else(|| {
                format!(
                    "`{}` needs `{}`; expected {}({})",
                    self.name,
                    params[i],
                    self.name,
                    params.join(", ")
                )
            })?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_named_and_positional() {
        let c = parse_call("lognormal(mean=8s, sd=4s)").unwrap().unwrap();
        assert_eq!(c.name, "lognormal");
        assert_eq!(c.bind_all(["mean", "sd"]).unwrap(), ["8s", "4s"]);
        let c = parse_call(" Uniform( 2 , 6 ) ").unwrap().unwrap();
        assert_eq!(c.name, "uniform");
        assert_eq!(c.bind_all(["min", "max"]).unwrap(), ["2", "6"]);
        let c = parse_call("exp(20s)").unwrap().unwrap();
        assert_eq!(c.bind_all(["mean"]).unwrap(), ["20s"]);
    }

    #[test]
    fn bare_values_are_not_calls() {
        assert!(parse_call("20s").is_none());
    }

    #[test]
    fn reports_bad_calls() {
        assert!(parse_call("exp(mean=2s").unwrap().is_err());
        assert!(parse_call("(2s)").unwrap().is_err());
        assert!(parse_call("exp(mean=2s,)").unwrap().is_err());
        let c = parse_call("exp(mean=2s, sd=1s)").unwrap().unwrap();
        let err = c.bind_all(["mean"]).unwrap_err();
        assert!(err.contains("no parameter `sd`"), "{err}");
        let c = parse_call("normal(mean=2s)").unwrap().unwrap();
        let err = c.bind_all(["mean", "sd"]).unwrap_err();
        assert!(err.contains("needs `sd`"), "{err}");
        let c = parse_call("exp(1s, mean=2s)").unwrap().unwrap();
        assert!(c.bind_all(["mean"]).unwrap_err().contains("twice"));
    }
}
