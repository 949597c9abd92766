//! Any gitops repo against the rule: infrastructure objects in it, each with file, kind and
//! name. Every manifest file is read: plain YAML, JSON, the files of kustomize directories and
//! Helm chart templates (read for their `kind:` lines, not rendered). Reads only.

use std::path::Path;

use crate::check::kinds::{self, Class, Row};
use crate::check::manifests;
use crate::check::{Finding, Source};

/// What to do with an infrastructure object of each row.
pub fn fix_for(row: Row, kind: &str) -> String {
    match row {
        Row::Foundational => format!(
            "move the `{kind}` to the Pulumi foundation (node pools, cloud resources and API extensions change monthly and are the platform team's)"
        ),
        Row::ClusterScoped => format!(
            "move the `{kind}` to the Pulumi foundation: a cluster-scoped object is shared by every tenant"
        ),
        Row::PlatformOwned => format!(
            "move the `{kind}` to the Pulumi foundation: it fences a tenant, so the tenant must not hold it"
        ),
        Row::ApplicationSpecific | Row::ContinuousDelivery => String::new(),
    }
}

/// Checks every manifest under `root`.
pub fn check(root: &Path, source: &Source) -> Vec<Finding> {
    let files = manifests::files_under(root);
    let texts = manifests::read_all(root, &files);
    let mut findings = Vec::new();
    for (file, text) in &texts {
        for object in manifests::objects_in(file, text, &|_| false) {
            if let Class::Platform(row, what) = kinds::classify(&object.api_version, &object.kind) {
                findings.push(
                    Finding::new(
                        "gitops.infrastructure",
                        source,
                        format!(
                            "{} `{}` ({what}) is in the gitops repo",
                            object.kind,
                            display_name(&object.name)
                        ),
                    )
                    .row(row)
                    .at(&object.file, Some(object.line))
                    .object(&object.kind, &object.name, object.namespace.as_deref())
                    .fix(fix_for(row, &object.kind)),
                );
            }
        }
    }
    findings
}

/// A name as a finding shows it (`(unnamed)` when the document has none).
pub fn display_name(name: &str) -> &str {
    if name.is_empty() {
        "(unnamed)"
    } else {
        name
    }
}
