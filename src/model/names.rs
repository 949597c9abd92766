//! Names and values that reach generated output, parsed once into types that renderers trust.
//!
//! Parse, don't validate: a [`ProjectName`], [`EnvName`] or [`ServiceName`] exists only if it is
//! a DNS-1035 label short enough that every name derived from it stays within its own limit
//! (see the table in `docs/errors.md`). The other parsers here (region, domain, host name,
//! `KEY=VALUE`, configuration keys) return a [`Problem`] with a hint instead of panicking; a
//! service's values (image, port, quantities, paths, host, replicas) are types of their own in
//! `values.rs`. This module does no I/O and knows nothing of templates.

use std::fmt;
use std::str::FromStr;

use crate::util::problem::Problem;

/// Namespaces and names that an environment may not take: Kubernetes' own namespaces and the
/// namespaces of the add-ons the foundation installs.
pub const RESERVED_NAMESPACES: &[&str] = &[
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "argocd",
    "external-dns",
    "external-secrets",
    "cert-manager",
    "amazon-cloudwatch",
    "aws-observability",
    "monitoring",
    "logging",
    "platform",
];
/// Every namespace that starts with this is Kubernetes' (`kube-system`, `kube-public`, ...).
pub const RESERVED_NAMESPACE_PREFIX: &str = "kube-";
/// Names an environment may not take besides the reserved namespaces: `<env>-apps` is its root
/// Application and `<env>-root` its project, and `shared` is the stack of a shared cluster.
pub const RESERVED_ENV_NAMES: &[&str] = &["apps", "root", "shared"];

/// The IAM role of a service in an environment (`--irsa`): `<project>-<env>-<service>`.
pub fn role_name(project: &str, env: &str, service: &str) -> String {
    format!("{project}-{env}-{service}")
}

/// The Argo CD Application of a service in an environment: `<service>-<env>`.
pub fn application_name(service: &str, env: &str) -> String {
    format!("{service}-{env}")
}

/// The EKS cluster of a stack: `<project>-<stack>`.
pub fn cluster_name(project: &str, stack: &str) -> String {
    format!("{project}-{stack}")
}

/// `owner/name` of a repository on github.com, from its remote URL (`https://github.com/o/n.git`,
/// `git@github.com:o/n.git` or `ssh://git@github.com/o/n`); empty for any other host, where
/// GitHub Actions' OIDC tokens cannot come from (the foundation then creates no CI roles).
pub fn github_repository(url: &str) -> String {
    let rest = [
        "https://github.com/",
        "ssh://git@github.com/",
        "git@github.com:",
    ]
    .iter()
    .find_map(|prefix| url.strip_prefix(prefix));
    let Some(rest) = rest else {
        return String::new();
    };
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix(".git").unwrap_or(rest);
    let valid = |part: &str, max: usize, extra: &[char]| {
        !part.is_empty()
            && part.len() <= max
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || extra.contains(&c))
    };
    match rest.split_once('/') {
        Some((owner, name))
            if valid(owner, GITHUB_OWNER_MAX, &[])
                && valid(name, GITHUB_REPOSITORY_NAME_MAX, &['.', '_']) =>
        {
            format!("{owner}/{name}")
        }
        _ => String::new(),
    }
}

/// The longest GitHub user or organization name, and repository name.
pub const GITHUB_OWNER_MAX: usize = 39;
pub const GITHUB_REPOSITORY_NAME_MAX: usize = 100;

/// The longest DNS label, Kubernetes name of a namespace or label value, and load balancer
/// group name.
pub const LABEL_MAX: usize = 63;
/// The longest DNS name.
pub const HOSTNAME_MAX: usize = 253;
/// The longest IAM role name.
pub const IAM_ROLE_NAME_MAX: usize = 64;
/// The longest EKS cluster name.
pub const EKS_CLUSTER_NAME_MAX: usize = 100;

/// Longest project name: `<project>-<env>-<service>` must fit an IAM role name (64).
pub const PROJECT_MAX: usize = 20;
/// Longest environment name: it is a namespace, a Pulumi stack and part of every derived name.
pub const ENV_MAX: usize = 12;
/// Longest service name: `<service>-<env>` must fit a label value (63), and the IAM role name
/// `<project>-<env>-<service>` must fit 64.
pub const SERVICE_MAX: usize = 30;

/// Checks a DNS-1035 label of at most `max` characters; `kind` names it in the problem.
pub fn check_label(kind: &str, value: &str, max: usize) -> Result<(), Problem> {
    let subject = format!("{kind} `{value}`");
    let fix = format!(
        "use lowercase letters, digits and `-`, starting with a letter, at most {max} characters (for example `{}`)",
        suggest_label(value, max)
    );
    if value.is_empty() {
        return Err(Problem::new(kind.to_string(), "is empty").hint(fix));
    }
    if value.len() > max {
        return Err(Problem::new(
            subject,
            format!("is {} characters long, the limit is {max} so that every name derived from it stays valid", value.len()),
        )
        .hint(fix));
    }
    let first = value.as_bytes()[0];
    if !first.is_ascii_lowercase() {
        return Err(Problem::new(subject, "must start with a lowercase letter").hint(fix));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(Problem::new(
            subject,
            format!(
                "contains `{}`, which a Kubernetes name cannot hold",
                bad.escape_default()
            ),
        )
        .hint(fix));
    }
    if value.ends_with('-') {
        return Err(Problem::new(subject, "must not end with `-`").hint(fix));
    }
    if value.contains("--") {
        return Err(Problem::new(subject, "must not contain `--`").hint(fix));
    }
    Ok(())
}

/// What YAML 1.1 or 1.2 reads a plain (unquoted) scalar as, when that is not a string:
/// `Some("a boolean")`, `Some("null")` or `Some("a number")`. Names land unquoted in YAML
/// (namespaces, labels, list items), so a name YAML reads otherwise would change meaning.
pub fn yaml_non_string(value: &str) -> Option<&'static str> {
    const BOOLEANS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
    ];
    const NULLS: &[&str] = &["", "~", "null", "Null", "NULL"];
    const SPECIAL_FLOATS: &[&str] = &[
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN",
    ];
    if BOOLEANS.contains(&value) {
        return Some("a boolean");
    }
    if NULLS.contains(&value) {
        return Some("null");
    }
    if SPECIAL_FLOATS.contains(&value) || is_yaml_number(value) {
        return Some("a number");
    }
    None
}

/// Whether a plain scalar is an integer or a float in YAML 1.1 or 1.2: decimal (with YAML
/// 1.1's `_` separators), `0x`/`0o`/`0b` and YAML 1.1's leading-zero octal, YAML 1.1's
/// base-60 (`1:30`), and floats with an optional exponent (`1e3`, `.5`, `6.02E+23`).
fn is_yaml_number(value: &str) -> bool {
    let unsigned = value.strip_prefix(['-', '+']).unwrap_or(value);
    if unsigned.is_empty() {
        return false;
    }
    let digits_in = |text: &str, radix: u32| {
        !text.is_empty()
            && text.chars().any(|c| c.is_digit(radix))
            && text.chars().all(|c| c.is_digit(radix) || c == '_')
    };
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(rest) = unsigned.strip_prefix(prefix) {
            return digits_in(rest, radix);
        }
    }
    // Base 60 (YAML 1.1): `190:20:30`.
    if unsigned.contains(':') {
        let mut parts = unsigned.split(':');
        let first = parts.next().unwrap_or_default();
        return digits_in(first, 10)
            && parts
                .all(|p| !p.is_empty() && p.len() <= 2 && p.chars().all(|c| c.is_ascii_digit()));
    }
    // Decimal integers and floats: digits, at most one `.`, an optional exponent.
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let mut dots = 0;
    let mut digits = 0;
    for c in mantissa.chars() {
        match c {
            '.' => dots += 1,
            '_' => {}
            c if c.is_ascii_digit() => digits += 1,
            _ => return false,
        }
    }
    if dots > 1 || digits == 0 {
        return false;
    }
    match exponent {
        None => true,
        Some(exp) => {
            let exp = exp.strip_prefix(['-', '+']).unwrap_or(exp);
            !exp.is_empty() && exp.chars().all(|c| c.is_ascii_digit())
        }
    }
}

/// Refuses a name that YAML would read as a boolean, null or a number (`yes`, `off`, `null`,
/// `1e3`, ...): such a name written unquoted changes meaning, and quoting every place a name
/// lands is harder to guarantee than refusing it.
pub fn check_yaml_string(kind: &str, value: &str) -> Result<(), Problem> {
    match yaml_non_string(value) {
        None => Ok(()),
        Some(what) => Err(Problem::new(
            format!("{kind} `{value}`"),
            format!("is read by YAML as {what}, not as a name"),
        )
        .hint(format!(
            "pick a name YAML reads as text, for example `{value}x` or `{value}-app` (see docs/errors.md for the refused names)"
        ))),
    }
}

/// ConfigMap keys strata sets itself in every service's ConfigMap (the base sets
/// `SERVICE_NAME`, each overlay `ENVIRONMENT`): a `--config` key of the same name would repeat a
/// literal (kustomize refuses) or be silently overridden.
pub const RESERVED_CONFIG_KEYS: &[&str] = &["SERVICE_NAME", "ENVIRONMENT"];

/// A `--config` key of a service: a valid ConfigMap key that strata does not set itself.
pub fn parse_service_config_key(key: &str) -> Result<String, Problem> {
    let key = parse_config_key(key)?;
    if RESERVED_CONFIG_KEYS.contains(&key.as_str()) {
        return Err(Problem::new(
            format!("config key `{key}`"),
            "is set by strata itself in every service's ConfigMap",
        )
        .hint(format!(
            "use another key; strata sets {} for you",
            RESERVED_CONFIG_KEYS
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        )));
    }
    Ok(key)
}

/// A DNS-label version of `value`, for hints: its words in kebab case (`MyService` and
/// `my_service` both give `my-service`), then only what a label may hold.
fn suggest_label(value: &str, max: usize) -> String {
    use heck::ToKebabCase as _;
    let mut out = String::new();
    for c in value.to_kebab_case().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '-')
        .chars()
        .take(max)
        .collect();
    let trimmed = trimmed.trim_end_matches('-').to_string();
    if trimmed.is_empty() {
        "app".to_string()
    } else {
        trimmed
    }
}

macro_rules! label_newtype {
    ($name:ident, $kind:expr, $max:expr, $extra:expr) => {
        #[doc = concat!("A validated ", $kind, ".")]
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Problem;

            fn from_str(value: &str) -> Result<Self, Problem> {
                check_label($kind, value, $max)?;
                check_yaml_string($kind, value)?;
                let extra: fn(&str) -> Result<(), Problem> = $extra;
                extra(value)?;
                Ok(Self(value.to_string()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            /// For `strata.toml`: the problem's text becomes the parser's message, which
            /// names the file, line and column.
            fn try_from(value: String) -> Result<Self, String> {
                value
                    .parse()
                    .map_err(|problem: Problem| format!("{}: {}", problem.subject, problem.message))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                Self::try_from(value).map_err(serde::de::Error::custom)
            }
        }
    };
}

label_newtype!(ProjectName, "project name", PROJECT_MAX, |_| Ok(()));
/// The objects the foundation creates in every environment's namespace. A service's objects
/// carry its name, so a service of one of these names would take them over: the reader of every
/// service's secrets (`aws-secrets-reader`), the namespace's network policies. A conformance test
/// compares the list with what the foundation's program registers.
pub const FOUNDATION_NAMESPACED_OBJECTS: &[&str] = &[
    "aws-secrets-reader",
    "aws-secrets-manager",
    "default-deny",
    "allow-dns-egress",
    "environment-quota",
    "container-limits",
    "gitops-repo",
];

label_newtype!(ServiceName, "service name", SERVICE_MAX, |value| {
    if matches!(value, "appproject" | "kustomization") {
        return Err(Problem::new(
            format!("service name `{value}`"),
            "is reserved: `apps/<env>/` holds a file of that name",
        )
        .hint("pick another name"));
    }
    if FOUNDATION_NAMESPACED_OBJECTS.contains(&value) {
        return Err(Problem::new(
            format!("service name `{value}`"),
            "is reserved: the foundation creates an object of that name in every environment's \
             namespace, and the service's objects would replace it",
        )
        .hint("pick another name"));
    }
    Ok(())
});
label_newtype!(EnvName, "environment name", ENV_MAX, |value| {
    if RESERVED_NAMESPACES.contains(&value) || value.starts_with(RESERVED_NAMESPACE_PREFIX) {
        return Err(Problem::new(
            format!("environment name `{value}`"),
            "is reserved: it is a namespace of Kubernetes or of a platform add-on",
        )
        .hint("pick another name, for example `dev`, `staging` or `prod`"));
    }
    if value.contains('-') {
        return Err(Problem::new(
            format!("environment name `{value}`"),
            "contains `-`: names derived from it (`<service>-<env>`, `<env>-root`, `<project>-<env>-<service>`) could then collide",
        )
        .hint(format!("use letters and digits only, for example `{}`", value.replace('-', ""))));
    }
    if RESERVED_ENV_NAMES.contains(&value) {
        let why = if value == "shared" {
            "is reserved: `shared` is the Pulumi stack of a shared cluster"
        } else {
            "is reserved: the root Application of an environment is `<env>-apps` and its project `<env>-root`"
        };
        return Err(Problem::new(format!("environment name `{value}`"), why)
            .hint("pick another name, for example `dev`, `staging` or `prod`"));
    }
    Ok(())
});

/// Splits a comma-separated list, parses each item and reports duplicates.
pub fn parse_list<T: FromStr<Err = Problem> + PartialEq>(
    flag: &str,
    raw: &str,
) -> Result<Vec<T>, Vec<Problem>> {
    let mut items = Vec::new();
    let mut problems = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for item in raw.split(',').map(str::trim) {
        if item.is_empty() {
            if !raw.trim().is_empty() {
                problems.push(
                    Problem::new(format!("`{flag}`"), "has an empty item")
                        .hint("remove the extra `,`"),
                );
            }
            continue;
        }
        if seen.iter().any(|s| s == item) {
            problems.push(
                Problem::new(format!("`{flag}`"), format!("lists `{item}` twice"))
                    .hint("list each name once"),
            );
            continue;
        }
        seen.push(item.to_string());
        match item.parse::<T>() {
            Ok(value) => items.push(value),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(items)
    } else {
        Err(problems)
    }
}

/// An AWS region code such as `eu-west-1` or `us-gov-west-1`.
pub fn parse_region(value: &str) -> Result<String, Problem> {
    const PREFIXES: &[&str] = &[
        "us", "eu", "ap", "ca", "sa", "me", "af", "il", "mx", "cn", "us-gov", "us-iso", "us-isob",
    ];
    const AREAS: &[&str] = &[
        "east",
        "west",
        "north",
        "south",
        "central",
        "northeast",
        "northwest",
        "southeast",
        "southwest",
    ];
    let fail = || {
        Problem::new(format!("region `{value}`"), "is not an AWS region code")
            .hint("use a region code such as `eu-west-1` or `us-east-2`")
    };
    let Some((rest, number)) = value.rsplit_once('-') else {
        return Err(fail());
    };
    if number.is_empty() || number.len() > 2 || !number.chars().all(|c| c.is_ascii_digit()) {
        return Err(fail());
    }
    let Some((prefix, area)) = rest.rsplit_once('-') else {
        return Err(fail());
    };
    if !PREFIXES.contains(&prefix) || !AREAS.contains(&area) {
        return Err(fail());
    }
    Ok(value.to_string())
}

/// A DNS domain such as `example.com`: lowercase labels of at most 63 characters, at least two,
/// the last a top-level domain (letters, or an internationalized one: `xn--` and its
/// punycode).
pub fn parse_domain(value: &str) -> Result<String, Problem> {
    check_hostname("domain", value)?;
    let Some((_, tld)) = value.rsplit_once('.') else {
        return Err(
            Problem::new(format!("domain `{value}`"), "needs at least two labels")
                .hint("use a domain such as `example.com`"),
        );
    };
    if !is_top_level_domain(tld) {
        return Err(Problem::new(
            format!("domain `{value}`"),
            format!("ends in `{tld}`, which is not a top-level domain"),
        )
        .hint("use a domain such as `example.com`"));
    }
    Ok(value.to_string())
}

/// The shortest top-level domain of letters (`io`, `com`); an internationalized one is `xn--`
/// and its punycode.
pub const TLD_MIN: usize = 2;
pub const IDN_TLD_PREFIX: &str = "xn--";

fn is_top_level_domain(label: &str) -> bool {
    label.len() >= TLD_MIN && label.bytes().all(|b| b.is_ascii_lowercase())
        || label
            .strip_prefix(IDN_TLD_PREFIX)
            .is_some_and(|rest| !rest.is_empty())
}

/// A fully qualified host name: lowercase DNS labels joined by dots, at most 253 characters.
pub fn check_hostname(kind: &str, value: &str) -> Result<(), Problem> {
    let fail = |why: &str| {
        Problem::new(
            format!("{kind} `{}`", value.escape_default()),
            why.to_string(),
        )
        .hint("use lowercase letters, digits, `-` and `.` only, for example `api.example.com`")
    };
    if value.is_empty() || value.len() > HOSTNAME_MAX {
        return Err(fail("must be 1 to 253 characters long"));
    }
    for label in value.split('.') {
        if label.is_empty() || label.len() > LABEL_MAX {
            return Err(fail("has an empty label or one longer than 63 characters"));
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(fail("is not a valid DNS name"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(fail("has a label that starts or ends with `-`"));
        }
    }
    Ok(())
}

/// A configuration key: a valid environment variable / ConfigMap key.
pub fn parse_config_key(key: &str) -> Result<String, Problem> {
    let valid = !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !key.chars().next().is_some_and(|c| c.is_ascii_digit())
        // The API server refuses `.`, `..` and keys starting with `..` in ConfigMaps and Secrets.
        && key != "."
        && !key.starts_with("..");
    if valid {
        Ok(key.to_string())
    } else {
        Err(Problem::new(format!("config key `{}`", key.escape_default()), "is not a valid ConfigMap key")
            .hint("use letters, digits, `_`, `-` and `.`, not starting with a digit or `..` and not `.`, for example `LOG_LEVEL`"))
    }
}

/// A `KEY=VALUE` pair; the value is free text (it is quoted wherever it lands).
pub fn parse_key_value(flag: &str, raw: &str) -> Result<(String, String), Problem> {
    let Some((key, value)) = raw.split_once('=') else {
        return Err(Problem::new(
            format!("`{flag} {}`", raw.escape_default()),
            "is not `KEY=VALUE`",
        )
        .hint(format!(
            "write it as `{flag} KEY=VALUE`, for example `{flag} LOG_LEVEL=info`"
        )));
    };
    Ok((key.to_string(), value.to_string()))
}

/// A configuration value: free text, except characters that no YAML emitter may write raw
/// and kustomize refuses to encode (control characters other than tab and line feed, DEL,
/// the C1 controls, and the non-characters U+FFFE and U+FFFF).
pub fn parse_config_value(key: &str, value: &str) -> Result<String, Problem> {
    let bad = value.chars().find(|c| {
        let code = u32::from(*c);
        (code < 0x20 && *c != '\t' && *c != '\n')
            || (0x7F..=0x9F).contains(&code)
            || code == 0xFFFE
            || code == 0xFFFF
            || code == 0xFEFF
    });
    match bad {
        None => Ok(value.to_string()),
        Some(c) => Err(Problem::new(format!("config value of `{key}`"), format!("contains the control character U+{:04X}, which kustomize cannot write into a ConfigMap", u32::from(c)))
            .hint("remove it; line breaks and tabs are fine")),
    }
}

/// An AWS account id: twelve digits.
/// A branch name strata writes into workflows, Argo CD's `targetRevision` and the READMEs'
/// shell commands: git's rules for a ref name (`git check-ref-format --branch`) within the
/// characters no shell reads specially (`A-Z a-z 0-9 . _ / -`).
pub fn parse_branch(value: &str) -> Result<String, Problem> {
    let safe = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'));
    let git_ok = !value.is_empty()
        && !value.starts_with(['-', '/', '.'])
        && !value.ends_with(['/', '.'])
        && !value.ends_with(".lock")
        && !value.contains("..")
        && !value.contains("//")
        && !value.contains("/.")
        && value != "HEAD";
    if safe && git_ok {
        return Ok(value.to_owned());
    }
    Err(Problem::new(
        format!("`--revision {}`", value.escape_default()),
        "is not a branch name strata can use: letters, digits, `.`, `_`, `/` and `-`, \
         not starting with `-`, `/` or `.`, no `..` or `//`",
    )
    .hint("use a branch such as `main` or `release/v1`"))
}

pub fn parse_account_id(value: &str) -> Result<String, Problem> {
    if value.len() == 12 && value.chars().all(|c| c.is_ascii_digit()) {
        Ok(value.to_string())
    } else {
        Err(Problem::new(
            format!("AWS account id `{}`", value.escape_default()),
            "is not twelve digits",
        )
        .hint("use the account id shown by `aws sts get-caller-identity`"))
    }
}

/// A GitHub numeric id (of a repository, a user or an organisation), as `gh api` prints it;
/// `what` names where it came from (a flag or a setting).
pub fn parse_github_id(what: &str, value: &str) -> Result<String, Problem> {
    if !value.is_empty() && value.len() <= 20 && value.chars().all(|c| c.is_ascii_digit()) {
        Ok(value.to_string())
    } else {
        Err(Problem::new(
            what.to_string(),
            format!("`{}` is not a GitHub id", value.escape_default()),
        )
        .hint("GitHub's ids are numbers: `gh api repos/OWNER/REPO --jq '.owner.id, .id'`"))
    }
}

/// Whether a git base is on github.com (HTTPS or SSH), where GitHub's ids mean something.
pub fn is_github(git_base: &str) -> bool {
    [
        "https://github.com/",
        "ssh://git@github.com/",
        "git@github.com:",
    ]
    .iter()
    .any(|prefix| git_base.starts_with(prefix))
}

/// How a git remote URL strata writes starts: HTTPS, SSH, or scp-like SSH.
pub const GIT_URL_PREFIXES: &[&str] = &["https://", "ssh://", "git@"];

/// A git remote base such as `https://github.com/acme` or `git@github.com:acme`.
pub fn parse_git_base(value: &str) -> Result<String, Problem> {
    let trimmed = value.trim_end_matches('/');
    let ok = GIT_URL_PREFIXES.iter().any(|p| trimmed.starts_with(p))
        && trimmed.len() > 10
        && trimmed.chars().all(|c| {
            c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '\\' | '{' | '}' | '#' | '?' | ' ')
        });
    if ok {
        Ok(trimmed.to_string())
    } else {
        Err(Problem::new(format!("git base `{}`", value.escape_default()), "is not a git remote base URL")
            .hint("use the URL of the organisation that holds the repos, for example `https://github.com/acme`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn ok<T: FromStr<Err = Problem>>(value: &str) {
        assert!(value.parse::<T>().is_ok(), "`{value}` should parse");
    }

    #[track_caller]
    fn bad<T: FromStr<Err = Problem> + fmt::Debug>(value: &str, needle: &str) {
        let problem = value.parse::<T>().expect_err(value);
        let text = problem.to_string();
        assert!(text.contains(needle), "`{text}` should contain `{needle}`");
        assert!(problem.hint.is_some(), "every problem has a hint");
    }

    #[test]
    fn a_refused_name_gets_a_label_to_use_instead() {
        assert_eq!(suggest_label("MyService", 30), "my-service");
        assert_eq!(suggest_label("Bad_Name", 30), "bad-name");
        assert_eq!(suggest_label("api v2", 30), "api-v2");
        assert_eq!(suggest_label("2fa", 30), "fa");
        assert_eq!(suggest_label("../x", 30), "x");
        assert_eq!(suggest_label("Billing-Service-Long", 12), "billing-serv");
        assert_eq!(suggest_label("!!!", 30), "app");
    }

    #[test]
    fn names_follow_dns_labels_and_length_limits() {
        ok::<ServiceName>("api");
        ok::<ServiceName>("billing-v2");
        ok::<ServiceName>(&"a".repeat(SERVICE_MAX));
        bad::<ServiceName>(&"a".repeat(SERVICE_MAX + 1), "limit is 30");
        bad::<ServiceName>("Api", "lowercase");
        bad::<ServiceName>("2fa", "start with a lowercase letter");
        for name in FOUNDATION_NAMESPACED_OBJECTS {
            bad::<ServiceName>(name, "the foundation creates an object of that name");
        }
        bad::<ServiceName>("api_v2", "contains `_`");
        bad::<ServiceName>("api-", "end with `-`");
        bad::<ServiceName>("../x", "start with a lowercase letter");
        bad::<ServiceName>("a/b", "contains `/`");
        bad::<ServiceName>("", "empty");
        bad::<EnvName>("kube-system", "reserved");
        bad::<EnvName>("argocd", "reserved");
        bad::<EnvName>("default", "reserved");
        bad::<EnvName>("shared", "reserved");
        bad::<EnvName>("productionxyz", "limit is 12");
        ok::<EnvName>("prod");
        ok::<EnvName>("qa2");
        bad::<EnvName>("x-dev", "contains `-`");
        bad::<EnvName>("apps", "reserved");
        bad::<ProjectName>(&"p".repeat(PROJECT_MAX + 1), "limit is 20");
    }

    #[test]
    fn names_yaml_reads_as_booleans_nulls_or_numbers_are_refused_issue_9() {
        for word in ["y", "n", "yes", "no", "on", "off", "true", "false", "null"] {
            bad::<EnvName>(word, "read by YAML as");
            bad::<ServiceName>(word, "read by YAML as");
            bad::<ProjectName>(word, "read by YAML as");
        }
        for (text, what) in [
            ("Yes", "a boolean"),
            ("NO", "a boolean"),
            ("True", "a boolean"),
            ("OFF", "a boolean"),
            ("~", "null"),
            ("Null", "null"),
            ("", "null"),
            ("123", "a number"),
            ("-7", "a number"),
            ("1e3", "a number"),
            ("6.02E+23", "a number"),
            ("0x1f", "a number"),
            ("0o7", "a number"),
            ("0b101", "a number"),
            ("017", "a number"),
            ("1_000", "a number"),
            ("1:30", "a number"),
            (".5", "a number"),
            (".inf", "a number"),
            ("-.Inf", "a number"),
            (".nan", "a number"),
            (".NaN", "a number"),
        ] {
            assert_eq!(yaml_non_string(text), Some(what), "{text:?}");
        }
        for text in [
            "api", "yesno", "e1", "inf", "nan", "x1", "dev", "0x", "1e", "a:1", "on-call",
        ] {
            assert_eq!(yaml_non_string(text), None, "{text:?}");
        }
        ok::<ServiceName>("on-call");
        ok::<EnvName>("yes2");
    }

    #[test]
    fn config_keys_strata_sets_itself_are_refused_issue_9() {
        for key in RESERVED_CONFIG_KEYS {
            let problem = parse_service_config_key(key).unwrap_err();
            assert!(problem.message.contains("set by strata itself"));
            assert!(problem.hint.is_some());
        }
        assert_eq!(parse_service_config_key("LOG_LEVEL").unwrap(), "LOG_LEVEL");
        assert!(parse_service_config_key("service_name").is_ok());
        for bad in [".", "..", "..x"] {
            assert!(parse_config_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_longest_names_still_fit_every_derived_name() {
        let project: ProjectName = "p".repeat(PROJECT_MAX).parse().unwrap();
        let env: EnvName = "e".repeat(ENV_MAX).parse().unwrap();
        let service: ServiceName = "s".repeat(SERVICE_MAX).parse().unwrap();
        // One more character is refused, so these are the longest names there can be.
        assert!("p".repeat(PROJECT_MAX + 1).parse::<ProjectName>().is_err());
        assert!("e".repeat(ENV_MAX + 1).parse::<EnvName>().is_err());
        assert!("s".repeat(SERVICE_MAX + 1).parse::<ServiceName>().is_err());
        let (project, env, service) = (project.as_str(), env.as_str(), service.as_str());
        assert!(
            role_name(project, env, service).len() <= IAM_ROLE_NAME_MAX,
            "IAM role names are at most 64 characters"
        );
        assert!(
            format!("{project}-{env}-ci-preview").len() <= IAM_ROLE_NAME_MAX,
            "so are the CI roles' names"
        );
        assert!(
            application_name(service, env).len() <= LABEL_MAX,
            "an Application's name is a label value: at most 63 characters"
        );
        assert!(
            cluster_name(project, env).len() <= EKS_CLUSTER_NAME_MAX,
            "EKS cluster names are at most 100 characters"
        );
        assert!(
            format!("{project}-{env}-internal").len() <= LABEL_MAX,
            "a load balancer group name is at most 63 characters"
        );
        assert!(
            env.len() <= LABEL_MAX,
            "the namespace is the environment's name"
        );
    }

    #[test]
    fn lists_report_duplicates_and_every_bad_item() {
        let problems = parse_list::<EnvName>("--envs", "dev,Dev,dev,kube-system").unwrap_err();
        assert_eq!(problems.len(), 3);
        assert_eq!(
            parse_list::<EnvName>("--envs", "").unwrap(),
            Vec::<EnvName>::new()
        );
        assert_eq!(
            parse_list::<EnvName>("--envs", "dev, prod").unwrap().len(),
            2
        );
    }

    #[test]
    fn regions_are_checked_by_shape() {
        for good in [
            "eu-west-1",
            "us-east-2",
            "ap-southeast-3",
            "us-gov-west-1",
            "il-central-1",
        ] {
            assert!(parse_region(good).is_ok(), "{good}");
        }
        for bad in [
            "eu-west",
            "mars-1",
            "EU-WEST-1",
            "eu-west-100",
            "",
            "eu-middle-1",
        ] {
            assert!(parse_region(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_and_pairs_are_checked() {
        assert!(parse_config_key("LOG_LEVEL").is_ok());
        assert!(parse_config_key("1X").is_err());
        assert!(parse_config_key("A B").is_err());
        assert_eq!(
            parse_key_value("--config", "A=b=c").unwrap(),
            ("A".into(), "b=c".into())
        );
        assert!(parse_key_value("--config", "novalue").is_err());
    }

    #[test]
    fn hosts_domains_and_urls_are_checked() {
        assert!(parse_domain("example.com").is_ok());
        assert!(parse_domain("localhost").is_err());
        assert!(parse_domain("Example.com").is_err());
        assert!(parse_domain("a..b").is_err());
        assert!(parse_domain("example.c0m").is_err());
        assert!(parse_domain("example.c").is_err());
        assert!(parse_domain("example.xn--p1ai").is_ok());
        assert!(parse_git_base("https://github.com/acme/").unwrap() == "https://github.com/acme");
        assert!(parse_git_base("ftp://x").is_err());
        assert!(parse_account_id("123456789012").is_ok());
        for good in ["main", "release/v1.2", "team_a-x"] {
            assert!(parse_branch(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "main$(id)",
            "a b",
            "-x",
            "a..b",
            "a//b",
            "x.lock",
            "HEAD",
            "a/.b",
            "é",
        ] {
            assert!(parse_branch(bad).is_err(), "{bad}");
        }
        assert!(parse_account_id("12345").is_err());
    }
}
