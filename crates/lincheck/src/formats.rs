//! Parsers for public history formats: Jepsen's etcd logs and EDN key-value histories.
//!
//! In both, an operation's time is the 1-based line number of its invocation and of its
//! completion, so the intervals in an [`Explanation`](crate::Explanation) point into the file.
//! Completions are matched to invocations by process number.

use std::collections::BTreeMap;
use std::fmt;

use crate::{KvOp, KvRet, Operation, RegisterOp, RegisterRet};

/// A line that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// What a completion line says about its operation.
enum Completion<O> {
    /// Returned this output.
    Known(O),
    /// May or may not have taken effect (timed out, crashed).
    Unknown,
    /// Definitely did not take effect: the operation is left out of the history.
    DidNotHappen,
}

/// Matches completions to invocations and assembles operations.
struct Builder<I, O> {
    /// `None` for an operation that did not happen.
    ops: Vec<Option<Operation<I, O>>>,
    /// Process → (index in `ops`, line of the invocation).
    pending: BTreeMap<u64, (usize, usize)>,
}

impl<I, O> Builder<I, O> {
    fn new() -> Self {
        Builder {
            ops: Vec::new(),
            pending: BTreeMap::new(),
        }
    }

    fn invoke(&mut self, line: usize, process: u64, input: I) -> Result<(), String> {
        if let Some(&(_, at)) = self.pending.get(&process) {
            return Err(format!(
                "process {process} invokes an operation while its operation of line {at} is still pending"
            ));
        }
        self.pending.insert(process, (self.ops.len(), line));
        self.ops.push(Some(Operation {
            client: process,
            call: line as u64,
            ret: None,
            input,
            output: None,
        }));
        Ok(())
    }

    /// The pending operation of `process`, for the caller to check against the completion.
    fn pending_input(&self, process: u64) -> Result<(&I, usize), String> {
        let &(i, at) = self
            .pending
            .get(&process)
            .ok_or_else(|| format!("process {process} completes an operation it never invoked"))?;
        let op = self.ops[i]
            .as_ref()
            .expect("pending operations are present");
        Ok((&op.input, at))
    }

    fn complete(&mut self, line: usize, process: u64, completion: Completion<O>) {
        let (i, _) = self
            .pending
            .remove(&process)
            .expect("pending_input was checked first");
        match completion {
            Completion::Known(output) => {
                let op = self.ops[i]
                    .as_mut()
                    .expect("pending operations are present");
                op.ret = Some(line as u64);
                op.output = Some(output);
            }
            Completion::Unknown => {}
            Completion::DidNotHappen => self.ops[i] = None,
        }
    }

    /// Invocations never completed keep `ret: None`: their outcome is unknown.
    fn finish(self) -> Vec<Operation<I, O>> {
        self.ops.into_iter().flatten().collect()
    }
}

fn parse_int(s: &str) -> Result<i64, String> {
    s.parse()
        .map_err(|_| format!("expected an integer, found {s:?}"))
}

fn parse_process(s: &str) -> Result<u64, String> {
    s.parse()
        .map_err(|_| format!("expected a process number, found {s:?}"))
}

fn parse_nil_or_int(s: &str) -> Result<Option<i64>, String> {
    if s == "nil" {
        Ok(None)
    } else {
        parse_int(s).map(Some)
    }
}

fn parse_cas(s: &str) -> Result<(i64, i64), String> {
    let bad = || format!("expected [from to], found {s:?}");
    let inner = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(bad)?;
    let mut parts = inner.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), None) => Ok((parse_int(a)?, parse_int(b)?)),
        _ => Err(bad()),
    }
}

fn kind_name(op: &RegisterOp) -> &'static str {
    match op {
        RegisterOp::Read => ":read",
        RegisterOp::Write(_) => ":write",
        RegisterOp::Cas { .. } => ":cas",
    }
}

/// Parses a Jepsen etcd log (a compare-and-set register).
///
/// Lines look like `INFO  jepsen.util - 2 :invoke :cas [2 4]` (tabs or spaces); lines without
/// `jepsen.util`, and the nemesis's lines, are ignored. `:ok` and `:fail :cas` are completions
/// with a known result; `:info`, `:fail :read` (a timed-out read) and an invocation never
/// completed have an unknown outcome; `:fail :write` means the write did not happen.
pub fn parse_jepsen(text: &str) -> Result<Vec<Operation<RegisterOp, RegisterRet>>, ParseError> {
    let mut builder = Builder::new();
    for (index, text) in text.lines().enumerate() {
        let line = index + 1;
        parse_jepsen_line(&mut builder, line, text)
            .map_err(|message| ParseError { line, message })?;
    }
    Ok(builder.finish())
}

fn parse_jepsen_line(
    builder: &mut Builder<RegisterOp, RegisterRet>,
    line: usize,
    text: &str,
) -> Result<(), String> {
    if !text.contains("jepsen.util") {
        return Ok(());
    }
    let mut tokens = text
        .split_whitespace()
        .skip_while(|&t| t != "jepsen.util")
        .skip(1)
        .peekable();
    tokens.next_if_eq(&"-");
    let (Some(process), Some(kind), Some(f)) = (tokens.next(), tokens.next(), tokens.next()) else {
        return Err("expected `jepsen.util - PROCESS TYPE F VALUE`".to_string());
    };
    if process == ":nemesis" {
        return Ok(());
    }
    let process = parse_process(process)?;
    let value = tokens.collect::<Vec<_>>().join(" ");
    if !matches!(f, ":read" | ":write" | ":cas") {
        return Err(format!("expected :read, :write or :cas, found {f:?}"));
    }
    if kind == ":invoke" {
        let input = match f {
            ":read" if value == "nil" => RegisterOp::Read,
            ":read" => return Err(format!("a read is invoked with nil, found {value:?}")),
            ":write" => RegisterOp::Write(parse_int(&value)?),
            _ => {
                let (from, to) = parse_cas(&value)?;
                RegisterOp::Cas { from, to }
            }
        };
        return builder.invoke(line, process, input);
    }
    if !matches!(kind, ":ok" | ":fail" | ":info") {
        return Err(format!(
            "expected :invoke, :ok, :fail or :info, found {kind:?}"
        ));
    }
    let (&input, at) = builder.pending_input(process)?;
    if kind_name(&input) != f {
        return Err(format!(
            "process {process} completes a {f} but invoked a {} on line {at}",
            kind_name(&input)
        ));
    }
    let completion = match (kind, input) {
        (":info", _) | (":fail", RegisterOp::Read) => Completion::Unknown,
        (":fail", RegisterOp::Write(_)) => Completion::DidNotHappen,
        (_, RegisterOp::Read) => Completion::Known(RegisterRet::Read(parse_nil_or_int(&value)?)),
        (_, RegisterOp::Write(v)) => {
            if parse_int(&value)? != v {
                return Err(format!("the write of line {at} was of {v}, not {value}"));
            }
            Completion::Known(RegisterRet::Write)
        }
        (_, RegisterOp::Cas { from, to }) => {
            if parse_cas(&value)? != (from, to) {
                return Err(format!(
                    "the cas of line {at} was [{from} {to}], not {value}"
                ));
            }
            Completion::Known(RegisterRet::Cas(kind == ":ok"))
        }
    };
    builder.complete(line, process, completion);
    Ok(())
}

/// An EDN value, as far as these histories use them.
#[derive(Debug, PartialEq)]
enum Edn<'a> {
    Nil,
    Int(i64),
    Keyword(&'a str),
    Str(String),
}

/// Parses one EDN map of scalars, `{:k v, :k v}`, into (keyword without colon, value) pairs.
fn parse_edn_map(text: &str) -> Result<Vec<(&str, Edn<'_>)>, String> {
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or("expected an EDN map {...}")?;
    let is_sep = |c: char| c.is_whitespace() || c == ',';
    let atom_end = |s: &str| s.find(|c: char| is_sep(c)).unwrap_or(s.len());
    let mut rest = inner;
    let mut fields = Vec::new();
    loop {
        rest = rest.trim_start_matches(is_sep);
        if rest.is_empty() {
            return Ok(fields);
        }
        let Some(after_colon) = rest.strip_prefix(':') else {
            return Err(format!("expected a :keyword, found {:?}", first_word(rest)));
        };
        let end = atom_end(after_colon);
        let name = &after_colon[..end];
        rest = after_colon[end..].trim_start_matches(is_sep);
        let value;
        if let Some(s) = rest.strip_prefix('"') {
            let (string, len) = parse_edn_string(s)?;
            value = Edn::Str(string);
            rest = &s[len..];
        } else {
            let end = atom_end(rest);
            let atom = &rest[..end];
            value = if atom.is_empty() {
                return Err(format!("missing a value for :{name}"));
            } else if atom == "nil" {
                Edn::Nil
            } else if let Some(kw) = atom.strip_prefix(':') {
                Edn::Keyword(kw)
            } else {
                Edn::Int(parse_int(atom)?)
            };
            rest = &rest[end..];
        }
        fields.push((name, value));
    }
}

fn first_word(s: &str) -> &str {
    s.split(|c: char| c.is_whitespace() || c == ',')
        .next()
        .unwrap_or(s)
}

/// Parses the body of a string literal after its opening quote: (the string, bytes consumed
/// including the closing quote).
fn parse_edn_string(s: &str) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, c @ ('"' | '\\'))) => out.push(c),
                Some((_, c)) => return Err(format!("unknown string escape \\{c}")),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err("unterminated string".to_string())
}

/// Parses an EDN key-value history, one event a line:
/// `{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}`.
///
/// `:f` is `:get`, `:put` or `:append`; a get is invoked with `:value nil`. `:ok` completes with
/// a known result, `:info` (or no completion by the end) leaves the outcome unknown, and `:fail`
/// means the operation did not happen. Blank lines are ignored.
pub fn parse_kv(text: &str) -> Result<Vec<Operation<KvOp, KvRet>>, ParseError> {
    let mut builder = Builder::new();
    for (index, text) in text.lines().enumerate() {
        let line = index + 1;
        if text.trim().is_empty() {
            continue;
        }
        parse_kv_line(&mut builder, line, text).map_err(|message| ParseError { line, message })?;
    }
    Ok(builder.finish())
}

fn parse_kv_line(
    builder: &mut Builder<KvOp, KvRet>,
    line: usize,
    text: &str,
) -> Result<(), String> {
    let fields = parse_edn_map(text)?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("missing :{name}"))
    };
    let process = match field("process")? {
        Edn::Int(p) => u64::try_from(*p).map_err(|_| format!("negative process {p}"))?,
        Edn::Keyword("nemesis") => return Ok(()),
        other => return Err(format!("expected a process number, found {other:?}")),
    };
    let Edn::Keyword(kind) = field("type")? else {
        return Err("expected :type to be a keyword".to_string());
    };
    let Edn::Keyword(f) = field("f")? else {
        return Err("expected :f to be a keyword".to_string());
    };
    let key = match field("key")? {
        Edn::Str(s) => s.clone(),
        Edn::Int(i) => i.to_string(),
        other => return Err(format!("expected :key to be a string, found {other:?}")),
    };
    let value = match field("value")? {
        Edn::Nil => None,
        Edn::Str(s) => Some(s.clone()),
        other => {
            return Err(format!(
                "expected :value to be a string or nil, found {other:?}"
            ));
        }
    };
    if !matches!(*f, "get" | "put" | "append") {
        return Err(format!("expected :f :get, :put or :append, found :{f}"));
    }
    if *kind == "invoke" {
        let input = match (*f, value) {
            ("get", _) => KvOp::Get { key },
            (_, None) => return Err(format!("a :{f} needs a string :value")),
            ("put", Some(value)) => KvOp::Put { key, value },
            (_, Some(value)) => KvOp::Append { key, value },
        };
        return builder.invoke(line, process, input);
    }
    if !matches!(*kind, "ok" | "fail" | "info") {
        return Err(format!(
            "expected :type :invoke, :ok, :fail or :info, found :{kind}"
        ));
    }
    let (input, at) = builder.pending_input(process)?;
    let invoked = match input {
        KvOp::Get { .. } => "get",
        KvOp::Put { .. } => "put",
        KvOp::Append { .. } => "append",
    };
    if invoked != *f || input.key() != key {
        return Err(format!(
            "process {process} completes a :{f} of key {key:?} but invoked a :{invoked} of key {:?} on line {at}",
            input.key()
        ));
    }
    let completion = match (*kind, input) {
        ("info", _) => Completion::Unknown,
        ("fail", _) => Completion::DidNotHappen,
        // A key never written reads as "", which some writers log as nil.
        (_, KvOp::Get { .. }) => Completion::Known(KvRet::Get(value.unwrap_or_default())),
        (_, KvOp::Put { value: v, .. } | KvOp::Append { value: v, .. })
            if value.as_ref().is_some_and(|value| value != v) =>
        {
            return Err(format!("the :{f} of line {at} was of {v:?}, not {value:?}"));
        }
        (_, KvOp::Put { .. }) => Completion::Known(KvRet::Put),
        (_, KvOp::Append { .. }) => Completion::Known(KvRet::Append),
    };
    builder.complete(line, process, completion);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edn_map_with_escapes_and_scalars() {
        let fields =
            parse_edn_map(r#"{:process 3, :type :ok, :key "a \"b\"", :value nil, :n -2}"#).unwrap();
        assert_eq!(
            fields,
            vec![
                ("process", Edn::Int(3)),
                ("type", Edn::Keyword("ok")),
                ("key", Edn::Str("a \"b\"".to_string())),
                ("value", Edn::Nil),
                ("n", Edn::Int(-2)),
            ]
        );
    }

    #[test]
    fn edn_unterminated_string_is_an_error() {
        assert!(parse_edn_map(r#"{:key "abc}"#).is_err());
    }
}
