//! Exit codes stay 0, 1 or 2 on every input (issue 21 point 7): a template override that
//! calls itself without end, or does not compile, is bad input (exit 2, nothing written),
//! never a stack overflow (exit 134).

use crate::common::{snapshot, strata, Test};
use predicates::prelude::*;

const DEPLOYMENT: &str = "services/__service__/base/deployment.yaml.tera";

/// Puts `text` in the gitops repo's override of the Deployment template, committed.
fn override_deployment(test: &crate::common::TestWorkspace, text: &str) {
    let path = test.gitops.join(".strata/templates").join(DEPLOYMENT);
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
    crate::common::git(&test.gitops, &["add", "-A"]);
    crate::common::git(&test.gitops, &["commit", "-qm", "override"]);
}

#[test]
fn a_recursive_override_or_macro_exits_2_naming_the_cycle() {
    for (text, named) in [
        (
            "{% include \"services/__service__/base/deployment.yaml\" %}",
            "template `services/__service__/base/deployment.yaml` -> template `services/__service__/base/deployment.yaml`",
        ),
        (
            "{% macro f(n) %}{{ self::f(n=n) }}{% endmacro f %}{{ self::f(n=1) }}",
            "macro `f` of `services/__service__/base/deployment.yaml`",
        ),
    ] {
        let test = Test::new().create();
        override_deployment(&test, text);
        let before = snapshot(test.path());
        strata()
            .args(["add", "service", "api", "-C"])
            .arg(&test.foundation)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("call themselves without end"))
            .stderr(predicate::str::contains(named))
            .stderr(predicate::str::contains("nothing was written"));
        assert_eq!(snapshot(test.path()), before);
    }
}

#[test]
fn an_override_that_renders_invalid_yaml_exits_2_naming_it_not_as_an_edit() {
    // break-report F10: it was reported as files a person changed, with a hint to `--force`.
    let test = Test::new().services("api").create();
    override_deployment(
        &test,
        "kind: Deployment\nmetadata: [\n  - : : {{ service.name }}\n",
    );
    let before = snapshot(test.path());
    strata()
        .args(["upgrade", "-C"])
        .arg(&test.foundation)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "template override `gitops: .strata/templates/services/__service__/base/deployment.yaml.tera`: renders gitops `services/api/base/deployment.yaml` as invalid YAML",
        ))
        .stderr(predicate::str::contains("--force").not());
    assert_eq!(snapshot(test.path()), before);
}

#[test]
fn a_template_syntax_error_exits_2() {
    let test = Test::new().create();
    override_deployment(&test, "kind: Deployment\n{% if %}\n");
    strata()
        .args(["add", "service", "api", "-C"])
        .arg(&test.foundation)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the gitops repo's templates"))
        .stderr(predicate::str::contains("do not compile"))
        .stderr(predicate::str::contains(".strata/templates/"));
}

#[test]
fn a_recursive_override_given_to_new_exits_2_and_leaves_nothing() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let templates = tmp.path().join("org");
    let path = templates.join("gitops").join(DEPLOYMENT);
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(
        &path,
        "{% macro a() %}{{ self::b() }}{% endmacro a %}{% macro b() %}{{ self::a() }}{% endmacro b %}{{ self::a() }}",
    )
    .unwrap();
    let out = tmp.path().join("ws");
    fs_err::create_dir_all(&out).unwrap();
    strata()
        .arg("new")
        .args(crate::common::known_values(&[]))
        .args(["acme", "--services", "api", "--templates"])
        .arg(&templates)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("call themselves without end"));
    assert!(fs_err::read_dir(&out).unwrap().next().is_none());
}

/// A tmpfs of `mib` MiB mounted for one test, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, mib: u32) -> SmallDisk {
        fs_err::create_dir_all(dir).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(
            mounted.success(),
            "the tests run as root, to mount a small disk"
        );
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Fills the disk at `dir` up to `free` bytes left.
fn fill(dir: &std::path::Path, free: u64) {
    let filler = dir.join("filler");
    let _ = fs_err::remove_file(&filler);
    let stat = rustix::fs::statvfs(dir).unwrap();
    let available = stat.f_bavail * stat.f_frsize;
    let size = available.saturating_sub(free);
    fs_err::write(&filler, vec![0u8; usize::try_from(size).unwrap()]).unwrap();
}

#[test]
fn on_a_full_disk_the_rollback_frees_space_first_and_completes() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let disk = tmp.path().join("disk");
    let _mounted = SmallDisk::mount(&disk, 16);
    crate::common::new_workspace(&disk, &["--services", "a,b,c,d,e,f,g,h", "--envs", "dev"]);
    let foundation = disk.join("acme-foundation");
    let mut rolled_back = 0;
    for pages in (4..120).step_by(6) {
        fill(&disk, pages * 4096);
        let before = snapshot(&disk.join("acme-gitops"));
        let output = strata()
            .args(["add", "env", "qa", "--commit", "-C"])
            .arg(&foundation)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let code = output.status.code();
        assert!(matches!(code, Some(0..=2)), "exit {code:?}: {stderr}");
        assert!(!stderr.contains("rolling back failed"), "{stderr}");
        if code == Some(0) {
            break;
        }
        assert_eq!(snapshot(&disk.join("acme-gitops")), before, "{stderr}");
        if stderr.contains("every write was rolled back") {
            rolled_back += 1;
        }
    }
    assert!(
        rolled_back > 0,
        "some run ran out of space midway and rolled back"
    );
}

#[test]
fn a_file_where_a_directory_is_expected_exits_2_naming_the_flag() {
    // break-report F11 and F13: these exited 1 with the operating system's words.
    let tmp = assert_fs::TempDir::new().unwrap();
    let file = tmp.path().join("afile");
    fs_err::write(&file, "").unwrap();
    for (out, problem) in [
        ("afile", "`--out afile`: is a file, not a directory"),
        (
            "afile/x",
            "`--out afile/x`: lies under `afile`, which is a file, not a directory",
        ),
    ] {
        crate::common::strata()
            .current_dir(tmp.path())
            .args(["new", "acme", "--out", out])
            .args(crate::common::known_values(&[]))
            .assert()
            .code(2)
            .stderr(predicates::str::contains(problem));
    }
    crate::common::strata()
        .args(["list", "-C"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is a file, not a directory"));
    assert_eq!(
        crate::common::snapshot(tmp.path())
            .keys()
            .collect::<Vec<_>>(),
        vec!["afile"]
    );
}
