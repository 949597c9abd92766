//! The questions of `strata new` on a terminal: for each value the command line left out
//! ([`Unknown`]), the question, its default (the preset's) and the check of an answer, the
//! same as the flag's, so that an answer is accepted exactly when the flag would be. Pure: the
//! terminal itself is `commands/prompt.rs`.

use crate::cli::NewArgs;
use crate::jobs::resolve::{self, Unknown};
use crate::model::names::{self, ProjectName};
use crate::model::pack;
use crate::model::region;
use crate::util::problem::{Problem, Problems};

impl Unknown {
    /// The question, as a terminal shows it.
    pub fn question(self) -> &'static str {
        match self {
            Unknown::Name => "Project name (a lowercase DNS label, at most 20 characters)",
            Unknown::Preset => "Preset (`startup` or `production`)",
            Unknown::Region => "AWS region",
            Unknown::Envs => "Environments (comma-separated)",
            Unknown::Services => "Services (comma-separated, may be empty)",
            Unknown::Domain => "DNS domain whose public hosted zone External DNS manages",
            Unknown::GitBase => "URL that holds both repos (for example https://github.com/acme)",
            Unknown::ApiCidrs => {
                "Networks allowed to reach the Kubernetes API (comma-separated CIDRs, empty: none)"
            }
            Unknown::GithubOwnerId => {
                "GitHub id of the repos' owner (`gh api users/OWNER --jq .id`; empty if the repos do not exist yet)"
            }
            Unknown::GithubRepositoryId => {
                "GitHub id of the foundation repo (`gh api repos/OWNER/REPO --jq .id`)"
            }
        }
    }

    /// Whether an empty answer stands for "none" (the value may be left out).
    pub fn optional(self) -> bool {
        matches!(
            self,
            Unknown::Services | Unknown::ApiCidrs | Unknown::GithubOwnerId
        )
    }

    /// The default a terminal shows (Enter takes it): the preset's, for what it has.
    pub fn default(self, args: &NewArgs) -> Option<String> {
        let preset = args.preset.as_deref().unwrap_or(pack::DEFAULT_PRESET);
        let defaults = || resolve::resolve_preset(preset, &[]).ok().map(|(_, d)| d);
        match self {
            Unknown::Preset => Some(pack::DEFAULT_PRESET.to_string()),
            Unknown::Region => defaults().map(|d| d.region),
            Unknown::Envs => defaults().map(|d| d.environments.join(",")),
            Unknown::Services => defaults().map(|d| d.services.join(",")),
            _ => None,
        }
    }

    /// Checks an answer as the flag's value is checked; the problem says what is wrong and how
    /// to answer.
    pub fn check(self, answer: &str, args: &NewArgs) -> Result<(), Problem> {
        let mut trial = args.clone();
        *self.slot(&mut trial) = Some(answer.to_string());
        let mut problems = Problems::default();
        match self {
            Unknown::Name => {
                problems.take(answer.parse::<ProjectName>());
            }
            Unknown::Preset => {
                if let Err(more) = resolve::resolve_preset(answer, &[]) {
                    problems.extend(more);
                }
            }
            Unknown::Region => {
                problems.take(region::parse_known(answer));
            }
            Unknown::Envs => {
                resolve::parse_envs(&trial, None, &mut problems);
            }
            Unknown::Services => {
                resolve::parse_services(&trial, None, &mut problems);
            }
            Unknown::Domain => {
                problems.take(names::parse_domain(answer));
            }
            Unknown::GitBase => {
                problems.take(names::parse_git_base(answer));
            }
            Unknown::ApiCidrs => {
                resolve::parse_api_cidrs(&trial, &mut problems);
            }
            Unknown::GithubOwnerId | Unknown::GithubRepositoryId => {
                problems.take(names::parse_github_id(
                    &format!("`{}`", self.flag()),
                    answer,
                ));
            }
        }
        match problems.0.into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args() -> NewArgs {
        match crate::cli::Cli::parse_from(["strata", "new"]).command {
            crate::cli::Command::New(args) => *args,
            _ => unreachable!(),
        }
    }

    #[test]
    fn each_answer_is_checked_as_its_flag_is() {
        let args = args();
        for (unknown, good, bad) in [
            (Unknown::Name, "acme", "Acme!"),
            (Unknown::Preset, "production", "prod"),
            (Unknown::Region, "eu-west-1", "mars-1"),
            (Unknown::Envs, "dev,prod", "Dev"),
            (Unknown::Services, "api,web", "API"),
            (Unknown::Domain, "acme.example.com", "not a domain"),
            (Unknown::GitBase, "https://github.com/acme", "github"),
            (Unknown::ApiCidrs, "203.0.113.0/24", "203.0.113.1/24"),
            (Unknown::GithubOwnerId, "1234567", "acme"),
            (Unknown::GithubRepositoryId, "987654321", "-1"),
        ] {
            assert!(unknown.check(good, &args).is_ok(), "{unknown:?} {good}");
            assert!(unknown.check(bad, &args).is_err(), "{unknown:?} {bad}");
        }
    }

    #[test]
    fn the_defaults_follow_the_preset() {
        let mut args = args();
        assert_eq!(Unknown::Preset.default(&args).as_deref(), Some("startup"));
        args.preset = Some("production".into());
        assert!(Unknown::Envs.default(&args).is_some());
        assert!(Unknown::Domain.default(&args).is_none());
    }
}
