//! What `strata set` and `strata edit service` print on the way: the dry run's diffs (as every
//! edit prints them), and for each seed its owner edited, the change as a suggestion: the file
//! is theirs and is never rewritten. With `--json`, stdout holds the JSON alone, and the
//! suggestions go to stderr.

use std::io;

use super::output::Printer;
use crate::edit::Reporter;
use crate::plan::{Change, Suggestion};
use crate::util::term::status;
use crate::util::term::{line, text};

/// The reporter of a revision.
pub struct RevisionPrinter {
    /// Stdout is the JSON outcome's alone.
    pub json: bool,
}

impl Reporter for RevisionPrinter {
    fn suggestions(&mut self, found: &[Suggestion]) -> io::Result<()> {
        if found.is_empty() {
            return Ok(());
        }
        for s in found {
            let header = format!(
                "# suggestion: {} `{}` is yours and was not rewritten; this change would make it:",
                s.repo, s.path
            );
            if self.json {
                status!("{header}");
                status!("{}", s.diff.trim_end());
            } else {
                line(format_args!("{header}"))?;
                text(format_args!("{}", s.diff))?;
            }
        }
        status!(
            "warning: {} file(s) you may have edited were kept as they are; apply the suggestions printed above to carry the change into them:",
            found.len()
        );
        for s in found {
            status!("  - {} `{}`", s.repo, s.path);
        }
        Ok(())
    }

    fn diffs(&mut self, changes: &[Change]) -> io::Result<()> {
        Printer.diffs(changes)
    }

    fn edited_seed_deletions(&mut self, changes: &[&Change], writing: bool) {
        Printer.edited_seed_deletions(changes, writing);
    }
}
