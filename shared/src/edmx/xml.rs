//! A small XML tree and its writer, laid out as the CAP compiler writes EDMX: two spaces per
//! level, one element per line, `<Name/>` for an element without content.

use std::fmt::Write as _;

/// An XML element: name, attributes in the order given, then either child elements or text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// Text content; `Some("")` writes an open and a close tag with nothing between (the
    /// compiler's `<NavigationPropertyPath></NavigationPropertyPath>`).
    pub text: Option<String>,
}

impl Element {
    pub(super) fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            attributes: Vec::new(),
            children: Vec::new(),
            text: None,
        }
    }

    /// Adds an attribute (builder style).
    pub(super) fn attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((name.into(), value.into()));
        self
    }

    /// Adds a child element (builder style).
    pub(super) fn child(mut self, child: Element) -> Self {
        self.children.push(child);
        self
    }

    pub(super) fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }
}

/// The whole document: the XML declaration, then `root`.
pub(super) fn document(root: &Element) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    write_element(&mut out, root, 0);
    out
}

fn write_element(out: &mut String, element: &Element, depth: usize) {
    let indent = "  ".repeat(depth);
    let _ = write!(out, "{indent}<{}", element.name);
    for (name, value) in &element.attributes {
        let _ = write!(out, " {name}=\"{}\"", escape_attribute(value));
    }
    match (&element.text, element.children.is_empty()) {
        (Some(text), _) => {
            let _ = writeln!(out, ">{}</{}>", escape_text(text), element.name);
        }
        (None, true) => out.push_str("/>\n"),
        (None, false) => {
            out.push_str(">\n");
            for child in &element.children {
                write_element(out, child, depth + 1);
            }
            let _ = writeln!(out, "{indent}</{}>", element.name);
        }
    }
}

/// Escapes an attribute value written between double quotes (`>` stays, as the compiler
/// writes it: `{i18n>Key}`).
pub(super) fn escape_attribute(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '"' => escaped.push_str("&quot;"),
            '\n' => escaped.push_str("&#xa;"),
            '\r' => escaped.push_str("&#xd;"),
            '\t' => escaped.push_str("&#x9;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Escapes element text.
pub(super) fn escape_text(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_escape_markup_quotes_and_line_breaks() {
        assert_eq!(
            escape_attribute("a<b & \"c\" >\n"),
            "a&lt;b &amp; &quot;c&quot; >&#xa;"
        );
        assert_eq!(escape_attribute("it's"), "it's");
    }

    #[test]
    fn text_escapes_markup_only() {
        assert_eq!(escape_text("<a & \"b\">"), "&lt;a &amp; \"b\"&gt;");
    }

    #[test]
    fn empty_elements_close_themselves_and_empty_text_keeps_both_tags() {
        let root = Element::new("A")
            .attr("x", "1")
            .child(Element::new("B"))
            .child(Element::new("C").with_text(""));
        assert_eq!(
            document(&root),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<A x=\"1\">\n  <B/>\n  <C></C>\n</A>\n"
        );
    }
}
