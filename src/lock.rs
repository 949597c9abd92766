//! `strata.lock`: what strata last wrote in a repo, as a content hash per file.
//!
//! The lock is how strata tells a file it wrote and nobody touched (safe to update) from a file
//! someone edited (a conflict). Each repo has its own lock, naming which repo it is. This module
//! owns the format and hashing; it does no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::problem::Problem;
use crate::repo::Repo;

/// The file name of the lock at the root of each repo.
pub const FILE_NAME: &str = "strata.lock";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub format: u32,
    /// Which repo of the workspace this is.
    pub repo: Repo,
    /// Path -> `sha256:<hex>` of the bytes strata last wrote there.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

impl Lock {
    pub fn new(repo: Repo) -> Self {
        Self {
            format: 1,
            repo,
            files: BTreeMap::new(),
        }
    }

    pub fn parse(text: &str, path: &str) -> Result<Lock, Problem> {
        toml::from_str(text).map_err(|err| {
            let (line, column) = err
                .span()
                .map_or((1, 1), |span| crate::answers::line_column(text, span.start));
            Problem::new(
                format!("`{path}`:{line}:{column}"),
                err.message().trim().replace('\n', " "),
            )
            .hint("strata writes this file; restore it from git rather than editing it")
        })
    }

    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# Written by strata: the hash of every file it last wrote here. Do not edit.\n\n",
        );
        out.push_str(&toml::to_string(self).expect("lock serialises to TOML"));
        out
    }
}

/// The lock's hash of some bytes.
pub fn hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}
