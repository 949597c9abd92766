//! Which of the two repositories a file belongs to.

use std::fmt;

/// One of the two repositories of a workspace.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Repo {
    /// The Pulumi program: infrastructure, owned by the platform team.
    Foundation,
    /// The Argo CD repo: applications, owned by application teams.
    Gitops,
}

impl Repo {
    pub const BOTH: [Repo; 2] = [Repo::Foundation, Repo::Gitops];

    pub fn as_str(self) -> &'static str {
        match self {
            Repo::Foundation => "foundation",
            Repo::Gitops => "gitops",
        }
    }

    /// The directory name of this repo for a project: `<project>-foundation`.
    pub fn dir_name(self, project: &str) -> String {
        format!("{project}-{}", self.as_str())
    }
}

impl fmt::Display for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
