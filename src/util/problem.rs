//! Problems found in user input, collected so that every one is reported at once.
//!
//! Validation never stops at the first problem: each check pushes a [`Problem`] with what is
//! wrong and how to fix it, and the command layer turns a non-empty list into exit code 2
//! before anything is rendered or written. This module owns the collection and its text; it
//! knows nothing of the rules themselves.

use std::fmt;

/// One thing wrong with the input: where it is, what is wrong, and a hint to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The input the problem is about (`--envs`, `service name`, `strata.toml`, ...).
    pub subject: String,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            message: message.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem of one validation pass. An error type: exit code 2.
#[derive(Debug, Default, Clone)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, problem: Problem) {
        self.0.push(problem);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn extend(&mut self, other: Problems) {
        self.0.extend(other.0);
    }

    /// `Ok(())` when nothing was found, the problems as an error otherwise.
    pub fn into_result(self) -> Result<(), Problems> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// Records the error of a parse, keeping the value when it succeeded.
    pub fn take<T>(&mut self, result: Result<T, Problem>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(problem) => {
                self.push(problem);
                None
            }
        }
    }
}

impl From<Problem> for Problems {
    fn from(problem: Problem) -> Self {
        Problems(vec![problem])
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        if count == 1 {
            write!(f, "invalid input")?;
        } else {
            write!(f, "invalid input ({count} problems)")?;
        }
        for problem in &self.0 {
            write!(f, "\n  - {}", problem.subject)?;
            write!(f, ": {}", problem.message)?;
            if let Some(hint) = &problem.hint {
                write!(f, "\n    hint: {hint}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// The closest candidate to `input` among `candidates`, when one is close enough to suggest.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(input, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_name_is_suggested() {
        assert_eq!(
            did_you_mean("startpu", ["startup", "production"]),
            Some("startup")
        );
        assert_eq!(did_you_mean("zzz", ["startup", "production"]), None);
    }

    #[test]
    fn every_problem_is_listed_with_its_hint() {
        let mut problems = Problems::default();
        problems.push(Problem::new("`--envs`", "`Dev` is not lowercase").hint("use `dev`"));
        problems.push(Problem::new("`--region`", "`mars-1` is not an AWS region"));
        let text = problems.to_string();
        assert!(text.contains("2 problems"));
        assert!(text.contains("hint: use `dev`"));
        assert!(text.contains("`mars-1`"));
    }
}
