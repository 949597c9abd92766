//! Property tests: the argument parser, the answers-file loader, the lock loader, the preset
//! overrides and the name parsers never panic, whatever the input (issue 4).

use clap::Parser;
use proptest::prelude::*;
use strata::Answers;
use strata::Cli;
use strata::Lock;

fn valid_answers_text() -> String {
    let tmp = tempdir();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("new")
        .args(crate::common::known_values(&[]))
        .args(["acme", "--no-git", "--services", "api", "--out"])
        .arg(&tmp)
        .status()
        .unwrap();
    assert!(status.success());
    let text = fs_err::read_to_string(tmp.join("acme-gitops/strata.toml")).unwrap();
    let _ = fs_err::remove_dir_all(&tmp);
    text
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "strata-prop-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    fs_err::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_argument_parser_never_panics(args in prop::collection::vec("[-a-zA-Z0-9=.,_/ ]{0,12}", 0..8)) {
        let mut argv = vec!["strata".to_string()];
        argv.extend(args);
        // Any command line parses or is refused as usage (exit 2); only `--help` and
        // `--version` end well without a command.
        if let Err(err) = Cli::try_parse_from(argv) {
            use clap::error::ErrorKind;
            let informational = matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
            prop_assert_eq!(err.exit_code(), if informational { 0 } else { 2 }, "{}", err);
        }
    }

    #[test]
    fn the_answers_loader_never_panics_on_garbage(text in "\\PC{0,300}") {
        let _ = Answers::parse(&text, "strata.toml");
    }

    #[test]
    fn the_lock_loader_never_panics(text in "\\PC{0,300}") {
        let _ = Lock::parse(&text, "strata.lock");
    }

    #[test]
    fn preset_overrides_never_panic(key in "[a-z_.]{0,30}", value in "\\PC{0,20}") {
        let mut table: toml::Table = toml::from_str(include_str!("../../presets/production.toml")).unwrap();
        let _ = strata::apply_overrides(&mut table, &[(key, value)]);
    }

    #[test]
    fn name_and_value_parsers_never_panic(value in "\\PC{0,80}") {
        let _ = value.parse::<strata::ServiceName>();
        let _ = value.parse::<strata::EnvName>();
        let _ = value.parse::<strata::Image>();
        let _ = value.parse::<strata::HostPattern>();
        let _ = strata::parse_region(&value);
        let _ = strata::parse_domain(&value);
        let _ = value.parse::<strata::Cpu>().map(|cpu| cpu.millis());
        let _ = value.parse::<strata::Memory>().map(|memory| memory.bytes());
        let _ = strata::parse_git_base(&value);
        let _ = strata::parse_key_value("--config", &value);
    }

    #[test]
    fn quoted_values_hold_no_raw_line_break_and_read_back_unchanged(value in "\\PC{0,80}|[\\n\\r\\t\"\\\\\u{85}\u{2028}\u{feff}]{0,8}") {
        let quoted = strata::quote_yaml(&value);
        prop_assert!(quoted.starts_with('"') && quoted.ends_with('"'));
        let inner = &quoted[1..quoted.len() - 1];
        let breaks = ['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'];
        prop_assert!(!inner.contains(breaks), "a raw line break in {}", quoted);
        // A JSON parser reads the same string back for everything JSON and YAML share.
        if !value.chars().any(|c| (c as u32) == 0x85 || c == '\u{2028}' || c == '\u{2029}' || c == '\u{feff}' || (c as u32) == 0x7f || ((c as u32) >= 0x80 && (c as u32) < 0xa0) || ((c as u32) >= 0xfffe && (c as u32) <= 0xffff)) {
            let back: String = serde_json::from_str(&quoted).unwrap();
            prop_assert_eq!(back, value);
        }
    }
}

#[test]
fn the_answers_loader_never_panics_on_mutations_of_a_real_file() {
    let text = valid_answers_text();
    assert!(Answers::parse(&text, "strata.toml").is_ok());
    let lines: Vec<&str> = text.lines().collect();
    for i in 0..lines.len() {
        // Drop one line, then double it: every result is an answer or a problem, never a panic.
        let dropped: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, l)| *l)
            .collect();
        let _ = Answers::parse(&dropped.join("\n"), "strata.toml");
        let mut doubled = lines.clone();
        doubled.insert(i, lines[i]);
        let _ = Answers::parse(&doubled.join("\n"), "strata.toml");
        let truncated = &text[..text
            .char_indices()
            .nth(i * 7 % text.len().max(1))
            .map_or(0, |(b, _)| b)];
        let _ = Answers::parse(truncated, "strata.toml");
    }
}
