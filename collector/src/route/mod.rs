//! Routes: which topics a route subscribes to, how its topic pattern names the
//! parts of a topic (`collectd/{device}/{plugin}/{type}`), and which payload
//! format it decodes.
//!
//! A pattern is a `/`-separated list of segments, each either a literal or a
//! `{name}` variable capturing exactly one topic level. The MQTT subscription
//! filter defaults to the pattern with every variable replaced by `+`.
//! Routes are tried in config order; the first whose pattern matches wins.

use std::collections::HashMap;
use std::sync::Arc;

use crate::decode::Format;
use crate::sample::CounterWidth;

/// Most `{variables}` a pattern may have: [`TopicVars`] holds them inline,
/// so matching a message allocates nothing (the built-in patterns use three).
pub const MAX_PATTERN_VARS: usize = 8;

/// Variables captured from a topic, in pattern order.
#[derive(Clone, Copy, Default)]
pub struct TopicVars<'a> {
    /// (name from the pattern, level of the topic), borrowed: the first
    /// `len` entries are set, the rest stay empty.
    vars: [(&'a str, &'a str); MAX_PATTERN_VARS],
    len: usize,
}

impl<'a> TopicVars<'a> {
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.as_slice()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// `(name, value)` of every variable, in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.as_slice().iter().copied()
    }

    /// Builds variables directly (tests, simulators).
    ///
    /// # Panics
    /// With more than [`MAX_PATTERN_VARS`] pairs, which no pattern captures.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> TopicVars<'a> {
        let mut vars = TopicVars::default();
        for pair in pairs {
            vars.push(pair);
        }
        vars
    }

    fn push(&mut self, pair: (&'a str, &'a str)) {
        assert!(
            self.len < MAX_PATTERN_VARS,
            "more than {MAX_PATTERN_VARS} topic variables"
        );
        self.vars[self.len] = pair;
        self.len += 1;
    }

    fn as_slice(&self) -> &[(&'a str, &'a str)] {
        &self.vars[..self.len]
    }
}

impl PartialEq for TopicVars<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for TopicVars<'_> {}

impl std::fmt::Debug for TopicVars<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Var(Arc<str>),
}

/// A compiled topic pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPattern {
    source: String,
    segments: Vec<Segment>,
}

/// Why a pattern or filter is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("pattern is empty")]
    Empty,
    #[error("segment {index} (`{segment}`): {reason}")]
    BadSegment {
        index: usize,
        segment: String,
        reason: &'static str,
    },
    #[error("variable `{0}` appears twice")]
    DuplicateVar(String),
    #[error("more than {MAX_PATTERN_VARS} variables")]
    TooManyVars,
}

impl TopicPattern {
    pub fn parse(pattern: &str) -> Result<TopicPattern, PatternError> {
        if pattern.is_empty() {
            return Err(PatternError::Empty);
        }
        let mut segments = Vec::new();
        for (index, seg) in pattern.split('/').enumerate() {
            let bad = |reason| PatternError::BadSegment {
                index,
                segment: seg.to_string(),
                reason,
            };
            if let Some(inner) = seg.strip_prefix('{') {
                let name = inner
                    .strip_suffix('}')
                    .ok_or_else(|| bad("`{` without closing `}`"))?;
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(bad("variable names use letters, digits and `_`"));
                }
                if segments
                    .iter()
                    .any(|s| matches!(s, Segment::Var(n) if &**n == name))
                {
                    return Err(PatternError::DuplicateVar(name.to_string()));
                }
                let vars = segments.iter().filter(|s| matches!(s, Segment::Var(_)));
                if vars.count() == MAX_PATTERN_VARS {
                    return Err(PatternError::TooManyVars);
                }
                segments.push(Segment::Var(Arc::from(name)));
            } else if seg.contains(['{', '}']) {
                return Err(bad("a variable must be a whole topic level"));
            } else if seg.contains(['+', '#']) {
                return Err(bad(
                    "wildcards belong in `filter`; use `{name}` in patterns",
                ));
            } else {
                segments.push(Segment::Literal(seg.to_string()));
            }
        }
        Ok(TopicPattern {
            source: pattern.to_string(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True if the pattern captures a variable of this name.
    pub fn has_var(&self, name: &str) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Var(n) if &**n == name))
    }

    /// The MQTT filter that subscribes to exactly this pattern's topics.
    pub fn default_filter(&self) -> String {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => l.as_str(),
                Segment::Var(_) => "+",
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The MQTT filter for the topics where variable `var` is `value` (every
    /// other variable `+`); `None` when the pattern has no such variable.
    pub fn filter_for(&self, var: &str, value: &str) -> Option<String> {
        if !self.has_var(var) {
            return None;
        }
        let levels: Vec<&str> = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => l.as_str(),
                Segment::Var(n) if &**n == var => value,
                Segment::Var(_) => "+",
            })
            .collect();
        Some(levels.join("/"))
    }

    /// Captures the variables of `topic`, or `None` if it does not match.
    /// One pass over the topic, nothing allocated: a literal segment is
    /// compared in place, a variable's level found by a byte scan (topics
    /// are short, and `str::split`'s memchr dispatch cost more than the
    /// scan itself).
    pub fn matches<'a>(&'a self, topic: &'a str) -> Option<TopicVars<'a>> {
        let mut vars = TopicVars::default();
        // The levels not yet matched; `None` once the last one was.
        let mut rest = Some(topic);
        for seg in &self.segments {
            let s = rest?;
            let after = match seg {
                Segment::Literal(l) => s.strip_prefix(l.as_str())?,
                Segment::Var(name) => {
                    let end = s.bytes().position(|b| b == b'/').unwrap_or(s.len());
                    if end == 0 {
                        return None; // a variable never captures an empty level
                    }
                    vars.push((name, &s[..end]));
                    &s[end..]
                }
            };
            rest = match after.strip_prefix('/') {
                Some(next) => Some(next),
                None if after.is_empty() => None,
                None => return None, // the literal was only a prefix of the level
            };
        }
        rest.is_none().then_some(vars)
    }
}

/// Checks an MQTT subscription filter (`+` whole level, `#` last level only).
pub fn validate_filter(filter: &str) -> Result<(), PatternError> {
    if filter.is_empty() {
        return Err(PatternError::Empty);
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (index, level) in levels.iter().enumerate() {
        let bad = |reason| PatternError::BadSegment {
            index,
            segment: level.to_string(),
            reason,
        };
        if level.contains('#') && (*level != "#" || index + 1 != levels.len()) {
            return Err(bad("`#` must be the whole last level"));
        }
        if level.contains('+') && *level != "+" {
            return Err(bad("`+` must be a whole level"));
        }
    }
    Ok(())
}

/// True if `topic` matches the MQTT filter `filter` (shared subscription
/// prefixes `$share/<group>/` are stripped first).
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    let filter = match filter.strip_prefix("$share/") {
        Some(rest) => rest.split_once('/').map(|(_, f)| f).unwrap_or(""),
        None => filter,
    };
    let mut t = topic.split('/');
    for f in filter.split('/') {
        match (f, t.next()) {
            ("#", _) => return !topic.starts_with('$'),
            ("+", Some(_)) => {}
            (lit, Some(level)) if lit == level => {}
            _ => return false,
        }
    }
    t.next().is_none()
}

/// A compiled route: everything the pipeline needs to handle one topic family.
#[derive(Debug, Clone)]
pub struct Route {
    /// Label value for per-route metrics.
    pub name: Arc<str>,
    /// MQTT subscription filter.
    pub filter: String,
    pub pattern: TopicPattern,
    pub format: Format,
    pub counter_width: CounterWidth,
}

/// The ordered route table.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
    /// Per literal first level (`collectd`, `telegraf`), the routes a topic
    /// starting with it can match, in table order: those starting with that
    /// literal or with a variable. Comparing every pattern's first literal
    /// was a tenth of the per-message cost with the built-in routes.
    by_first_level: HashMap<String, Vec<usize>, ahash::RandomState>,
    /// The routes starting with a variable: the candidates for any other topic.
    var_first: Vec<usize>,
}

impl RouteTable {
    pub fn new(routes: Vec<Route>) -> RouteTable {
        let first = |r: &Route| match r.pattern.segments.first() {
            Some(Segment::Literal(l)) => Some(l.clone()),
            _ => None,
        };
        let var_first: Vec<usize> = (0..routes.len())
            .filter(|&i| first(&routes[i]).is_none())
            .collect();
        let mut by_first_level = HashMap::default();
        for literal in routes.iter().filter_map(first) {
            by_first_level.entry(literal.clone()).or_insert_with(|| {
                (0..routes.len())
                    .filter(|&i| first(&routes[i]).is_none_or(|l| l == literal))
                    .collect()
            });
        }
        RouteTable {
            routes,
            by_first_level,
            var_first,
        }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The first route whose pattern matches `topic`, with its variables.
    pub fn find<'a>(&'a self, topic: &'a str) -> Option<(&'a Route, TopicVars<'a>)> {
        self.find_indexed(topic)
            .map(|(_, route, vars)| (route, vars))
    }

    /// [`find`](Self::find), with the route's position in [`routes`](Self::routes).
    pub fn find_indexed<'a>(&'a self, topic: &'a str) -> Option<(usize, &'a Route, TopicVars<'a>)> {
        let first_level = match topic.bytes().position(|b| b == b'/') {
            Some(end) => &topic[..end],
            None => topic,
        };
        let candidates = self
            .by_first_level
            .get(first_level)
            .unwrap_or(&self.var_first);
        candidates.iter().find_map(|&i| {
            let r = &self.routes[i];
            r.pattern.matches(topic).map(|vars| (i, r, vars))
        })
    }

    /// Distinct subscription filters, in route order.
    pub fn filters(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.routes {
            if !out.contains(&r.filter) {
                out.push(r.filter.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `matches` must do, the obvious way: split the topic, compare
    /// level by level.
    fn matches_by_split<'a>(
        p: &'a TopicPattern,
        topic: &'a str,
    ) -> Option<Vec<(&'a str, &'a str)>> {
        let levels: Vec<&str> = topic.split('/').collect();
        if levels.len() != p.segments.len() {
            return None;
        }
        let mut vars = Vec::new();
        for (seg, level) in p.segments.iter().zip(levels) {
            match seg {
                Segment::Literal(l) if l == level => {}
                Segment::Var(name) if !level.is_empty() => vars.push((&**name, level)),
                _ => return None,
            }
        }
        Some(vars)
    }

    proptest::proptest! {
        #[test]
        fn matches_like_splitting_the_topic(
            segments in proptest::collection::vec(
                proptest::sample::select(vec!["", "a", "ab", "b", "é", "{v}", "{w}", "{x}"]),
                1..5,
            ),
            topic in "(a|ab|b|é|/){0,12}",
        ) {
            // Literal segments may be empty (`a//b`); variables unique.
            let mut seen = Vec::new();
            let segments: Vec<&str> = segments
                .into_iter()
                .map(|s| if s.starts_with('{') && seen.contains(&s) { "a" } else { seen.push(s); s })
                .collect();
            let Ok(p) = TopicPattern::parse(&segments.join("/")) else { return Ok(()); };
            let ours = p.matches(&topic).map(|v| v.iter().collect::<Vec<_>>());
            proptest::prop_assert_eq!(ours, matches_by_split(&p, &topic), "{} on {:?}", p.as_str(), topic);
        }
    }

    #[test]
    fn pattern_captures_variables() {
        let p = TopicPattern::parse("collectd/{device}/{plugin}/{type}").unwrap();
        let vars = p
            .matches("collectd/rtr-001/interface-wan/if_octets")
            .unwrap();
        assert_eq!(vars.get("device"), Some("rtr-001"));
        assert_eq!(vars.get("plugin"), Some("interface-wan"));
        assert_eq!(vars.get("type"), Some("if_octets"));
        assert_eq!(p.default_filter(), "collectd/+/+/+");
        assert!(p.matches("collectd/rtr-001/interface-wan").is_none());
        assert!(p.matches("collectd/rtr-001/a/b/c").is_none());
        assert!(p.matches("other/rtr-001/a/b").is_none());
        assert!(p.matches("collectd//a/b").is_none());
    }

    /// A table of `status` routes named by their patterns, in this order.
    fn table_of(patterns: &[&str]) -> RouteTable {
        RouteTable::new(
            patterns
                .iter()
                .map(|p| Route {
                    name: Arc::from(*p),
                    filter: String::new(),
                    pattern: TopicPattern::parse(p).unwrap(),
                    format: Format::Status,
                    counter_width: CounterWidth::default(),
                })
                .collect(),
        )
    }

    #[test]
    fn first_match_in_table_order_with_variable_first_levels() {
        let patterns = [
            "lit/{a}/z",
            "{a}/x",
            "lit/x",
            "lit/{b}",
            "{a}/{b}/z",
            "other/x",
        ];
        let table = table_of(&patterns);
        for topic in [
            "lit/x", "lit/y", "lit/q/z", "other/x", "any/x", "any/q/z", "x", "/x", "",
        ] {
            let linear = patterns
                .iter()
                .position(|p| TopicPattern::parse(p).unwrap().matches(topic).is_some());
            let indexed = table.find_indexed(topic).map(|(i, _, _)| i);
            assert_eq!(indexed, linear, "{topic:?}");
        }
    }

    #[test]
    fn find_matches_like_matches_at_any_depth() {
        let deep = "a/".repeat(20) + "{v}";
        let table = table_of(&["x/{d}", "x/{d}/y", deep.as_str()]);
        fn name<'a>(table: &'a RouteTable, t: &'a str) -> Option<(String, TopicVars<'a>)> {
            table.find(t).map(|(r, v)| (r.name.to_string(), v))
        }
        let name = |t| name(&table, t);
        assert_eq!(name("x/1").unwrap().0, "x/{d}");
        assert_eq!(name("x/1/y").unwrap().1.get("d"), Some("1"));
        assert!(name("x//y").is_none());
        assert!(name("x/1/z").is_none());
        let topic = "a/".repeat(20) + "leaf";
        let (route, vars) = name(&topic).unwrap();
        assert_eq!(
            (route.as_str(), vars.get("v")),
            (deep.as_str(), Some("leaf"))
        );
        assert_eq!(vars.iter().collect::<Vec<_>>(), vec![("v", "leaf")]);
        let too_deep = "a/".repeat(30) + "leaf";
        assert!(name(&too_deep).is_none());
    }

    #[test]
    fn bad_patterns_are_explained() {
        assert!(TopicPattern::parse("a/{dev")
            .unwrap_err()
            .to_string()
            .contains("closing"));
        assert!(TopicPattern::parse("a/+/b")
            .unwrap_err()
            .to_string()
            .contains("filter"));
        assert!(TopicPattern::parse("a/x{d}/b").is_err());
        assert!(matches!(
            TopicPattern::parse("{d}/{d}"),
            Err(PatternError::DuplicateVar(_))
        ));
    }

    #[test]
    fn patterns_capture_at_most_max_vars() {
        let names: Vec<String> = (0..=MAX_PATTERN_VARS)
            .map(|i| format!("{{v{i}}}"))
            .collect();
        let most = names[..MAX_PATTERN_VARS].join("/");
        let pattern = TopicPattern::parse(&most).expect("MAX_PATTERN_VARS variables");
        let topic = ["x"; MAX_PATTERN_VARS].join("/");
        let vars = pattern.matches(&topic).expect("matches");
        assert_eq!(vars.iter().count(), MAX_PATTERN_VARS);
        assert_eq!(vars.get("v7"), Some("x"));
        let err = TopicPattern::parse(&names.join("/")).unwrap_err();
        assert_eq!(err, PatternError::TooManyVars);
        assert_eq!(err.to_string(), "more than 8 variables");
    }

    #[test]
    fn filters_match_like_a_broker() {
        assert!(filter_matches("a/+/c", "a/b/c"));
        assert!(!filter_matches("a/+/c", "a/b/d"));
        assert!(filter_matches("a/#", "a/b/c"));
        assert!(filter_matches("a/#", "a"));
        assert!(!filter_matches("#", "$SYS/x"));
        assert!(filter_matches("$share/g/a/+", "a/b"));
        assert!(validate_filter("a/#/b").is_err());
        assert!(validate_filter("a/b+").is_err());
        assert!(validate_filter("a/+/#").is_ok());
    }
}
