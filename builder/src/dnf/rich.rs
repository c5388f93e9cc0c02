//! RPM dependency expressions: plain `name`, `name OP evr`, and rich (boolean) dependencies
//! such as `(pgvector_17 if postgresql17-server)`, parsed into a [`Dep`] tree and evaluated
//! against a caller's idea of what is satisfied.
//!
//! The grammar is rpm's (`rpmrichParse`): a rich dependency is a parenthesised
//! `A and B [and C ...]`, `A or B [or ...]`, `A with B [with ...]`, `A without B`,
//! `A if B [else C]` or `A unless B [else C]`, where each operand is a simple dependency or a
//! nested rich one. Operators cannot be mixed without parentheses. A simple dependency's name
//! ends at whitespace, a comma or an unbalanced `)`, so `perl(Foo::Bar) >= 1.0` inside a rich
//! dependency works as it does in rpm.
//!
//! Evaluation simplification: `with` and `without` are meant to be checked against one and the
//! same provider (`(A with B)` needs a package providing both). [`Dep::eval`] only has a
//! per-dependency predicate, so it treats `with` as `and` and `A without B` as `A and not B`.

use std::cmp::Ordering;
use std::fmt;

use super::version::{Evr, EvrError};

/// A comparison operator of a versioned dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Op {
    /// Parses rpm's textual operators (`<`, `<=`, `=`, `==`, `>=`, `>`, also `=<` / `=>`).
    pub fn from_symbol(s: &str) -> Option<Op> {
        Some(match s {
            "<" => Op::Lt,
            "<=" | "=<" => Op::Le,
            "=" | "==" => Op::Eq,
            ">=" | "=>" => Op::Ge,
            ">" => Op::Gt,
            _ => return None,
        })
    }

    /// Parses the `flags` attribute of repodata (`LT`, `LE`, `EQ`, `GE`, `GT`).
    pub fn from_flags(s: &str) -> Option<Op> {
        Some(match s {
            "LT" => Op::Lt,
            "LE" => Op::Le,
            "EQ" => Op::Eq,
            "GE" => Op::Ge,
            "GT" => Op::Gt,
            _ => return None,
        })
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">",
        }
    }

    /// Whether `have OP want` holds given `have.cmp(want)`.
    pub fn holds(self, ord: Ordering) -> bool {
        match self {
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Eq => ord == Ordering::Equal,
            Op::Ge => ord != Ordering::Less,
            Op::Gt => ord == Ordering::Greater,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// A simple dependency: a name, optionally with a version constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simple {
    pub name: String,
    pub constraint: Option<(Op, Evr)>,
}

impl Simple {
    /// Whether a package of version `evr` meets the constraint (true when there is none). The
    /// release is ignored when either side lacks one, as rpm does.
    pub fn version_matches(&self, evr: &Evr) -> bool {
        match &self.constraint {
            None => true,
            Some((op, want)) => op.holds(evr.cmp_dep(want)),
        }
    }
}

impl fmt::Display for Simple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some((op, evr)) = &self.constraint {
            write!(f, " {op} {evr}")?;
        }
        Ok(())
    }
}

/// A parsed dependency expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dep {
    Simple(Simple),
    /// `(A and B ...)`: all of them.
    And(Vec<Dep>),
    /// `(A or B ...)`: at least one.
    Or(Vec<Dep>),
    /// `(A with B ...)`: all of them, by one provider (evaluated as `and`).
    With(Vec<Dep>),
    /// `(A without B)`: A, by a provider that does not also provide B (evaluated as A and not B).
    Without(Box<Dep>, Box<Dep>),
    /// `(then if cond [else otherwise])`.
    If {
        then: Box<Dep>,
        cond: Box<Dep>,
        otherwise: Option<Box<Dep>>,
    },
    /// `(then unless cond [else otherwise])`: `then` is needed when `cond` is not met;
    /// `otherwise` when it is.
    Unless {
        then: Box<Dep>,
        cond: Box<Dep>,
        otherwise: Option<Box<Dep>>,
    },
}

/// A dependency expression that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RichError {
    #[error("dependency `{text}`, at byte {pos}: {reason}")]
    Syntax {
        text: String,
        pos: usize,
        reason: &'static str,
    },
    #[error("dependency `{text}`")]
    Version {
        text: String,
        #[source]
        source: EvrError,
    },
}

impl Dep {
    /// Parses a whole dependency string, simple or rich.
    pub fn parse(text: &str) -> Result<Dep, RichError> {
        let mut p = Parser { text, pos: 0 };
        p.skip_ws();
        let dep = p.term()?;
        p.skip_ws();
        if p.pos != text.len() {
            return Err(p.err("trailing text"));
        }
        Ok(dep)
    }

    /// Whether this is a rich (parenthesised) dependency.
    pub fn is_rich(&self) -> bool {
        !matches!(self, Dep::Simple(_))
    }

    /// Evaluates the expression, `satisfied` answering for each simple dependency. See the
    /// module documentation for `with` / `without`.
    pub fn eval(&self, satisfied: &mut impl FnMut(&Simple) -> bool) -> bool {
        match self {
            Dep::Simple(s) => satisfied(s),
            Dep::And(deps) | Dep::With(deps) => deps.iter().all(|d| d.eval(satisfied)),
            Dep::Or(deps) => deps.iter().any(|d| d.eval(satisfied)),
            Dep::Without(a, b) => a.eval(satisfied) && !b.eval(satisfied),
            Dep::If {
                then,
                cond,
                otherwise,
            } => {
                if cond.eval(satisfied) {
                    then.eval(satisfied)
                } else {
                    otherwise.as_ref().is_none_or(|o| o.eval(satisfied))
                }
            }
            Dep::Unless {
                then,
                cond,
                otherwise,
            } => {
                if cond.eval(satisfied) {
                    otherwise.as_ref().is_none_or(|o| o.eval(satisfied))
                } else {
                    then.eval(satisfied)
                }
            }
        }
    }

    /// Every simple dependency in the expression, in order.
    pub fn simples(&self) -> Vec<&Simple> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Simple>) {
        match self {
            Dep::Simple(s) => out.push(s),
            Dep::And(deps) | Dep::Or(deps) | Dep::With(deps) => {
                deps.iter().for_each(|d| d.collect(out))
            }
            Dep::Without(a, b) => {
                a.collect(out);
                b.collect(out);
            }
            Dep::If {
                then,
                cond,
                otherwise,
            }
            | Dep::Unless {
                then,
                cond,
                otherwise,
            } => {
                then.collect(out);
                cond.collect(out);
                if let Some(o) = otherwise {
                    o.collect(out);
                }
            }
        }
    }
}

impl fmt::Display for Dep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, deps: &[Dep], op: &str| {
            f.write_str("(")?;
            for (i, d) in deps.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                write!(f, "{d}")?;
            }
            f.write_str(")")
        };
        let cond =
            |f: &mut fmt::Formatter<'_>, op: &str, t: &Dep, c: &Dep, o: &Option<Box<Dep>>| {
                write!(f, "({t} {op} {c}")?;
                if let Some(o) = o {
                    write!(f, " else {o}")?;
                }
                f.write_str(")")
            };
        match self {
            Dep::Simple(s) => write!(f, "{s}"),
            Dep::And(d) => join(f, d, "and"),
            Dep::Or(d) => join(f, d, "or"),
            Dep::With(d) => join(f, d, "with"),
            Dep::Without(a, b) => write!(f, "({a} without {b})"),
            Dep::If {
                then,
                cond: c,
                otherwise,
            } => cond(f, "if", then, c, otherwise),
            Dep::Unless {
                then,
                cond: c,
                otherwise,
            } => cond(f, "unless", then, c, otherwise),
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, reason: &'static str) -> RichError {
        RichError::Syntax {
            text: self.text.to_string(),
            pos: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// rpm's `SKIPNONWHITEX`: up to whitespace, a comma, or a `)` that closes nothing.
    fn word(&mut self) -> &str {
        let start = self.pos;
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() || c == b',' {
                break;
            }
            if c == b')' {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            if c == b'(' {
                depth += 1;
            }
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// A simple dependency or a parenthesised rich one.
    fn term(&mut self) -> Result<Dep, RichError> {
        if self.peek() == Some(b'(') {
            return self.rich();
        }
        let name = self.word().to_string();
        if name.is_empty() {
            return Err(self.err("expected a dependency"));
        }
        let save = self.pos;
        self.skip_ws();
        let op_start = self.pos;
        while self.peek().is_some_and(|c| matches!(c, b'<' | b'>' | b'=')) {
            self.pos += 1;
        }
        if self.pos == op_start {
            self.pos = save;
            return Ok(Dep::Simple(Simple {
                name,
                constraint: None,
            }));
        }
        let op = Op::from_symbol(&self.text[op_start..self.pos]).ok_or_else(|| {
            self.pos = op_start;
            self.err("bad comparison operator")
        })?;
        self.skip_ws();
        let evr_text = self.word();
        if evr_text.is_empty() {
            return Err(self.err("expected a version after the operator"));
        }
        let evr = evr_text
            .parse::<Evr>()
            .map_err(|source| RichError::Version {
                text: self.text.to_string(),
                source,
            })?;
        Ok(Dep::Simple(Simple {
            name,
            constraint: Some((op, evr)),
        }))
    }

    fn keyword(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// `( term op term [op term ...] )`, at the opening parenthesis.
    fn rich(&mut self) -> Result<Dep, RichError> {
        self.pos += 1;
        self.skip_ws();
        let first = self.term()?;
        self.skip_ws();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(first);
        }
        let op_pos = self.pos;
        let op = self.keyword().to_string();
        if !matches!(
            op.as_str(),
            "and" | "or" | "with" | "without" | "if" | "unless"
        ) {
            self.pos = op_pos;
            return Err(self.err("expected and/or/with/without/if/unless"));
        }
        let mut operands = vec![first];
        let mut otherwise = None;
        loop {
            self.skip_ws();
            let operand = self.term()?;
            if otherwise.is_none() && operands.len() == 2 && matches!(op.as_str(), "if" | "unless")
            {
                otherwise = Some(Box::new(operand));
            } else {
                operands.push(operand);
            }
            self.skip_ws();
            match self.peek() {
                Some(b')') => {
                    self.pos += 1;
                    break;
                }
                None => return Err(self.err("missing `)`")),
                _ => {}
            }
            let next_pos = self.pos;
            let next = self.keyword();
            let chains = match op.as_str() {
                "and" | "or" | "with" => next == op,
                "if" | "unless" => next == "else" && otherwise.is_none() && operands.len() == 2,
                _ => false,
            };
            if !chains {
                self.pos = next_pos;
                return Err(self.err("unexpected operator (use parentheses to mix operators)"));
            }
        }
        Ok(match op.as_str() {
            "and" => Dep::And(operands),
            "or" => Dep::Or(operands),
            "with" => Dep::With(operands),
            _ => {
                let mut it = operands.into_iter();
                let (Some(a), Some(b)) = (it.next(), it.next()) else {
                    return Err(self.err("operator needs two operands"));
                };
                let (a, b) = (Box::new(a), Box::new(b));
                match op.as_str() {
                    "without" => Dep::Without(a, b),
                    "if" => Dep::If {
                        then: a,
                        cond: b,
                        otherwise,
                    },
                    _ => Dep::Unless {
                        then: a,
                        cond: b,
                        otherwise,
                    },
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dep {
        Dep::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn simple(name: &str) -> Dep {
        Dep::Simple(Simple {
            name: name.to_string(),
            constraint: None,
        })
    }

    /// Evaluates with the given installed names (any version).
    fn eval(s: &str, have: &[&str]) -> bool {
        d(s).eval(&mut |x: &Simple| have.contains(&x.name.as_str()))
    }

    #[test]
    fn simple_forms() {
        assert_eq!(d("bash"), simple("bash"));
        let Dep::Simple(s) = d("postgresql17-libs >= 17.2-1PGDG.rhel9") else {
            panic!()
        };
        assert_eq!(s.name, "postgresql17-libs");
        assert_eq!(
            s.constraint,
            Some((Op::Ge, "17.2-1PGDG.rhel9".parse().unwrap()))
        );
        let Dep::Simple(s) = d("perl(Foo::Bar) >= 1:0.5") else {
            panic!()
        };
        assert_eq!(s.name, "perl(Foo::Bar)");
        assert_eq!(s.constraint, Some((Op::Ge, Evr::new(1, "0.5", ""))));
        assert_eq!(
            d("libc.so.6(GLIBC_2.34)(64bit)"),
            simple("libc.so.6(GLIBC_2.34)(64bit)")
        );
        assert_eq!(
            d("rpmlib(RichDependencies) <= 4.12.0-1").to_string(),
            "rpmlib(RichDependencies) <= 4.12.0-1"
        );
    }

    #[test]
    fn rich_forms() {
        assert_eq!(
            d("(pgvector_17 if postgresql17-server)"),
            Dep::If {
                then: Box::new(simple("pgvector_17")),
                cond: Box::new(simple("postgresql17-server")),
                otherwise: None,
            }
        );
        let nested = d("((a >= 1.0 or b) and (c unless d))");
        assert_eq!(nested.to_string(), "((a >= 1.0 or b) and (c unless d))");
        assert_eq!(nested.simples().len(), 4);
        assert_eq!(
            d("(a and b and c)"),
            Dep::And(vec![simple("a"), simple("b"), simple("c")])
        );
        for s in [
            "(a or b or c)",
            "(a with b)",
            "(a without b)",
            "(a if b else c)",
            "(a unless b else c)",
            "(perl(Foo) >= 1.2 with perl(Foo) < 2)",
            "((x if y else z) or (w without v))",
            "(python3dist(setuptools) >= 40.8 if python3-devel)",
        ] {
            assert_eq!(d(s).to_string(), s, "round trip");
        }
        // Whitespace is free around parentheses and operators.
        assert_eq!(d("( a  and (b or c) )").to_string(), "(a and (b or c))");
        assert_eq!(d("(a)"), simple("a"));
    }

    #[test]
    fn bad_expressions() {
        for s in [
            "",
            "(",
            "(a",
            "(a and)",
            "(and b)",
            "(a and b or c)",
            "(a if b else c else d)",
            "(a without b without c)",
            "(a xor b)",
            "(a >= )",
            "a >= x:1",
            "(a b)",
            "a b",
            "(a and b))",
            "a <> 1",
        ] {
            assert!(Dep::parse(s).is_err(), "`{s}` should not parse");
        }
    }

    #[test]
    fn evaluation() {
        let s = "(pgvector_17 if postgresql17-server)";
        assert!(eval(s, &[]));
        assert!(!eval(s, &["postgresql17-server"]));
        assert!(eval(s, &["postgresql17-server", "pgvector_17"]));

        let s = "((a >= 1.0 or b) and (c unless d))";
        assert!(!eval(s, &["a"]));
        assert!(eval(s, &["a", "c"]));
        assert!(eval(s, &["b", "d"]));
        assert!(!eval(s, &["c", "d"]));

        let s = "(a if b else c)";
        assert!(eval(s, &["a", "b"]));
        assert!(!eval(s, &["b"]));
        assert!(eval(s, &["c"]));
        assert!(!eval(s, &[]));

        let s = "(a unless b else c)";
        assert!(eval(s, &["a"]));
        assert!(!eval(s, &[]));
        assert!(eval(s, &["b", "c"]));
        assert!(!eval(s, &["b", "a"]));

        assert!(eval("(a with b)", &["a", "b"]));
        assert!(!eval("(a with b)", &["a"]));
        assert!(eval("(a without b)", &["a"]));
        assert!(!eval("(a without b)", &["a", "b"]));
    }

    #[test]
    fn versioned_evaluation() {
        let dep = d("(postgresql17-libs >= 17.2 and libzstd > 1:1.0)");
        let have = [
            ("postgresql17-libs", e("17.2-1PGDG.rhel9")),
            ("libzstd", e("1:1.5.5-1")),
        ];
        let mut sat = |s: &Simple| {
            have.iter()
                .any(|(n, v)| *n == s.name && s.version_matches(v))
        };
        assert!(dep.eval(&mut sat));
        let dep = d("postgresql17-libs < 17.2");
        assert!(!dep.eval(&mut sat));
        assert!(Op::Le.holds(Ordering::Equal) && !Op::Lt.holds(Ordering::Equal));
        assert_eq!(Op::from_flags("GE"), Some(Op::Ge));
        assert_eq!(Op::from_flags("XX"), None);
    }

    fn e(s: &str) -> Evr {
        s.parse().unwrap()
    }
}
