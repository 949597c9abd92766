//! Any gitops repo against the rule: infrastructure objects in it, each with file, kind and
//! name, and the infrastructure it delivers ([`crate::check::delivery`]). Every manifest file is
//! read as YAML (Helm chart templates for their top-level keys). Reads only.

use std::path::Path;

use crate::check::catalog::Catalog;
use crate::check::delivery::{self, Delivery};
use crate::check::kinds::{self, Class, Row};
use crate::check::manifests::{self, Object};
use crate::check::{Finding, Severity, Source};
use crate::model::answers::CheckConfig;
use crate::util::problem::{Problem, Problems};

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

/// The catalog a repo's `strata.toml` extends (`[check]`), if it has one.
pub fn catalog_of(root: &Path) -> Result<Catalog, Problems> {
    let path = root.join(crate::model::answers::FILE_NAME);
    if !path.is_file() {
        return Ok(Catalog::default());
    }
    let bytes = crate::util::fs::read_regular(&path, manifests::FILE_MAX)
        .map_err(|why| Problems::from(Problem::new("`strata.toml`", why.to_string())))?;
    let text = String::from_utf8_lossy(&bytes);
    CheckConfig::from_answers_text(&text)
        .map(|config| Catalog::new(&config))
        .map_err(|why| {
            Problems::from(
                Problem::new("`strata.toml` `[check]`", why)
                    .hint("see `docs/check.md` for the keys of `[check]`"),
            )
        })
}

/// An object of the platform's kind, as a finding of `rule`; an application's own Namespace
/// or CRD is a warning of `delivery.own-namespace` instead.
pub fn kind_finding(
    rule: &'static str,
    source: &Source,
    object: &Object,
    row: Row,
    message: String,
    own: bool,
) -> Finding {
    let finding = Finding::new(rule, source, message)
        .row(row)
        .at(&object.file, Some(object.line))
        .object(&object.kind, &object.name, object.namespace.as_deref());
    if own {
        let mut warning = finding.fix(format!(
            "have the foundation create the `{}` (the application keeps its workloads): for a chart, `createNamespace: false` and `skipCrds`, or the CRDs in their own chart installed by Pulumi",
            object.kind
        ))
        .severity(Severity::Warning);
        warning.rule = "delivery.own-namespace";
        warning
    } else {
        finding.fix(fix_for(row, &object.kind))
    }
}

/// Checks every manifest under `root`, and what its Applications, ApplicationSets, Flux
/// objects, kustomizations and charts deliver.
pub fn check(root: &Path, source: &Source) -> Result<Vec<Finding>, Problems> {
    let catalog = catalog_of(root)?;
    let scan = manifests::scan(root)?;
    let cluster_scoped = kinds::cluster_scoped_kinds(
        scan.objects
            .values()
            .flatten()
            .filter_map(|o| o.doc.as_ref()),
    );
    let mut findings = Vec::new();
    for object in scan.objects.values().flatten() {
        if let Class::Platform(row, what) =
            kinds::classify_scoped(&object.api_version, &object.kind, &cluster_scoped)
        {
            let own = delivery::is_own_namespace_or_crd(object, &scan, &catalog);
            findings.push(kind_finding(
                "gitops.infrastructure",
                source,
                object,
                row,
                format!(
                    "{} `{}` ({what}) is in the gitops repo",
                    object.kind,
                    display_name(&object.name)
                ),
                own,
            ));
        }
    }
    let delivery = Delivery {
        scan: &scan,
        catalog: &catalog,
        source,
        repo_url: None,
    };
    findings.extend(delivery.judge());
    Ok(findings)
}

/// A name as a finding shows it (`(unnamed)` when the document has none).
pub fn display_name(name: &str) -> &str {
    if name.is_empty() {
        "(unnamed)"
    } else {
        name
    }
}
