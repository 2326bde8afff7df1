//! Exchange recipient filters (OPATH), as management scopes write them
//! (`New-ManagementScope -RecipientRestrictionFilter "Department -eq 'Sales'"`):
//! comparisons `-eq`, `-ne`, `-like`, `-notlike` of a property with a quoted
//! value or `$null`/`$true`/`$false`, joined by `-and`, `-or`, `-not` and
//! parentheses. Comparisons ignore case, as Exchange's do; `-like` takes `*`
//! wildcards; a multi-valued property (`MemberOfGroup`, `EmailAddresses`)
//! matches when any of its values does.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Like,
    NotLike,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Compare {
        property: String,
        op: Op,
        value: Option<String>,
    },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("recipient filter: {message} at character {at}")]
pub struct FilterError {
    pub message: String,
    pub at: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Dash(String),
    Quoted(String),
    Variable(String),
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<(usize, Token)>, FilterError> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = vec![];
    let mut i = 0;
    let word_end = |mut j: usize| {
        while j < chars.len() && !chars[j].1.is_whitespace() && !matches!(chars[j].1, '(' | ')' | '\'' | '"') {
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let (at, c) = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((at, Token::Open));
                i += 1;
            }
            ')' => {
                out.push((at, Token::Close));
                i += 1;
            }
            '\'' | '"' => {
                // A doubled quote inside stands for one.
                let mut value = String::new();
                let mut j = i + 1;
                loop {
                    let Some(&(_, d)) = chars.get(j) else {
                        return Err(FilterError {
                            message: "a quoted value is not closed".into(),
                            at,
                        });
                    };
                    if d == c {
                        if chars.get(j + 1).is_some_and(|&(_, e)| e == c) {
                            value.push(c);
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    value.push(d);
                    j += 1;
                }
                out.push((at, Token::Quoted(value)));
                i = j + 1;
            }
            _ => {
                let j = word_end(i);
                let word: String = chars[i..j].iter().map(|&(_, c)| c).collect();
                let token = if let Some(rest) = word.strip_prefix('-') {
                    Token::Dash(rest.to_ascii_lowercase())
                } else if let Some(rest) = word.strip_prefix('$') {
                    Token::Variable(rest.to_ascii_lowercase())
                } else {
                    Token::Word(word)
                };
                out.push((at, token));
                i = j;
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    next: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(_, t)| t)
    }

    fn at(&self) -> usize {
        self.tokens.get(self.next).map_or(self.end, |(a, _)| *a)
    }

    fn fail<T>(&self, message: impl Into<String>) -> Result<T, FilterError> {
        Err(FilterError {
            message: message.into(),
            at: self.at(),
        })
    }

    fn take(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.next).map(|(_, t)| t.clone());
        self.next += 1;
        t
    }

    fn is_dash(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Dash(w)) if w == word)
    }

    fn or(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.and(depth)?;
        while self.is_dash("or") {
            self.next += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and(depth)?));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.not(depth)?;
        while self.is_dash("and") {
            self.next += 1;
            left = Filter::And(Box::new(left), Box::new(self.not(depth)?));
        }
        Ok(left)
    }

    fn not(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if depth > 32 {
            return self.fail("nested too deeply");
        }
        if self.is_dash("not") {
            self.next += 1;
            return Ok(Filter::Not(Box::new(self.not(depth + 1)?)));
        }
        if self.peek() == Some(&Token::Open) {
            self.next += 1;
            let inner = self.or(depth + 1)?;
            if self.take() != Some(Token::Close) {
                self.next -= 1;
                return self.fail("expected `)`");
            }
            return Ok(inner);
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Filter, FilterError> {
        let property = match self.take() {
            Some(Token::Word(w)) => w,
            _ => {
                self.next -= 1;
                return self.fail("expected a property name");
            }
        };
        let op = match self.take() {
            Some(Token::Dash(w)) => match w.as_str() {
                "eq" => Op::Eq,
                "ne" => Op::Ne,
                "like" => Op::Like,
                "notlike" => Op::NotLike,
                other => {
                    self.next -= 1;
                    return self.fail(format!(
                        "operator -{other} is not supported (use -eq, -ne, -like, -notlike)"
                    ));
                }
            },
            _ => {
                self.next -= 1;
                return self.fail(format!("expected an operator after {property}"));
            }
        };
        let value = match self.take() {
            Some(Token::Quoted(v)) | Some(Token::Word(v)) => Some(v),
            Some(Token::Variable(v)) if v == "null" => None,
            Some(Token::Variable(v)) if v == "true" || v == "false" => Some(v),
            _ => {
                self.next -= 1;
                return self.fail("expected a value ('text', $null, $true or $false)");
            }
        };
        Ok(Filter::Compare { property, op, value })
    }
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let mut p = Parser {
            tokens: tokens(text)?,
            next: 0,
            end: text.len(),
        };
        if p.tokens.is_empty() {
            return p.fail("the filter is empty");
        }
        let f = p.or(0)?;
        if p.next < p.tokens.len() {
            return p.fail("unexpected text after the filter");
        }
        Ok(f)
    }

    /// Whether a recipient matches; `values` gives a property's values (none: not set).
    pub fn matches(&self, values: &dyn Fn(&str) -> Vec<String>) -> bool {
        match self {
            Filter::And(a, b) => a.matches(values) && b.matches(values),
            Filter::Or(a, b) => a.matches(values) || b.matches(values),
            Filter::Not(a) => !a.matches(values),
            Filter::Compare { property, op, value } => {
                let have = values(property);
                let hit = |v: &str| match (op, value) {
                    (Op::Eq | Op::Ne, Some(want)) => v.eq_ignore_ascii_case(want),
                    (Op::Like | Op::NotLike, Some(pattern)) => like(v, pattern),
                    (_, None) => false,
                };
                let any = match value {
                    None => !have.iter().all(|v| v.is_empty()),
                    Some(_) => have.iter().any(|v| hit(v)),
                };
                match (op, value) {
                    (Op::Eq | Op::Like, None) => !any,
                    (Op::Ne | Op::NotLike, None) => any,
                    (Op::Eq | Op::Like, Some(_)) => any,
                    (Op::Ne | Op::NotLike, Some(_)) => !any,
                }
            }
        }
    }

    /// The comparisons, for naming what decided a match.
    pub fn properties(&self) -> Vec<&str> {
        match self {
            Filter::And(a, b) | Filter::Or(a, b) => {
                let mut p = a.properties();
                p.extend(b.properties());
                p
            }
            Filter::Not(a) => a.properties(),
            Filter::Compare { property, .. } => vec![property.as_str()],
        }
    }
}

/// `*` matches any run of characters; case is ignored (`-like`).
pub fn like(text: &str, pattern: &str) -> bool {
    let text = text.to_lowercase();
    let pattern = pattern.to_lowercase();
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return text == pattern;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::And(a, b) => write!(f, "({a} -and {b})"),
            Filter::Or(a, b) => write!(f, "({a} -or {b})"),
            Filter::Not(a) => write!(f, "-not {a}"),
            Filter::Compare { property, op, value } => {
                let op = match op {
                    Op::Eq => "-eq",
                    Op::Ne => "-ne",
                    Op::Like => "-like",
                    Op::NotLike => "-notlike",
                };
                match value {
                    Some(v) => write!(f, "{property} {op} '{}'", v.replace('\'', "''")),
                    None => write!(f, "{property} {op} $null"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bob(property: &str) -> Vec<String> {
        match property.to_ascii_lowercase().as_str() {
            "department" => vec!["Support".into()],
            "primarysmtpaddress" => vec!["bob@contoso.com".into()],
            "memberofgroup" => vec!["CN=Sync,OU=Groups".into(), "CN=All".into()],
            _ => vec![],
        }
    }

    fn check(filter: &str) -> bool {
        Filter::parse(filter)
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .matches(&bob)
    }

    #[test]
    fn comparisons_ignore_case_and_take_wildcards() {
        assert!(check("Department -eq 'support'"));
        assert!(!check("Department -eq 'Sales'"));
        assert!(check("Department -ne 'Sales'"));
        assert!(check("PrimarySmtpAddress -like '*@contoso.com'"));
        assert!(check("PrimarySmtpAddress -like 'b*@*.com'"));
        assert!(!check("PrimarySmtpAddress -notlike '*@CONTOSO.com'"));
        assert!(check("MemberOfGroup -eq 'CN=Sync,OU=Groups'"));
        assert!(check("CustomAttribute1 -eq $null"));
        assert!(!check("Department -eq $null"));
        assert!(check("Department -ne $null"));
    }

    #[test]
    fn logic_and_precedence() {
        assert!(check("Department -eq 'Sales' -or Department -eq 'Support'"));
        assert!(!check(
            "Department -eq 'Support' -and -not (PrimarySmtpAddress -like 'bob*')"
        ));
        // -and binds tighter than -or.
        assert!(check(
            "Department -eq 'Sales' -and Department -eq 'x' -or Department -eq 'Support'"
        ));
        assert!(check("(Department -eq \"Support\")"));
        assert!(check("Department -eq 'it''s' -or Department -eq Support"));
    }

    #[test]
    fn bad_filters_say_where() {
        for (text, at) in [
            ("Department -eq", 14),
            ("Department -gt 'x'", 11),
            ("(Department -eq 'x'", 19),
            ("Department -eq 'x", 15),
            ("", 0),
            ("Department -eq 'x' extra", 19),
        ] {
            let e = Filter::parse(text).expect_err(text);
            assert_eq!(e.at, at, "{text}: {e}");
        }
        let deep = format!("{}Department -eq 'x'{}", "(".repeat(100), ")".repeat(100));
        assert!(Filter::parse(&deep).is_err());
    }

    #[test]
    fn display_reads_back() {
        let f = Filter::parse("Department -eq 'Sales' -and -not CustomAttribute1 -eq $null").expect("parse");
        assert_eq!(Filter::parse(&f.to_string()).expect("again"), f);
    }
}
