//! The command line as users meet it (issue 21 point 8): the README and docs/ list every
//! command and flag exactly as `--help` does, "did you mean" for a mistyped command, defaults
//! in `--help`, help texts that match behaviour, completions and a man page.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common::strata;
use predicates::prelude::*;

fn help(words: &[&str]) -> String {
    let output = strata().args(words).arg("--help").output().unwrap();
    assert!(output.status.success(), "{words:?} --help");
    String::from_utf8(output.stdout).unwrap()
}

/// The subcommands a `--help` lists under `Commands:`, `help` aside.
fn subcommands(text: &str) -> Vec<String> {
    text.split("Commands:\n")
        .nth(1)
        .map(|rest| {
            rest.lines()
                .take_while(|l| !l.trim().is_empty())
                .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
                .filter_map(|l| l.split_whitespace().next())
                .filter(|name| *name != "help")
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Every command strata has, as its words (`add service`).
fn leaf_commands() -> Vec<String> {
    let mut leaves = Vec::new();
    for top in subcommands(&help(&[])) {
        let nested = subcommands(&help(&[&top]));
        if nested.is_empty() {
            leaves.push(top);
        } else {
            leaves.extend(nested.into_iter().map(|n| format!("{top} {n}")));
        }
    }
    leaves
}

/// The flags a text names: `--long` and `-C`, help and version aside.
fn flags(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        let long = word.starts_with("--")
            && word.len() > 2
            && word[2..]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-');
        if long || word == "-C" {
            found.insert(word.to_string());
        }
    }
    for own in ["--help", "--version"] {
        found.remove(own);
    }
    found
}

/// The flags of a command's `--help`: the names in its `Options:` list.
fn help_flags(command: &str) -> BTreeSet<String> {
    let words: Vec<&str> = command.split(' ').collect();
    let text = help(&words);
    let options = text.split("Options:\n").nth(1).unwrap_or_default();
    let names: String = options
        .lines()
        .filter(|l| l.trim_start().starts_with('-'))
        .map(|l| {
            l.trim_start()
                .split("  ")
                .next()
                .unwrap_or_default()
                .to_string()
                + " "
        })
        .collect();
    flags(&names)
}

/// Each synopsis in a Markdown file (an indented `strata <command> ...` line and the indented
/// lines that continue it), by command, with the flags it lists.
fn synopses(text: &str, commands: &[String]) -> Vec<(String, BTreeSet<String>)> {
    let mut found = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let Some(rest) = line.strip_prefix("    strata ") else {
            continue;
        };
        let Some(command) = commands
            .iter()
            .filter(|c| rest == c.as_str() || rest.starts_with(&format!("{c} ")))
            .max_by_key(|c| c.len())
        else {
            continue;
        };
        let mut block = rest.to_string();
        while i < lines.len()
            && lines[i].starts_with("      ")
            && lines[i].trim_start().starts_with('[')
        {
            block.push(' ');
            block.push_str(lines[i]);
            i += 1;
        }
        found.push((command.clone(), flags(&block)));
    }
    found
}

#[test]
fn the_readme_and_docs_list_every_command_and_flag_as_help_does() {
    let commands = leaf_commands();
    for expected in [
        "new",
        "add service",
        "remove platform",
        "completions",
        "man",
        "packs",
    ] {
        assert!(commands.contains(&expected.to_string()), "{commands:?}");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let help: BTreeMap<&String, BTreeSet<String>> =
        commands.iter().map(|c| (c, help_flags(c))).collect();
    let readme = fs_err::read_to_string(root.join("README.md")).unwrap();
    let in_readme = synopses(&readme, &commands);
    for command in &commands {
        let listed: Vec<&BTreeSet<String>> = in_readme
            .iter()
            .filter(|(c, _)| c == command)
            .map(|(_, f)| f)
            .collect();
        assert!(
            !listed.is_empty(),
            "the README has no synopsis of `strata {command}`"
        );
        assert!(
            listed.iter().any(|f| **f == help[command]),
            "the README's synopsis of `strata {command}` lists {listed:?}, `--help` {:?}",
            help[command]
        );
    }
    let mut documents = vec![root.join("README.md")];
    for entry in fs_err::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            documents.push(path);
        }
    }
    for path in documents {
        let text = fs_err::read_to_string(&path).unwrap();
        for (command, listed) in synopses(&text, &commands) {
            assert!(
                listed.is_subset(&help[&command]),
                "{}: `strata {command}` names flags `--help` does not have: {:?}",
                path.display(),
                listed.difference(&help[&command]).collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn a_mistyped_command_gets_a_did_you_mean() {
    strata()
        .arg("upgarde")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "similar subcommand exists: 'upgrade'",
        ));
    strata()
        .args(["add", "servce"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("'service'"));
}

#[test]
fn help_texts_say_what_the_commands_do_with_one_default_each() {
    let new = help(&["new"]);
    assert!(new.contains("Print the diff of every file"), "{new}");
    assert!(new.contains("[default: startup]"), "{new}");
    assert!(help(&["add"]).contains("platform service"));
    assert!(help(&["remove"]).contains("platform service"));
    let add = help(&["add", "service"]);
    let c_line = add
        .lines()
        .find(|l| l.trim_start().starts_with("-C"))
        .unwrap();
    assert_eq!(c_line.matches("default").count(), 1, "{c_line}");
    assert_eq!(
        add.matches("<NAME>").count(),
        2,
        "usage and the argument: {add}"
    );
}

#[test]
fn completions_and_a_man_page_cover_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = strata().args(["completions", shell]).output().unwrap();
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(
            script.contains("upgrade") && script.contains("--stack-export"),
            "{shell}"
        );
    }
    let output = strata().arg("man").output().unwrap();
    assert!(output.status.success());
    let page = String::from_utf8(output.stdout).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH strata 1"),
        "{page}"
    );
    for command in leaf_commands() {
        assert!(
            page.contains(&format!(".SH \"STRATA {}\"", command.to_uppercase())),
            "the man page has no section for `strata {command}`"
        );
    }
}

#[test]
fn new_ends_with_the_next_steps_pulumi_login_and_stack_init() {
    let tmp = assert_fs::TempDir::new().unwrap();
    strata()
        .args([
            "new",
            "acme",
            "--preset",
            "production",
            "--envs",
            "dev,prod",
        ])
        .args(crate::common::known_values(&[]))
        .arg("--out")
        .arg(tmp.path())
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "  pulumi login https://api.pulumi.com",
        ))
        .stderr(predicate::str::contains("  pulumi stack init dev"))
        .stderr(predicate::str::contains("  pulumi stack init prod"))
        .stderr(predicate::str::contains("  pulumi preview"));
}
