//! `strata check`: does the golden rule still hold? Pulumi manages the infrastructure, GitOps
//! manages the applications.
//!
//! Three kinds of sources are checked, offline: a strata workspace ([`workspace`]: drift,
//! wiring, the boundary, application-layer kinds), any gitops repo ([`gitops`]: infrastructure
//! objects in it) and any Pulumi stack export ([`state`]: application objects in Pulumi's
//! state). Each finding names its rule, the row of the decision framework behind it and what
//! to do. This module owns the findings and their two printed forms (a CI log, JSON); it
//! writes nothing to disk.

pub(crate) mod catalog;
pub(crate) mod delivery;
mod gitops;
pub(crate) mod inventory;
pub(crate) mod kinds;
pub(crate) mod manifests;
pub(crate) mod state;
mod workspace;

use serde::Serialize;

pub use kinds::Row;

/// What a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Source {
    /// A repo of a strata workspace.
    Workspace { repo: String, root: String },
    /// A gitops repo given with `--gitops`.
    Gitops { root: String },
    /// A Pulumi stack export given with `--stack-export`.
    StackExport { file: String },
}

/// How much a finding weighs: an error breaks the rule (exit 1); a warning names what the rule
/// would have the foundation do, but delivers no infrastructure (an application's own
/// Namespace), or what `check` could not judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Error,
    Warning,
}

/// One way the rule does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule, for example `boundary.cluster-scoped` (`docs/check.md` lists them all).
    pub rule: &'static str,
    pub severity: Severity,
    /// The row of the decision framework the rule enforces, when it is about a layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<Row>,
    pub source: Source,
    /// The file, relative to the source's root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// What is wrong, one line.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

impl Finding {
    pub fn new(rule: &'static str, source: &Source, message: impl Into<String>) -> Self {
        Self {
            rule,
            severity: Severity::Error,
            row: None,
            source: source.clone(),
            file: None,
            line: None,
            urn: None,
            kind: None,
            name: None,
            namespace: None,
            message: message.into(),
            fix: String::new(),
        }
    }

    #[must_use]
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    #[must_use]
    pub fn row(mut self, row: Row) -> Self {
        self.row = Some(row);
        self
    }

    #[must_use]
    pub fn at(mut self, file: impl Into<String>, line: Option<usize>) -> Self {
        self.file = Some(file.into());
        self.line = line;
        self
    }

    #[must_use]
    pub fn object(mut self, kind: &str, name: &str, namespace: Option<&str>) -> Self {
        self.kind = Some(kind.to_string());
        self.name = Some(name.to_string());
        self.namespace = namespace.map(str::to_string);
        self
    }

    #[must_use]
    pub fn urn(mut self, urn: &str) -> Self {
        self.urn = Some(urn.to_string());
        self
    }

    #[must_use]
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = fix.into();
        self
    }

    /// Where the finding is, as a CI log line shows it: `gitops:services/a/x.yaml:3`.
    pub fn location(&self) -> String {
        let prefix = match &self.source {
            Source::Workspace { repo, .. } => repo.clone(),
            Source::Gitops { root } => root.clone(),
            Source::StackExport { file } => file.clone(),
        };
        match (&self.file, self.line, &self.urn) {
            (Some(file), Some(line), _) => format!("{prefix}:{file}:{line}"),
            (Some(file), None, _) => format!("{prefix}:{file}"),
            (None, _, Some(urn)) => format!("{prefix}: {urn}"),
            _ => prefix,
        }
    }
}

/// Every rule, with a one-line description: `docs/check.md` and `--json` consumers use these
/// identifiers.
pub const RULES: &[(&str, &str)] = &[
    (
        "drift.owned-file",
        "a file strata owns differs from what strata wrote, or is gone",
    ),
    (
        "drift.answers",
        "`strata.toml` and the repos on disk disagree (what `strata list` checks)",
    ),
    (
        "wiring.application-path",
        "an Application points at a path the gitops repo does not have",
    ),
    (
        "wiring.unreached",
        "a service is not reached in one of its environments by the app-of-apps",
    ),
    ("wiring.orphan-overlay", "an overlay no Application deploys"),
    (
        "boundary.appproject",
        "an AppProject in the gitops repo (the environments' projects are the foundation's)",
    ),
    (
        "boundary.cluster-whitelist",
        "a `clusterResourceWhitelist` in the gitops repo",
    ),
    (
        "boundary.cluster-scoped",
        "a cluster-scoped or node-infrastructure object in the gitops repo",
    ),
    (
        "boundary.platform-object",
        "a tenant's fence (quota, limit range, role, secret store) in the gitops repo",
    ),
    (
        "boundary.application-project",
        "an Application whose project is not its environment's",
    ),
    (
        "boundary.application-destination",
        "an Application whose destination is not its environment's namespace in the cluster",
    ),
    (
        "layer.platform-kind",
        "an Application deploys an object of the platform's layer",
    ),
    (
        "gitops.infrastructure",
        "an infrastructure object in a gitops repo",
    ),
    (
        "state.application",
        "an application object in Pulumi's state",
    ),
    (
        "manifest.unreadable",
        "a manifest file that is not text or not YAML: kustomize and Argo CD refuse it, and `check` cannot judge it",
    ),
    (
        "delivery.infrastructure-chart",
        "an Application, ApplicationSet, HelmRelease, kustomization or chart delivers an infrastructure Helm chart of the catalog",
    ),
    (
        "delivery.remote",
        "an Application or kustomization delivers from a remote source `check` cannot read (unless allowed)",
    ),
    (
        "delivery.unresolved",
        "an ApplicationSet names its chart by a template its generators do not resolve (warning)",
    ),
    (
        "delivery.own-namespace",
        "an application's own Namespace or CRD, in its chart or beside its workloads (warning)",
    ),
];

/// The repo URLs `a` and `b` name the same repo (case, a trailing `/` or `.git` aside).
pub(crate) fn same_repo(a: &str, b: &str) -> bool {
    let norm = |u: &str| {
        u.trim_end_matches('/')
            .trim_end_matches(".git")
            .to_ascii_lowercase()
    };
    norm(a) == norm(b)
}

/// The outcome of one `strata check` run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// What was checked, one line each.
    pub checked: Vec<String>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn holds(&self) -> bool {
        self.errors() == 0
    }

    /// The findings that break the rule (warnings aside).
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    /// The report as a CI log: one block per finding, then a summary line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for finding in &self.findings {
            out.push_str(&format!(
                "{}[{}]: {}: {}\n",
                match finding.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                },
                finding.rule,
                finding.location(),
                finding.message
            ));
            if let Some(row) = finding.row {
                out.push_str(&format!("  rule: {}\n", row.text()));
            }
            if !finding.fix.is_empty() {
                out.push_str(&format!("  fix: {}\n", finding.fix));
            }
        }
        let mut rules: Vec<&str> = self.findings.iter().map(|f| f.rule).collect();
        rules.sort_unstable();
        rules.dedup();
        let warnings = self.findings.len() - self.errors();
        if self.holds() {
            out.push_str(&format!(
                "strata check: the rule holds{} ({})\n",
                if warnings > 0 {
                    format!(", with {warnings} warning(s)")
                } else {
                    String::new()
                },
                self.checked.join("; ")
            ));
        } else {
            out.push_str(&format!(
                "strata check: {} finding(s) of {} rule(s) ({})\n",
                self.findings.len(),
                rules.len(),
                self.checked.join("; ")
            ));
        }
        out
    }

    /// The report as JSON, for scripts.
    pub fn to_json(&self) -> String {
        let value = serde_json::json!({
            "holds": self.holds(),
            "checked": self.checked,
            "findings": self.findings,
            "rules": RULES.iter().map(|(id, what)| serde_json::json!({"id": id, "description": what})).collect::<Vec<_>>(),
        });
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }
}

/// What `strata check` judges: a workspace, gitops repos and stack exports.
pub struct Targets {
    pub workspace: Option<crate::write::workspace::Workspace>,
    pub gitops: Vec<std::path::PathBuf>,
    pub exports: Vec<crate::model::stack_export::StackExport>,
}

/// Resolves the arguments of `strata check`: every bad input at once (exit 2). With no
/// argument, the workspace of the current directory.
pub fn targets(args: &crate::cli::CheckArgs) -> anyhow::Result<Targets> {
    use crate::model::stack_export::StackExport;
    use crate::util::problem::{Problem, Problems};
    use crate::write::workspace::Workspace;
    use std::path::PathBuf;
    let mut problems = Problems::default();
    let mut gitops: Vec<PathBuf> = Vec::new();
    for dir in &args.gitops {
        if dir.is_dir() {
            gitops.push(dir.clone());
        } else {
            problems.push(
                Problem::new(
                    format!("`--gitops {}`", dir.display()),
                    "is not a directory",
                )
                .hint("pass the directory of a gitops repo (a checkout)"),
            );
        }
    }
    let mut exports = Vec::new();
    for file in &args.stack_exports {
        match StackExport::load(file) {
            Ok(export) => exports.push(export),
            Err(more) => problems.extend(more),
        }
    }
    let workspace_dir = match &args.dir {
        Some(dir) => Some(dir.clone()),
        None if args.gitops.is_empty() && args.stack_exports.is_empty() => Some(PathBuf::from(".")),
        None => None,
    };
    let workspace = match workspace_dir
        .as_ref()
        .map(|dir| (dir, Workspace::open(dir)))
    {
        None => None,
        Some((_, Ok(workspace))) => Some(workspace),
        Some((dir, Err(err))) => match err.downcast::<Problems>() {
            // Any repo can be checked: one that strata did not make is a gitops repo to check
            // with `--gitops` (issue 21), not a workspace.
            Ok(_) if !in_a_strata_repo(dir) => {
                problems.push(
                    Problem::new(
                        format!("`{}`", dir.display()),
                        "is not a strata workspace (it has no `strata.lock`)",
                    )
                    .hint(format!(
                        "to check any gitops repo, pass `strata check --gitops {}`; a Pulumi stack export, `--stack-export FILE`",
                        dir.display()
                    )),
                );
                None
            }
            Ok(more) => {
                problems.extend(more);
                None
            }
            Err(err) => return Err(err),
        },
    };
    problems.into_result()?;
    Ok(Targets {
        workspace,
        gitops,
        exports,
    })
}

/// Whether a directory is in a repo strata made: it or a directory above it has a
/// `strata.lock`.
fn in_a_strata_repo(dir: &std::path::Path) -> bool {
    let dir = fs_err::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    dir.ancestors()
        .any(|d| d.join(crate::model::lock::FILE_NAME).is_file())
}

/// Runs every check on the targets. A manifest that cannot be read safely (a FIFO, a device,
/// a link out of the repo, a file over the size limit) is bad input (exit 2).
pub fn run(targets: &Targets) -> Result<Report, crate::util::problem::Problems> {
    let mut problems = crate::util::problem::Problems::default();
    let mut report = Report::default();
    if let Some(workspace) = &targets.workspace {
        let drift = inventory::inventory(workspace).drift;
        report.checked.push(format!(
            "workspace `{}`: {} service(s) in {} environment(s)",
            workspace.answers.project,
            workspace.answers.services.len(),
            workspace.answers.environments.len()
        ));
        match workspace::check(workspace, &drift) {
            Ok(findings) => report.findings.extend(findings),
            Err(more) => problems.extend(more),
        }
    }
    for dir in &targets.gitops {
        let source = Source::Gitops {
            root: dir.display().to_string(),
        };
        report
            .checked
            .push(format!("gitops repo `{}`", dir.display()));
        match gitops::check(dir, &source) {
            Ok(findings) => report.findings.extend(findings),
            Err(more) => problems.extend(more),
        }
    }
    for export in &targets.exports {
        let source = Source::StackExport {
            file: export.path.clone(),
        };
        report.checked.push(format!(
            "stack export `{}`: {} resource(s) of stack `{}`",
            export.path,
            export.resources.len(),
            export.stack
        ));
        let catalog = targets
            .workspace
            .as_ref()
            .map_or_else(catalog::Catalog::default, |w| {
                catalog::Catalog::new(&w.answers.check)
            });
        report
            .findings
            .extend(state::check_by(export, &source, &catalog));
    }
    problems.into_result()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_a_finding_can_name_is_listed() {
        let source = fs_err::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/check/workspace.rs"
        ))
        .unwrap()
            + &fs_err::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/check/gitops.rs"))
                .unwrap()
            + &fs_err::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/check/state.rs"))
                .unwrap()
            + &fs_err::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/check/delivery.rs"
            ))
            .unwrap();
        for (id, _) in RULES {
            assert!(
                source.contains(&format!("\"{id}\"")),
                "rule `{id}` is never raised"
            );
        }
    }
}
