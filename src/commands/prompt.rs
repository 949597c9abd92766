//! The questions of `strata new` on a terminal (dialoguer): only what the command line left
//! out, each with its default, each answer checked as its flag is and asked again until it
//! holds. Never in CI: without a terminal on stdin and stderr, or with `--no-input`, nothing
//! is asked and a required value left out is an error naming its flag (exit 2).

use std::io::IsTerminal as _;

use dialoguer::theme::SimpleTheme;
use dialoguer::Input;

use crate::cli::NewArgs;
use crate::jobs::resolve::{Ask, NoPrompt, Unknown};

/// A person at a terminal.
pub struct Terminal;

impl Ask for Terminal {
    fn ask(&mut self, unknown: Unknown, args: &NewArgs) -> Option<String> {
        let mut input = Input::<String>::with_theme(&SimpleTheme)
            .with_prompt(unknown.question())
            .allow_empty(unknown.optional())
            .validate_with(|answer: &String| -> Result<(), String> {
                if answer.is_empty() && unknown.optional() {
                    return Ok(());
                }
                unknown.check(answer.trim(), args).map_err(|problem| {
                    let mut text = problem.message;
                    if let Some(hint) = problem.hint {
                        text.push_str(&format!("; {hint}"));
                    }
                    text
                })
            });
        if let Some(default) = unknown.default(args).filter(|d| !d.is_empty()) {
            input = input.default(default);
        }
        // A terminal that goes away (Ctrl-D) answers nothing: the value stays missing and is
        // reported as such.
        let answer = input.interact_text().ok()?;
        let answer = answer.trim().to_string();
        (!answer.is_empty()).then_some(answer)
    }
}

/// Who `strata new` asks: a person at a terminal, or no one.
pub fn asker(args: &NewArgs) -> Box<dyn Ask> {
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if terminal && !args.no_input {
        Box::new(Terminal)
    } else {
        Box::new(NoPrompt)
    }
}
