//! The foundation's workflows, read as GitHub runs them: which jobs and steps run for every
//! combination of bootstrapped stacks, failures and cancellation (issue 19, item 6).
//!
//! The model of GitHub Actions (docs: "Using jobs: needs", "Expressions: status check
//! functions"): a job waits for the jobs it `needs`; its `if` without a status check function
//! means `success() && (if)`, and `success()` is true only when no job it depends on, directly
//! or not, failed, was cancelled or was skipped, which is why a skipped job skips its
//! dependents; `!cancelled()` lifts that, and `needs.<job>.result` is then `success`,
//! `failure`, `cancelled` or `skipped`. A job that runs the deploy of a stack nobody bootstrapped
//! fails (its role does not exist).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_yaml_ng::Value;

use crate::common::{new_workspace, strata};

/// What a job or a step sees: the results of the jobs it needs (and their ancestors), the
/// repository variables, the matrix values and whether the run was cancelled.
struct Context<'a> {
    /// The result of every job it depends on, directly or not.
    results: BTreeMap<String, &'static str>,
    /// The jobs it `needs`, which `needs.<job>` may name.
    needs: BTreeSet<String>,
    vars: &'a BTreeMap<String, String>,
    matrix: BTreeMap<String, String>,
    cancelled: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Str(String),
    Bool(bool),
}

impl Val {
    fn truthy(&self) -> bool {
        match self {
            Val::Bool(b) => *b,
            Val::Str(s) => !s.is_empty(),
        }
    }
}

/// A recursive-descent reader of the expressions the workflows use: `!`, `&&`, `||`, `==`,
/// `!=`, parentheses, string literals, context paths and the status check functions.
struct Expr<'a, 'c> {
    tokens: Vec<String>,
    at: usize,
    context: &'c Context<'a>,
}

fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let end = chars[i + 1..].iter().position(|&d| d == '\'').unwrap() + i + 1;
            out.push(chars[i..=end].iter().collect());
            i = end + 1;
        } else if let Some(op) = ["&&", "||", "==", "!="]
            .iter()
            .find(|op| chars[i..].iter().take(2).collect::<String>() == **op)
        {
            out.push((*op).to_string());
            i += 2;
        } else if "!()".contains(c) {
            out.push(c.to_string());
            i += 1;
        } else {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || "._-".contains(chars[i])) {
                i += 1;
            }
            assert!(i > start, "cannot read {:?} in {text}", &text[start..]);
            out.push(chars[start..i].iter().collect());
        }
    }
    out
}

impl Expr<'_, '_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> String {
        self.at += 1;
        self.tokens[self.at - 1].clone()
    }

    fn or(&mut self) -> Val {
        let mut left = self.and();
        while self.peek() == Some("||") {
            self.next();
            let right = self.and();
            left = if left.truthy() { left } else { right };
        }
        left
    }

    fn and(&mut self) -> Val {
        let mut left = self.comparison();
        while self.peek() == Some("&&") {
            self.next();
            let right = self.comparison();
            left = if left.truthy() { right } else { left };
        }
        left
    }

    fn comparison(&mut self) -> Val {
        let left = self.unary();
        match self.peek() {
            Some(op @ ("==" | "!=")) => {
                let equal = op == "==";
                self.next();
                let right = self.unary();
                Val::Bool((left == right) == equal)
            }
            _ => left,
        }
    }

    fn unary(&mut self) -> Val {
        if self.peek() == Some("!") {
            self.next();
            return Val::Bool(!self.unary().truthy());
        }
        if self.peek() == Some("(") {
            self.next();
            let value = self.or();
            assert_eq!(self.next(), ")");
            return value;
        }
        let token = self.next();
        if let Some(text) = token.strip_prefix('\'') {
            return Val::Str(text.trim_end_matches('\'').to_string());
        }
        if self.peek() == Some("(") {
            self.next();
            assert_eq!(self.next(), ")", "functions here take no argument");
            return Val::Bool(self.context.status(&token));
        }
        Val::Str(self.context.path(&token))
    }
}

impl Context<'_> {
    fn status(&self, function: &str) -> bool {
        let ancestors = || self.results.values().copied();
        match function {
            "always" => true,
            "cancelled" => self.cancelled,
            "success" => !self.cancelled && ancestors().all(|r| r == "success"),
            "failure" => ancestors().any(|r| r == "failure"),
            other => panic!("unknown function {other}"),
        }
    }

    fn path(&self, path: &str) -> String {
        let parts: Vec<&str> = path.split('.').collect();
        match parts.as_slice() {
            ["vars", name] => self.vars.get(*name).cloned().unwrap_or_default(),
            ["matrix", name] => self.matrix[*name].clone(),
            ["needs", job, "result"] => {
                assert!(self.needs.contains(*job), "`{path}`: `{job}` is not needed");
                self.results[*job].to_string()
            }
            _ => panic!("unknown context path {path}"),
        }
    }

    /// Whether a job or step with this `if` runs.
    fn runs(&self, condition: Option<&str>) -> bool {
        let text = condition.unwrap_or("success()").trim();
        let text = text
            .strip_prefix("${{")
            .and_then(|t| t.strip_suffix("}}"))
            .unwrap_or(text);
        let status = ["success(", "failure(", "always(", "cancelled("]
            .iter()
            .any(|f| text.contains(f));
        let mut expr = Expr {
            tokens: tokens(text),
            at: 0,
            context: self,
        };
        let value = expr.or().truthy();
        assert_eq!(expr.at, expr.tokens.len(), "read all of {text}");
        if status {
            value
        } else {
            self.status("success") && value
        }
    }
}

fn workflow(foundation: &Path, name: &str) -> Value {
    let text = fs_err::read_to_string(foundation.join(".github/workflows").join(name)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn needs_of(job: &Value) -> Vec<String> {
    match &job["needs"] {
        Value::String(one) => vec![one.clone()],
        Value::Sequence(many) => many
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect(),
        _ => Vec::new(),
    }
}

/// One push to main: the result of each job of `deploy.yml`.
struct Push<'a> {
    bootstrapped: &'a BTreeSet<&'a str>,
    /// Stacks whose `pulumi up` fails; `test` fails the tests.
    failing: &'a BTreeSet<&'a str>,
    account_set: bool,
    cancelled: bool,
}

fn run_deploy(deploy: &Value, push: &Push<'_>) -> BTreeMap<String, &'static str> {
    let mut vars = BTreeMap::new();
    if push.account_set {
        vars.insert("AWS_ACCOUNT_ID".to_string(), "123456789012".to_string());
    }
    for stack in push.bootstrapped {
        vars.insert(
            format!("STACK_{}_BOOTSTRAPPED", stack.to_uppercase()),
            "true".to_string(),
        );
    }
    let mut results: BTreeMap<String, &'static str> = BTreeMap::new();
    let mut ancestry: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, job) in deploy["jobs"].as_mapping().unwrap() {
        let name = name.as_str().unwrap().to_string();
        let needs = needs_of(job);
        let mut ancestors: BTreeSet<String> = BTreeSet::new();
        for need in &needs {
            ancestors.insert(need.clone());
            ancestors.extend(ancestry[need].iter().cloned());
        }
        let context = Context {
            results: ancestors.iter().map(|a| (a.clone(), results[a])).collect(),
            needs: needs.iter().cloned().collect(),
            vars: &vars,
            matrix: BTreeMap::new(),
            cancelled: push.cancelled,
        };
        let stack = name.strip_prefix("deploy-").unwrap_or(&name);
        let result = if !context.runs(job["if"].as_str()) {
            "skipped"
        } else if push.failing.contains(stack)
            || (name != "test" && !push.bootstrapped.contains(stack))
        {
            "failure"
        } else {
            "success"
        };
        let ancestors = ancestors.into_iter().collect();
        ancestry.insert(name.clone(), ancestors);
        results.insert(name, result);
    }
    results
}

/// Every subset of `items`.
fn subsets<'a>(items: &[&'a str]) -> Vec<BTreeSet<&'a str>> {
    (0..1u32 << items.len())
        .map(|mask| {
            items
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, s)| *s)
                .collect()
        })
        .collect()
}

/// Checks `deploy.yml` of a workspace whose stacks deploy in `order`, for every set of
/// bootstrapped stacks and every failing stack: a stack deploys exactly when it is
/// bootstrapped, the tests passed and no earlier stack failed.
fn check_every_ordering(foundation: &Path, order: &[&str]) {
    let deploy = workflow(foundation, "deploy.yml");
    let jobs: Vec<String> = deploy["jobs"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let mut expected_jobs = vec!["test".to_string()];
    expected_jobs.extend(order.iter().map(|s| format!("deploy-{s}")));
    assert_eq!(jobs, expected_jobs);
    let mut wrong = Vec::new();
    for bootstrapped in subsets(order) {
        let mut failures: Vec<BTreeSet<&str>> = vec![BTreeSet::new(), ["test"].into()];
        failures.extend(bootstrapped.iter().map(|s| BTreeSet::from([*s])));
        for failing in &failures {
            let push = Push {
                bootstrapped: &bootstrapped,
                failing,
                account_set: true,
                cancelled: false,
            };
            let results = run_deploy(&deploy, &push);
            for (i, stack) in order.iter().enumerate() {
                let earlier_failed = order[..i].iter().any(|e| failing.contains(e));
                let should_run =
                    bootstrapped.contains(stack) && !failing.contains("test") && !earlier_failed;
                let ran = results[&format!("deploy-{stack}")] != "skipped";
                if ran != should_run {
                    wrong.push(format!(
                        "bootstrapped {bootstrapped:?}, failing {failing:?}: deploy-{stack} {}: {results:?}",
                        if ran { "ran" } else { "was skipped" }
                    ));
                }
            }
        }
        // Before CI is set up, and in a cancelled run, nothing deploys.
        for (account_set, cancelled) in [(false, false), (true, true)] {
            let push = Push {
                bootstrapped: &bootstrapped,
                failing: &BTreeSet::new(),
                account_set,
                cancelled,
            };
            let results = run_deploy(&deploy, &push);
            for stack in order {
                if results[&format!("deploy-{stack}")] != "skipped" {
                    wrong.push(format!(
                        "account set {account_set}, cancelled {cancelled}: deploy-{stack} ran"
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Issue 19, item 6: after `strata add env qa`, production deployed only once someone had
/// bootstrapped `qa` by hand: `deploy-prod` needed `deploy-qa`, which failed (no role yet).
#[test]
fn a_stack_deploys_once_bootstrapped_and_one_not_bootstrapped_never_holds_up_another() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(
        tmp.path(),
        &[
            "--preset",
            "production",
            "--envs",
            "dev,prod",
            "--backend",
            "s3://acme-pulumi-state",
        ],
    );
    check_every_ordering(&foundation, &["dev", "prod"]);
    strata()
        .args(["add", "env", "qa", "-C"])
        .arg(&gitops)
        .assert()
        .success();
    check_every_ordering(&foundation, &["dev", "qa", "prod"]);
    strata()
        .args(["add", "env", "stage", "-C"])
        .arg(&gitops)
        .assert()
        .success();
    check_every_ordering(&foundation, &["dev", "qa", "stage", "prod"]);

    // The case of the issue: dev and prod bootstrapped, the new qa not yet.
    let deploy = workflow(&foundation, "deploy.yml");
    let bootstrapped = BTreeSet::from(["dev", "prod"]);
    let results = run_deploy(
        &deploy,
        &Push {
            bootstrapped: &bootstrapped,
            failing: &BTreeSet::new(),
            account_set: true,
            cancelled: false,
        },
    );
    assert_eq!(results["deploy-qa"], "skipped");
    assert_eq!(results["deploy-prod"], "success", "{results:?}");
}

/// The same for pull requests: the preview of a stack nobody bootstrapped runs no step that
/// needs its role, and says so; a bootstrapped stack's preview runs every step.
#[test]
fn a_stack_not_bootstrapped_gets_a_notice_instead_of_a_failed_preview() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, _) = new_workspace(
        tmp.path(),
        &["--preset", "production", "--envs", "dev,qa,prod"],
    );
    let preview = &workflow(&foundation, "pull-request.yml")["jobs"]["preview"];
    let matrix = &preview["strategy"]["matrix"];
    let stacks: Vec<&str> = matrix["stack"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(stacks, ["dev", "qa", "prod"]);
    let include = matrix["include"]
        .as_sequence()
        .expect("the matrix says which stacks are bootstrapped");
    assert_eq!(include.len(), stacks.len());
    let vars = BTreeMap::from([("STACK_QA_BOOTSTRAPPED".to_string(), "true".to_string())]);
    for (stack, entry) in stacks.iter().zip(include) {
        assert_eq!(entry["stack"].as_str(), Some(*stack));
        let variable = format!("STACK_{}_BOOTSTRAPPED", stack.to_uppercase());
        assert_eq!(
            entry["bootstrapped"].as_str(),
            Some(format!("${{{{ vars.{variable} }}}}").as_str())
        );
        let bootstrapped = vars.get(&variable).cloned().unwrap_or_default();
        let context = Context {
            results: BTreeMap::from([("test".to_string(), "success")]),
            needs: BTreeSet::from(["test".to_string()]),
            vars: &vars,
            matrix: BTreeMap::from([
                ("stack".to_string(), stack.to_string()),
                ("bootstrapped".to_string(), bootstrapped.clone()),
            ]),
            cancelled: false,
        };
        for step in preview["steps"].as_sequence().unwrap() {
            let runs = context.runs(step["if"].as_str());
            let notice = step["name"].as_str() == Some("Not bootstrapped yet");
            let expected = if bootstrapped == "true" {
                !notice
            } else {
                notice
            };
            assert_eq!(
                runs,
                expected,
                "{stack} (bootstrapped: {bootstrapped:?}): step {step:?} {}",
                if runs { "runs" } else { "is skipped" }
            );
            if notice {
                assert!(step["run"].as_str().unwrap().contains("::notice"));
            }
        }
    }
}
