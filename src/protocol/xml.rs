//! A small, bounded XML tree on top of quick-xml's namespace-aware reader.
//!
//! Hostile input is expected: DTDs are refused outright (so no entity can be
//! declared, let alone expanded), depth and element count are bounded, and a
//! document cut off right before its root's end tag is repaired (real servers
//! and Microsoft's own samples do that) while any deeper truncation is an error.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

pub const MAX_DEPTH: usize = 64;
pub const MAX_ELEMENTS: usize = 50_000;
/// Attributes on one element. quick-xml's duplicate check is quadratic, so
/// the count is bounded before any attribute is looked at twice.
pub const MAX_ATTRIBUTES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("empty body")]
    Empty,
    #[error("not well-formed XML: {0}")]
    Malformed(String),
    #[error("document type declarations are refused")]
    Dtd,
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("more than {MAX_ELEMENTS} elements")]
    TooManyElements,
    #[error("more than {MAX_ATTRIBUTES} attributes on one element")]
    TooManyAttributes,
    #[error("document ends before its elements are closed")]
    Truncated,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI, when the name is bound to one.
    pub ns: Option<String>,
    pub name: String,
    /// Attributes by local name (prefixes dropped, `xmlns` declarations skipped).
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follow local names down the tree.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }

    /// Trimmed text of a direct child, `None` when absent or empty.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim()).filter(|t| !t.is_empty())
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.name == name && self.ns.as_deref() == Some(ns)
    }

    /// First descendant (depth-first) with this local name.
    pub fn find(&self, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find_map(|c| if c.name == name { Some(c) } else { c.find(name) })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub root: Element,
    /// The root's end tag was missing or broken and was supplied.
    pub repaired: bool,
}

fn open_element(ns: ResolveResult<'_>, start: &quick_xml::events::BytesStart<'_>) -> Result<Element, XmlError> {
    let ns = match ns {
        ResolveResult::Bound(n) => Some(String::from_utf8_lossy(n.as_ref()).into_owned()),
        ResolveResult::Unbound => None,
        ResolveResult::Unknown(p) => {
            return Err(XmlError::Malformed(format!(
                "unknown namespace prefix {:?}",
                String::from_utf8_lossy(&p)
            )))
        }
    };
    let mut attrs = vec![];
    if start.attributes().with_checks(false).nth(MAX_ATTRIBUTES).is_some() {
        return Err(XmlError::TooManyAttributes);
    }
    for attr in start.attributes() {
        let attr = attr.map_err(|e| XmlError::Malformed(e.to_string()))?;
        let key = attr.key;
        if key.as_ref() == b"xmlns" || key.prefix().is_some_and(|p| p.as_ref() == b"xmlns") {
            continue;
        }
        let value = attr.unescape_value().map_err(|e| XmlError::Malformed(e.to_string()))?;
        attrs.push((
            String::from_utf8_lossy(key.local_name().as_ref()).into_owned(),
            value.into_owned(),
        ));
    }
    Ok(Element {
        ns,
        name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
        attrs,
        text: String::new(),
        children: vec![],
    })
}

pub fn parse(bytes: &[u8]) -> Result<Document, XmlError> {
    // A UTF-8 byte order mark is common in Exchange answers.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(XmlError::Empty);
    }
    let mut reader = NsReader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = vec![];
    let mut count = 0usize;
    loop {
        let event = reader.read_resolved_event();
        let (ns, event) = match event {
            Ok(pair) => pair,
            Err(e) => {
                // Cut off inside the root's own end tag: repair.
                if stack.len() == 1 && stack[0].children.iter().any(|_| true) {
                    let root = stack.pop().unwrap_or_default();
                    return Ok(Document { root, repaired: true });
                }
                return Err(XmlError::Malformed(e.to_string()));
            }
        };
        match event {
            Event::DocType(_) => return Err(XmlError::Dtd),
            Event::Start(start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::TooManyElements);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let el = open_element(ns, &start)?;
                stack.push(el);
            }
            Event::Empty(start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::TooManyElements);
                }
                let el = open_element(ns, &start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => {
                        return Ok(Document {
                            root: el,
                            repaired: false,
                        })
                    }
                }
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| XmlError::Malformed("unexpected end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => {
                        return Ok(Document {
                            root: el,
                            repaired: false,
                        })
                    }
                }
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| XmlError::Malformed(e.to_string()))?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(XmlError::Malformed("text outside the root element".into())),
                }
            }
            Event::CData(c) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::Eof => {
                return match stack.len() {
                    0 => Err(XmlError::Empty),
                    1 if !stack[0].children.is_empty() => Ok(Document {
                        root: stack.pop().unwrap_or_default(),
                        repaired: true,
                    }),
                    _ => Err(XmlError::Truncated),
                };
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_attributes() {
        let doc = parse(br#"<?xml version="1.0"?><a:Root xmlns:a="urn:x" xmlns:i="urn:i"><a:Item i:nil="true"/><Plain>t &amp; u</Plain></a:Root>"#)
            .expect("parse");
        assert!(doc.root.is("urn:x", "Root"));
        assert_eq!(doc.root.child("Item").and_then(|e| e.attr("nil")), Some("true"));
        assert_eq!(doc.root.child_text("Plain"), Some("t & u"));
        assert!(doc.root.child("Plain").is_some_and(|e| e.ns.is_none()));
    }

    #[test]
    fn hostile_inputs_are_errors_not_panics() {
        assert_eq!(parse(b""), Err(XmlError::Empty));
        assert_eq!(parse(b"  \n"), Err(XmlError::Empty));
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>"#;
        assert_eq!(parse(bomb), Err(XmlError::Dtd));
        let deep = "<a>".repeat(10_000);
        assert_eq!(parse(deep.as_bytes()), Err(XmlError::TooDeep));
        assert!(matches!(parse(b"<a><b></a>"), Err(XmlError::Malformed(_))));
        assert_eq!(parse(b"<a><b><c>x</c>"), Err(XmlError::Truncated));
        assert!(parse(b"<html><body>Bad gateway").is_err());
        assert!(parse(b"{\"json\":true}").is_err());
        assert!(matches!(parse(b"<a>&undefined;</a>"), Err(XmlError::Malformed(_))));
        let many = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS + 1));
        assert_eq!(parse(many.as_bytes()), Err(XmlError::TooManyElements));
    }

    #[test]
    fn root_end_tag_cut_off_is_repaired() {
        let doc = parse(b"<r><x>1</x></r").expect("repaired");
        assert!(doc.repaired);
        assert_eq!(doc.root.child_text("x"), Some("1"));
    }
}
