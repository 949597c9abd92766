//! Three-way merges of a file strata owns and someone edited: the base (what strata rendered
//! last), ours (the file on disk) and theirs (the new render).
//!
//! Lines first, as git merges them: a clean line merge keeps every comment and the layout of
//! both sides. When lines collide, YAML is merged by structure: documents are matched by
//! (kind, name), mappings key by key, so that a label a person added and a field the template
//! added both land even on neighbouring lines. A key both sides changed differently is a
//! conflict named by its path; lists are values (a list both sides changed is a conflict).

use crate::util::yaml::{self, Mapping, Node};

/// The outcome of a three-way merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    /// Both sides' changes, together.
    Clean(Vec<u8>),
    /// What both sides changed differently (YAML key paths, or "the same lines"), and the
    /// file `--force` writes: the person's changes where they do not collide, the template's
    /// where they do.
    Conflicts { keys: Vec<String>, forced: Vec<u8> },
}

/// Merges `ours` and `theirs`, both descended from `base`.
pub fn merge(path: &str, base: &[u8], ours: &[u8], theirs: &[u8]) -> Merged {
    if ours == base {
        return Merged::Clean(theirs.to_vec());
    }
    if theirs == base || ours == theirs {
        return Merged::Clean(ours.to_vec());
    }
    let yaml = path.ends_with(".yaml") || path.ends_with(".yml");
    if let Some(text) = crate::git::merge::lines(path, base, ours, theirs) {
        // Two clean line changes can still make invalid YAML (the same key added on both
        // sides, on different lines): then the structure decides.
        if !yaml || documents(&text).is_some() {
            return Merged::Clean(text);
        }
    }
    if yaml {
        if let Some(merged) = merge_yaml(base, ours, theirs) {
            return keep_comments(merged, base, ours);
        }
    }
    Merged::Conflicts {
        keys: vec!["the same lines".to_string()],
        forced: theirs.to_vec(),
    }
}

/// A merge by structure writes the YAML anew, without the comments inside it: one a person
/// added is an edit it would drop, so the merge becomes a conflict naming it (`--force`
/// writes the merge without it).
fn keep_comments(merged: Merged, base: &[u8], ours: &[u8]) -> Merged {
    let Merged::Clean(text) = merged else {
        return merged;
    };
    let kept = comments(&text);
    let base = comments(base);
    let lost: Vec<String> = comments(ours)
        .into_iter()
        .filter(|c| !base.contains(c) && !kept.contains(c))
        .map(|c| format!("your comment `{c}` (a merge by structure would drop it)"))
        .collect();
    if lost.is_empty() {
        Merged::Clean(text)
    } else {
        Merged::Conflicts {
            keys: lost,
            forced: text,
        }
    }
}

/// The comments of a YAML text, read as the merge of shared files reads them (a ` #` inside a
/// quoted value is not one).
fn comments(bytes: &[u8]) -> std::collections::BTreeSet<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(super::merge::comment_of)
        .collect()
}

/// The documents of a YAML stream, with the comment lines that open it.
fn documents(bytes: &[u8]) -> Option<(String, Vec<Node>)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let header: String = text
        .lines()
        .take_while(|l| l.starts_with('#') || l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let mut docs = Vec::new();
    for value in yaml::documents(text)? {
        if !value.is_null() {
            docs.push(value);
        }
    }
    Some((header, docs))
}

/// A document's identity: (kind, metadata.name), or its position.
fn identity(doc: &Node, index: usize) -> String {
    let kind = doc.get("kind").and_then(Node::as_str);
    let name = doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Node::as_str);
    match (kind, name) {
        (Some(kind), Some(name)) => format!("{kind}/{name}"),
        _ => format!("document {}", index + 1),
    }
}

fn merge_yaml(base: &[u8], ours: &[u8], theirs: &[u8]) -> Option<Merged> {
    let (_, base_docs) = documents(base)?;
    let (_, our_docs) = documents(ours)?;
    let (header, their_docs) = documents(theirs)?;
    let find = |docs: &[Node], id: &str| {
        docs.iter()
            .enumerate()
            .find(|(i, d)| identity(d, *i) == id)
            .map(|(_, d)| d.clone())
    };
    let mut conflicts = Vec::new();
    let mut out = Vec::new();
    for (i, theirs) in their_docs.iter().enumerate() {
        let id = identity(theirs, i);
        let base = find(&base_docs, &id);
        let ours = find(&our_docs, &id);
        match (base, ours) {
            (Some(base), Some(ours)) => {
                let mut path = Vec::new();
                out.push(merge_value(
                    &base,
                    &ours,
                    theirs,
                    &mut path,
                    &id,
                    &mut conflicts,
                ));
            }
            // A person deleted a document strata still renders: theirs if unchanged since.
            (Some(base), None) if base == *theirs => {}
            (Some(_), None) => {
                conflicts.push(format!("{id} (deleted here, changed in the template)"));
                out.push(theirs.clone());
            }
            (None, Some(ours)) if ours == *theirs => out.push(ours),
            (None, Some(_)) => {
                conflicts.push(format!("{id} (added on both sides)"));
                out.push(theirs.clone());
            }
            (None, None) => out.push(theirs.clone()),
        }
    }
    // Documents a person added stay.
    for (i, ours) in our_docs.iter().enumerate() {
        let id = identity(ours, i);
        if find(&their_docs, &id).is_none() && find(&base_docs, &id).is_none() {
            out.push(ours.clone());
        }
    }
    let mut text = header;
    for (i, doc) in out.iter().enumerate() {
        if i > 0 {
            text.push_str("---\n");
        }
        text.push_str(&yaml::emit_node(doc)?);
    }
    Some(if conflicts.is_empty() {
        Merged::Clean(text.into_bytes())
    } else {
        Merged::Conflicts {
            keys: conflicts,
            forced: text.into_bytes(),
        }
    })
}

fn merge_value(
    base: &Node,
    ours: &Node,
    theirs: &Node,
    path: &mut Vec<String>,
    id: &str,
    conflicts: &mut Vec<String>,
) -> Node {
    if ours == base || ours == theirs {
        return theirs.clone();
    }
    if theirs == base {
        return ours.clone();
    }
    let (Node::Mapping(b), Node::Mapping(o), Node::Mapping(t)) = (base, ours, theirs) else {
        conflicts.push(format!("{id}: {}", path.join(".")));
        return theirs.clone();
    };
    let mut out = Mapping::new();
    let empty = Node::Null;
    // Theirs' order, then keys only ours has.
    let keys: Vec<&Node> = t
        .keys()
        .chain(o.keys().filter(|k| !t.contains_key(*k)))
        .chain(
            b.keys()
                .filter(|k| !t.contains_key(*k) && !o.contains_key(*k)),
        )
        .collect();
    for key in keys {
        let name = key
            .as_str()
            .map_or_else(|| format!("{key:?}"), str::to_string);
        let (bv, ov, tv) = (b.get(key), o.get(key), t.get(key));
        path.push(name);
        let merged = match (bv, ov, tv) {
            (_, Some(ov), Some(tv)) => Some(merge_value(
                bv.unwrap_or(&empty),
                ov,
                tv,
                path,
                id,
                conflicts,
            )),
            // Removed by the template, kept by the person as it was: removed.
            (Some(bv), Some(ov), None) if ov == bv => None,
            (Some(_), Some(_), None) => {
                conflicts.push(format!(
                    "{id}: {} (changed here, removed in the template)",
                    path.join(".")
                ));
                None
            }
            (None, Some(ov), None) => Some(ov.clone()),
            // Removed by the person, unchanged in the template: removed.
            (Some(bv), None, Some(tv)) if tv == bv => None,
            (Some(_), None, Some(_)) => {
                conflicts.push(format!(
                    "{id}: {} (removed here, changed in the template)",
                    path.join(".")
                ));
                None
            }
            (None, None, Some(tv)) => Some(tv.clone()),
            (_, None, None) => None,
        };
        path.pop();
        if let Some(value) = merged {
            out.insert(key.clone(), value);
        }
    }
    Node::Mapping(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "# header\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  labels:\n    app: api\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n        - name: api\n";

    #[test]
    fn changes_on_other_lines_merge_by_lines_with_comments_kept() {
        let ours = BASE.replace(
            "    app: api\n",
            "    app: api\n    team: payments # ours\n",
        );
        let theirs = BASE.replace(
            "  replicas: 2\n",
            "  replicas: 2\n  revisionHistoryLimit: 5\n",
        );
        let Merged::Clean(out) = merge(
            "d.yaml",
            BASE.as_bytes(),
            ours.as_bytes(),
            theirs.as_bytes(),
        ) else {
            panic!("clean")
        };
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("team: payments # ours") && out.contains("revisionHistoryLimit: 5"));
    }

    #[test]
    fn a_line_merge_that_makes_invalid_yaml_is_decided_by_structure() {
        // The same key added by both sides, on different lines: lines merge, YAML does not.
        let ours = BASE.replace("    app: api\n", "    app: api\n    team: payments\n");
        let theirs = BASE
            .replace("  name: api\n", "  name: api\n  annotations: {}\n")
            .replace(
                "  labels:\n    app: api\n",
                "  labels:\n    team: platform\n    app: api\n",
            );
        match merge(
            "d.yaml",
            BASE.as_bytes(),
            ours.as_bytes(),
            theirs.as_bytes(),
        ) {
            Merged::Clean(out) => {
                let value: Node = yaml::parse_node(&out).unwrap();
                assert!(value["metadata"]["labels"]["team"].is_string());
            }
            Merged::Conflicts { keys, .. } => {
                assert_eq!(
                    keys,
                    vec!["Deployment/api: metadata.labels.team".to_string()]
                );
            }
        }
    }

    #[test]
    fn neighbouring_changes_merge_by_structure() {
        let ours = BASE.replace("    app: api\n", "    app: api\n    team: payments\n");
        let theirs = BASE.replace(
            "    app: api\n",
            "    app: api\n    app.kubernetes.io/part-of: acme\n",
        );
        let Merged::Clean(out) = merge(
            "d.yaml",
            BASE.as_bytes(),
            ours.as_bytes(),
            theirs.as_bytes(),
        ) else {
            panic!("clean")
        };
        let value: Node = yaml::parse_node(&out).unwrap();
        let labels = &value["metadata"]["labels"];
        assert_eq!(labels["team"], Node::from("payments"));
        assert_eq!(labels["app.kubernetes.io/part-of"], Node::from("acme"));
        assert!(String::from_utf8(out).unwrap().starts_with("# header\n"));
    }

    #[test]
    fn a_merge_by_structure_that_would_drop_a_persons_comment_is_a_conflict() {
        let ours = BASE.replace(
            "    app: api\n",
            "    app: api\n    # TEAM: see INC-1234\n    team: payments\n",
        );
        let theirs = BASE.replace(
            "    app: api\n",
            "    app: api\n    app.kubernetes.io/part-of: acme\n",
        );
        let Merged::Conflicts { keys, forced } = merge(
            "d.yaml",
            BASE.as_bytes(),
            ours.as_bytes(),
            theirs.as_bytes(),
        ) else {
            panic!("a conflict")
        };
        assert_eq!(
            keys,
            vec!["your comment `# TEAM: see INC-1234` (a merge by structure would drop it)"]
        );
        let value: Node = yaml::parse_node(&forced).unwrap();
        assert_eq!(value["metadata"]["labels"]["team"], Node::from("payments"));
    }

    #[test]
    fn the_same_key_changed_on_both_sides_is_a_conflict_named_by_its_path() {
        let ours = BASE.replace("replicas: 2", "replicas: 3");
        let theirs = BASE.replace("replicas: 2", "replicas: 4");
        let ours = ours.replace("    app: api\n", "    app: api\n    team: payments\n");
        let Merged::Conflicts { keys, forced } = merge(
            "d.yaml",
            BASE.as_bytes(),
            ours.as_bytes(),
            theirs.as_bytes(),
        ) else {
            panic!("a conflict")
        };
        assert_eq!(keys, vec!["Deployment/api: spec.replicas".to_string()]);
        // `--force`: the template's value wins the conflict, the person's label stays.
        let value: Node = yaml::parse_node(&forced).unwrap();
        assert_eq!(value["spec"]["replicas"], Node::from(4));
        assert_eq!(value["metadata"]["labels"]["team"], Node::from("payments"));
        assert!(matches!(
            merge("notes.txt", b"a\n", b"b\n", b"c\n"),
            Merged::Conflicts { .. }
        ));
    }
}
