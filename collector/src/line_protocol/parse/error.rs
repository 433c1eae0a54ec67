//! Rejections of a line: the cheap [`Fault`] the scanners return (a byte
//! offset and a static message) and the [`Error`] a rejected line becomes,
//! with its line, column and a bounded echo of the text found there.

use std::fmt;

use crate::decode::detail::echo_max;

/// The message of a comma ending the fields (see `parse`).
pub(super) const TRAILING_COMMA: &str = "trailing `,` after field";

/// What is wrong at a byte offset of the chunk, with the key it concerns;
/// turned into an [`Error`] (which allocates) only once the line is rejected.
pub(super) struct Fault<'a> {
    at: usize,
    what: &'static str,
    key: Option<&'a str>,
}

impl<'a> Fault<'a> {
    pub(super) fn new(at: usize, what: &'static str) -> Self {
        Fault {
            at,
            what,
            key: None,
        }
    }

    pub(super) fn key(mut self, key: &'a str) -> Self {
        self.key = Some(key);
        self
    }

    pub(super) fn error(self, chunk: &str, line: usize) -> Error {
        let rest = &chunk[self.at..];
        Error {
            line,
            offset: self.at,
            column: chunk[..self.at].chars().count() + 1,
            what: self.what,
            key: self.key.map(|k| echo_max(k, 32)),
            found: (!rest.is_empty()).then(|| echo_max(rest, 20)),
        }
    }
}

/// Why a line was rejected and where: the line, the column (in characters,
/// from the line's start) and the text found there. Payload text in it is
/// bounded and has control characters escaped (`detail::echo`).
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    /// 1-based physical line where the rejected line starts.
    pub line: usize,
    pub column: usize,
    /// Byte offset of the column in the line's text (for the tests).
    pub(super) offset: usize,
    pub(super) what: &'static str,
    key: Option<String>,
    found: Option<String>,
}

impl fmt::Display for Error {
    /// `<what> at column <n>, found <text>` (the decoder prefixes `line <n>: `).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)?;
        if let Some(key) = &self.key {
            write!(f, " `{key}`")?;
        }
        write!(f, " at column {}, found ", self.column)?;
        match &self.found {
            Some(text) => write!(f, "`{text}`"),
            None => write!(f, "end of line"),
        }
    }
}

impl std::error::Error for Error {}
