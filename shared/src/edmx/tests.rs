//! Our EDMX against the CAP compiler's: the bookshop exactly, the corpus as a ratchet.
//!
//! Documents are compared as canonical XML: elements in order, attributes as a set, text
//! trimmed, whitespace between elements ignored. `models/corpus/edmx-known-gaps.txt` lists
//! the corpus services whose EDMX does not match yet; the ratchet fails when a case outside it
//! breaks or a listed case starts to match. `MTX_CORPUS_BLESS=1` rewrites the list.

use std::collections::BTreeMap;
use std::path::Path;

use quick_xml::events::Event;

use super::edmx;
use crate::csn::Csn;
use crate::sql::tests::model_dir;

/// An element of a canonical document.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    name: String,
    attributes: BTreeMap<String, String>,
    text: String,
    children: Vec<Node>,
}

fn canonical(document: &str) -> Result<Node, String> {
    let mut reader = quick_xml::Reader::from_str(document);
    let mut stack: Vec<Node> = vec![Node {
        name: String::new(),
        attributes: BTreeMap::new(),
        text: String::new(),
        children: Vec::new(),
    }];
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        match event {
            Event::Start(ref tag) | Event::Empty(ref tag) => {
                let mut attributes = BTreeMap::new();
                for attribute in tag.attributes() {
                    let attribute = attribute.map_err(|e| e.to_string())?;
                    let value = attribute
                        .unescape_value()
                        .map_err(|e| e.to_string())?
                        .into_owned();
                    attributes.insert(
                        String::from_utf8_lossy(attribute.key.as_ref()).into_owned(),
                        value,
                    );
                }
                let node = Node {
                    name: String::from_utf8_lossy(tag.name().as_ref()).into_owned(),
                    attributes,
                    text: String::new(),
                    children: Vec::new(),
                };
                if matches!(event, Event::Start(_)) {
                    stack.push(node);
                } else if let Some(parent) = stack.last_mut() {
                    parent.children.push(node);
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("unbalanced end tag")?;
                stack
                    .last_mut()
                    .ok_or("unbalanced end tag")?
                    .children
                    .push(node);
            }
            Event::Text(text) => {
                let text = text.decode().map_err(|e| e.to_string())?;
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(text.trim());
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = reference.decode().map_err(|e| e.to_string())?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| format!("unknown entity &{name};"))?
                            .to_owned()
                    }
                };
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut root = stack.pop().ok_or("no document")?;
    root.children
        .pop()
        .ok_or_else(|| "no root element".to_owned())
}

/// The first place where `actual` differs from `expected`, as a path of element names.
fn first_difference(expected: &Node, actual: &Node, path: &str) -> Option<String> {
    let describe = |n: &Node| {
        let name = n
            .attributes
            .get("Name")
            .or_else(|| n.attributes.get("Target"))
            .or_else(|| n.attributes.get("Term"))
            .or_else(|| n.attributes.get("Property"));
        format!(
            "{}{}",
            n.name,
            name.map(|n| format!("[{n}]")).unwrap_or_default()
        )
    };
    let here = format!("{path}/{}", describe(expected));
    if expected.name != actual.name {
        return Some(format!("{here}: found {}", describe(actual)));
    }
    if expected.attributes != actual.attributes {
        return Some(format!(
            "{here}: attributes {:?}, expected {:?}",
            actual.attributes, expected.attributes
        ));
    }
    if expected.text != actual.text {
        return Some(format!(
            "{here}: text '{}', expected '{}'",
            actual.text, expected.text
        ));
    }
    for (i, want) in expected.children.iter().enumerate() {
        match actual.children.get(i) {
            Some(have) => {
                if let Some(difference) = first_difference(want, have, &here) {
                    return Some(difference);
                }
            }
            None => return Some(format!("{here}: {} missing", describe(want))),
        }
    }
    actual
        .children
        .get(expected.children.len())
        .map(|extra| format!("{here}: {} not in the compiler's EDMX", describe(extra)))
}

fn read_csn(dir: &Path) -> Result<Csn, String> {
    let text = std::fs::read_to_string(dir.join("csn.json")).map_err(|e| e.to_string())?;
    Csn::from_value(serde_json::from_str(&text).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())
}

/// Why our EDMX for `service` of the model in `dir` differs from the compiler's; `None` when equal.
fn mismatch(dir: &Path, service: &str) -> Option<String> {
    let expected = std::fs::read_to_string(dir.join(format!("{service}.edmx.xml")))
        .map_err(|e| e.to_string())
        .and_then(|text| canonical(&text));
    let expected = match expected {
        Ok(expected) => expected,
        Err(e) => return Some(format!("the compiler's EDMX: {e}")),
    };
    let ours = match read_csn(dir).and_then(|csn| edmx(&csn, service).map_err(|e| e.to_string())) {
        Ok(ours) => ours,
        Err(e) => return Some(e),
    };
    let actual = match canonical(&ours) {
        Ok(actual) => actual,
        Err(e) => return Some(format!("our EDMX does not parse: {e}")),
    };
    let difference = first_difference(&expected, &actual, "")?;
    if in_any_order(expected) == in_any_order(actual) {
        // The compiler orders definitions as it read them; compiling from the sources (as the
        // fixtures were) and from csn.json (as a sidecar does) can differ in that order.
        return Some(format!("same definitions in another order: {difference}"));
    }
    Some(difference)
}

/// The document with the schema's and the entity container's children sorted.
fn in_any_order(mut node: Node) -> Node {
    if node.name == "Schema" || node.name == "EntityContainer" {
        node.children
            .sort_by_cached_key(|child| format!("{child:?}"));
    }
    node.children = node.children.into_iter().map(in_any_order).collect();
    node
}

#[test]
fn canonical_form_ignores_attribute_order_and_layout_but_not_element_order() {
    let a = canonical("<a x=\"1\" y=\"2\">\n  <b/>\n  <c>t</c>\n</a>").expect("parses");
    let b = canonical("<a y=\"2\" x=\"1\"><b></b><c> t </c></a>").expect("parses");
    assert_eq!(a, b);
    let swapped = canonical("<a x=\"1\" y=\"2\"><c>t</c><b/></a>").expect("parses");
    assert!(first_difference(&a, &swapped, "").is_some());
}

#[test]
fn bookshop_edmx_equals_the_compilers_in_every_version() {
    for version in ["v1", "v2", "v3"] {
        let dir = model_dir(&format!("bookshop/{version}"));
        assert_eq!(mismatch(&dir, "CatalogService"), None, "bookshop {version}");
    }
}

#[test]
fn bookshop_edmx_is_byte_for_byte_the_compilers() {
    let dir = model_dir("bookshop/v2");
    let csn = read_csn(&dir).expect("bookshop csn");
    let expected = std::fs::read_to_string(dir.join("CatalogService.edmx.xml")).expect("fixture");
    let ours = edmx(&csn, "CatalogService").expect("edmx");
    assert_eq!(ours.trim_end(), expected.trim_end());
}

#[test]
fn an_unknown_service_is_an_error_naming_it() {
    let csn = read_csn(&model_dir("bookshop/v1")).expect("bookshop csn");
    let err = edmx(&csn, "NoSuchService").expect_err("unknown service");
    assert!(matches!(err, super::EdmxError::UnknownService(ref s) if s == "NoSuchService"));
    assert_eq!(
        edmx(&csn, "my.bookshop.Books")
            .expect_err("not a service")
            .to_string(),
        "unknown service 'my.bookshop.Books'"
    );
}

#[test]
fn localize_replaces_known_placeholders_escaped_and_keeps_unknown_ones() {
    let texts =
        std::collections::HashMap::from([("CreatedAt".to_owned(), "Created \"At\"".to_owned())]);
    assert_eq!(
        super::localize(
            "<A String=\"{i18n>CreatedAt}\"/><B String=\"{i18n>Nope}\"/>",
            &texts
        ),
        "<A String=\"Created &quot;At&quot;\"/><B String=\"{i18n>Nope}\"/>"
    );
}

fn known_gaps_file() -> std::path::PathBuf {
    model_dir("corpus").join("edmx-known-gaps.txt")
}

/// Every corpus case, `model/version service`, with its folder.
fn corpus_cases() -> Vec<(String, std::path::PathBuf, String)> {
    let mut cases = Vec::new();
    let mut models: Vec<_> = std::fs::read_dir(model_dir("corpus"))
        .expect("models/corpus exists")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    models.sort();
    for model in models {
        for version in ["v1", "v2"] {
            let dir = model.join(version);
            let mut services: Vec<String> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|f| f.strip_suffix(".edmx.xml").map(str::to_owned))
                .collect();
            services.sort();
            let model_name = model
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            for service in services {
                cases.push((
                    format!("{model_name}/{version} {service}"),
                    dir.clone(),
                    service,
                ));
            }
        }
    }
    cases
}

#[test]
fn corpus_edmx_matches_the_compiler_except_for_the_known_gaps() {
    let cases = corpus_cases();
    assert!(cases.len() >= 60, "the corpus has {} services", cases.len());
    let gaps: BTreeMap<String, String> = cases
        .iter()
        .filter_map(|(case, dir, service)| {
            mismatch(dir, service).map(|reason| (case.clone(), reason))
        })
        .collect();
    if std::env::var_os("MTX_CORPUS_BLESS").is_some() {
        let mut text = String::from(
            "# Corpus services whose EDMX does not yet equal the CAP compiler's: `model/version service # first difference`.\n\
             # Written by `MTX_CORPUS_BLESS=1 cargo test -p mtx-shared edmx`; every fix removes lines.\n",
        );
        for (case, reason) in &gaps {
            text.push_str(&format!("{case} # {}\n", reason.replace('\n', " ")));
        }
        std::fs::write(known_gaps_file(), text).expect("edmx-known-gaps.txt is writable");
        return;
    }
    let listed = std::fs::read_to_string(known_gaps_file()).unwrap_or_default();
    let known: Vec<&str> = listed
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| line.split(" # ").next().unwrap_or(line).trim())
        .collect();
    let broken: Vec<String> = gaps
        .iter()
        .filter(|(case, _)| !known.contains(&case.as_str()))
        .map(|(case, reason)| format!("{case}: {reason}"))
        .collect();
    let now_matching: Vec<&&str> = known
        .iter()
        .filter(|case| !gaps.contains_key(**case))
        .collect();
    assert!(
        broken.is_empty() && now_matching.is_empty(),
        "{} of {} corpus services match the compiler.\nNew mismatches:\n  {}\nNow matching (remove from edmx-known-gaps.txt, or bless):\n  {:?}",
        cases.len() - gaps.len(),
        cases.len(),
        broken.join("\n  "),
        now_matching,
    );
}
