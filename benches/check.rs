//! Benchmark of `strata check`'s speed target (issue 11), through the real binary
//! (`cargo bench --bench check`): a workspace of 300 services in 5 environments (about 11,000
//! files in two repos) is checked in under 1 s (median), offline. Also timed, for the record:
//! the same gitops repo checked as any gitops repo (`--gitops`), and a real stack export.
//!
//! Prints the median, p90 and max of each, and exits 1 when the target is missed.

// A benchmark reports on the terminal; a closed stdout ending it is fine.
#![allow(clippy::disallowed_macros)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");
const TARGET: Duration = Duration::from_secs(1);

fn run(args: &[&str], dir: &Path, expect: i32) -> Duration {
    let start = Instant::now();
    let output = Command::new(STRATA)
        .args(args)
        .current_dir(dir)
        .env_remove("STRATA_FAULT")
        .output()
        .expect("strata runs");
    let elapsed = start.elapsed();
    assert_eq!(
        output.status.code(),
        Some(expect),
        "strata {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

fn stats(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9), *samples.last().expect("samples"))
}

fn report(name: &str, samples: Vec<Duration>, target: Option<Duration>) -> bool {
    let (median, p90, max) = stats(samples);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let ok = target.is_none_or(|t| median <= t);
    println!(
        "{name:<58} median {:>7.1} ms  p90 {:>7.1} ms  max {:>7.1} ms  {}",
        ms(median),
        ms(p90),
        ms(max),
        match target {
            Some(t) => format!(
                "target {:.0} ms  {}",
                ms(t),
                if ok { "ok" } else { "MISSED" }
            ),
            None => String::new(),
        }
    );
    ok
}

fn count_files(dir: &Path) -> usize {
    walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_entry(|entry| entry.file_name() != ".git")
        .filter_map(Result::ok)
        .filter(|entry| !entry.file_type().is_dir())
        .count()
}

fn main() {
    let tmp = std::env::temp_dir().join(format!("strata-bench-check-{}", std::process::id()));
    let _ = fs_err::remove_dir_all(&tmp);
    fs_err::create_dir_all(&tmp).unwrap();
    let names: Vec<String> = (0..300).map(|i| format!("svc{i}")).collect();
    run(
        &[
            "new",
            "acme",
            "--domain",
            "example.com",
            "--git-base",
            "https://github.com/acme",
            "--envs",
            "e1,e2,e3,e4,e5",
            "--services",
            &names.join(","),
            "--out",
            tmp.to_str().unwrap(),
        ],
        &tmp,
        0,
    );
    let gitops = tmp.join("acme-gitops");
    println!(
        "workspace: 300 services, 5 environments, {} files in the gitops repo, {} in the foundation",
        count_files(&gitops),
        count_files(&tmp.join("acme-foundation"))
    );
    let iterations = 15;
    // One run to warm the page cache, as CI's second step would find it.
    run(&["check", "-C", "."], &gitops, 0);
    let workspace: Vec<Duration> = (0..iterations)
        .map(|_| run(&["check", "-C", "."], &gitops, 0))
        .collect();
    let any_repo: Vec<Duration> = (0..iterations)
        .map(|_| run(&["check", "--gitops", "."], &gitops, 0))
        .collect();
    let export = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/stack-exports/pulumi-eks-encryption-provider-k8s-v4.json"
    );
    let state: Vec<Duration> = (0..iterations)
        .map(|_| run(&["check", "--stack-export", export], &gitops, 1))
        .collect();
    let mut ok = report(
        "check -C: workspace of 300 services x 5 environments",
        workspace,
        Some(TARGET),
    );
    ok &= report(
        "check --gitops: the same repo as any gitops repo",
        any_repo,
        Some(TARGET),
    );
    report(
        "check --stack-export: a real export (39 resources)",
        state,
        None,
    );
    let _ = fs_err::remove_dir_all(&tmp);
    if !ok {
        std::process::exit(1);
    }
}
