//! `strata check`: resolve what to check (every bad input reported at once, exit 2), run the
//! checks of `crate::check`, print a CI log or JSON, and exit 1 when there are findings.

use anyhow::Result;

use crate::check;
use crate::cli::CheckArgs;
use crate::util::error::Refusal;
use crate::util::term::out;

pub fn run(args: &CheckArgs) -> Result<()> {
    let targets = check::targets(args)?;
    let report = check::run(&targets)?;
    // The verdict (exit 1 on findings) stands even when stdout went away (`strata check | head`).
    let printed = if args.json {
        let value: serde_json::Value = serde_json::from_str(&report.to_json())?;
        super::output::set_result(&value)
    } else {
        out!("{}", report.to_text())
    };
    if report.holds() {
        Ok(printed?)
    } else {
        Err(Refusal {
            message: format!("the rule does not hold: {} finding(s)", report.errors()),
            details: Vec::new(),
            hint: "each finding says what to do; `docs/check.md` explains every rule".to_string(),
        }
        .into())
    }
}
