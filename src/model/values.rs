//! A service's values, each parsed once into a type: [`Replicas`], [`Port`], [`Cpu`],
//! [`Memory`], [`Image`] (an [`ImageName`] and an [`ImageTag`]), [`HttpPath`] and
//! [`HostPattern`].
//!
//! Parse, don't validate: the settings step (`jobs/grow.rs`) parses a command's input into
//! these, `strata.toml` deserializes into them (a bad value is reported at its line and
//! column), and renderers take them as they are: nothing downstream parses or checks these
//! strings again. Each rule is written here once; a caller that reports it about a flag or a
//! setting changes the problem's subject, not the rule. No I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::names::check_hostname;
use crate::util::problem::Problem;

/// Implements `Display`, `AsRef<str>` and serde (a string, parsed through `FromStr` when read)
/// for a newtype over a `String`.
macro_rules! string_value {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
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

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            /// For `strata.toml`: the problem's text becomes the parser's message, which names
            /// the file, line and column.
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                value.parse().map_err(|problem: Problem| {
                    serde::de::Error::custom(format!("{}: {}", problem.subject, problem.message))
                })
            }
        }
    };
}

/// The bounds of a service's HorizontalPodAutoscaler in one environment: `1 <= min <= max`.
/// Kubernetes refuses a `minReplicas` of 0 (without the alpha `HPAScaleToZero`) and a
/// `maxReplicas` below `minReplicas`; this is the one place strata checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replicas {
    min: u32,
    max: u32,
}

impl Replicas {
    pub fn new(min: u32, max: u32) -> Result<Self, Problem> {
        if 1 <= min && min <= max {
            Ok(Self { min, max })
        } else {
            Err(Problem::new(
                "replica bounds",
                format!("1 <= min {min} <= max {max} does not hold"),
            )
            .hint("keep 1 <= --min <= --max"))
        }
    }

    pub fn min(self) -> u32 {
        self.min
    }

    pub fn max(self) -> u32 {
        self.max
    }
}

/// The port a container listens on: 1 to 65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u16")]
pub struct Port(u16);

impl Port {
    pub fn new(value: u32) -> Result<Self, Problem> {
        u16::try_from(value)
            .ok()
            .filter(|port| *port > 0)
            .map(Self)
            .ok_or_else(|| {
                Problem::new(format!("port `{value}`"), "is outside 1 to 65535")
                    .hint("use the port the container listens on, for example `8080`")
            })
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u32> for Port {
    type Error = String;
    fn try_from(value: u32) -> Result<Self, String> {
        Self::new(value).map_err(|problem| format!("{}: {}", problem.subject, problem.message))
    }
}

impl From<Port> for u16 {
    fn from(port: Port) -> u16 {
        port.0
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A Kubernetes CPU quantity (`250m`, `1`, `0.5`), kept as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Cpu(String);

impl Cpu {
    /// The quantity in millicores, for comparing requests with limits.
    pub fn millis(&self) -> f64 {
        match self.0.strip_suffix('m') {
            Some(number) => parse_decimal(number),
            None => parse_decimal(&self.0) * 1000.0,
        }
    }

    /// The larger of two quantities; `self` when they are equal.
    pub fn max<'a>(&'a self, other: &'a Cpu) -> &'a Cpu {
        if other.millis() > self.millis() {
            other
        } else {
            self
        }
    }
}

impl FromStr for Cpu {
    type Err = Problem;

    fn from_str(value: &str) -> Result<Self, Problem> {
        let number = value.strip_suffix('m').unwrap_or(value);
        if is_positive_decimal(number) {
            Ok(Self(value.to_string()))
        } else {
            Err(Problem::new(
                format!("CPU quantity `{}`", value.escape_default()),
                "is not a CPU quantity",
            )
            .hint("use millicores such as `250m` or cores such as `1` or `0.5`"))
        }
    }
}

string_value!(Cpu);

/// A Kubernetes memory quantity (`128Mi`, `1Gi`, `500M`), kept as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Memory(String);

/// The suffixes of a memory quantity strata takes, and their factors.
const MEMORY_SUFFIXES: &[(&str, f64)] = &[
    ("Ki", 1024.0),
    ("Mi", 1_048_576.0),
    ("Gi", 1_073_741_824.0),
    ("Ti", 1_099_511_627_776.0),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
];

impl Memory {
    /// The quantity in bytes, for comparing requests with limits.
    pub fn bytes(&self) -> f64 {
        let (number, factor) = split_memory(&self.0);
        parse_decimal(number) * factor
    }

    /// The larger of two quantities; `self` when they are equal.
    pub fn max<'a>(&'a self, other: &'a Memory) -> &'a Memory {
        if other.bytes() > self.bytes() {
            other
        } else {
            self
        }
    }
}

/// A memory quantity's number and the factor of its suffix.
fn split_memory(value: &str) -> (&str, f64) {
    MEMORY_SUFFIXES
        .iter()
        .find_map(|(suffix, factor)| value.strip_suffix(suffix).map(|n| (n, *factor)))
        .unwrap_or((value, 1.0))
}

impl FromStr for Memory {
    type Err = Problem;

    fn from_str(value: &str) -> Result<Self, Problem> {
        if is_positive_decimal(split_memory(value).0) {
            Ok(Self(value.to_string()))
        } else {
            Err(Problem::new(
                format!("memory quantity `{}`", value.escape_default()),
                "is not a memory quantity",
            )
            .hint("use a binary suffix such as `128Mi` or `1Gi`"))
        }
    }
}

string_value!(Memory);

/// Digits with at most one `.` between digits, above zero.
fn is_positive_decimal(value: &str) -> bool {
    let mut parts = value.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()))
        && parse_decimal(value) > 0.0
}

/// The value of a checked decimal (digits and one `.` at most, which `f64` always reads).
fn parse_decimal(value: &str) -> f64 {
    value.parse::<f64>().unwrap_or(0.0)
}

/// A container image with a pinned tag, split into the name kustomize rewrites and its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub name: ImageName,
    pub tag: ImageTag,
}

/// An image's repository, with its registry: `ghcr.io/acme/api`, `nginx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName(String);

/// An image's tag: not `latest`, which makes deployments unrepeatable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTag(String);

/// The problem with an image: `value` is the reference as given, `why` what is wrong.
fn image_problem(value: &str, why: &str) -> Problem {
    Problem::new(
        format!("image `{}`", value.escape_default()),
        why.to_string(),
    )
    .hint("use `registry/repository:tag`, for example `ghcr.io/acme/api:1.4.2`")
}

impl FromStr for Image {
    type Err = Problem;

    fn from_str(value: &str) -> Result<Self, Problem> {
        if value.contains('@') {
            return Err(image_problem(value, "carries a digest; give a tag here and pin the digest in the overlay's `images` entry"));
        }
        let (name, tag) = match value.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, tag),
            _ => return Err(image_problem(value, "has no tag")),
        };
        check_tag(tag).map_err(|why| image_problem(value, why))?;
        check_name(name).map_err(|why| image_problem(value, why))?;
        Ok(Self {
            name: ImageName(name.to_string()),
            tag: ImageTag(tag.to_string()),
        })
    }
}

impl FromStr for ImageName {
    type Err = Problem;

    fn from_str(value: &str) -> Result<Self, Problem> {
        check_name(value).map_err(|why| image_problem(value, why))?;
        Ok(Self(value.to_string()))
    }
}

impl FromStr for ImageTag {
    type Err = Problem;

    fn from_str(value: &str) -> Result<Self, Problem> {
        check_tag(value).map_err(|why| {
            Problem::new(
                format!("image tag `{}`", value.escape_default()),
                why.to_string(),
            )
            .hint("use the tag of a release, for example `1.4.2`")
        })?;
        Ok(Self(value.to_string()))
    }
}

string_value!(ImageName);
string_value!(ImageTag);

/// An image tag: 1 to 128 of letters, digits, `_`, `.` and `-`, not starting with `.` or `-`,
/// and not `latest`.
fn check_tag(tag: &str) -> Result<(), &'static str> {
    if tag == "latest" {
        return Err("uses the `latest` tag, which makes deployments unrepeatable");
    }
    let valid = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(())
    } else {
        Err("has an invalid tag")
    }
}

/// An image repository: an optional registry host (with a port), then path components of
/// lowercase letters, digits, `.`, `_` and `-`.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 255 {
        return Err("has an empty or too long repository");
    }
    let mut components = name.split('/').peekable();
    let first = components.next().unwrap_or_default();
    let first_is_registry = first.contains('.') || first.contains(':') || first == "localhost";
    let check_path = |c: &str| {
        !c.is_empty()
            && c.chars().all(|ch| {
                ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-')
            })
            && c.chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_alphanumeric())
            && c.chars()
                .last()
                .is_some_and(|ch| ch.is_ascii_alphanumeric())
    };
    if first_is_registry {
        let (host, port) = first.split_once(':').unwrap_or((first, ""));
        if check_hostname("registry", host).is_err()
            || !(port.is_empty() || port.parse::<u16>().is_ok())
        {
            return Err("has an invalid registry host");
        }
        if components.peek().is_none() {
            return Err("has a registry but no repository");
        }
    } else if !check_path(first) {
        return Err("has an invalid repository name");
    }
    if components.all(check_path) {
        Ok(())
    } else {
        Err("has an invalid repository name")
    }
}

/// An HTTP path of the Ingress or the probes: starts with `/`, no spaces or control
/// characters, nothing YAML or an Ingress would read otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPath(String);

impl HttpPath {
    /// Parses a path; `kind` names it in the problem (`` `--path` ``, `health path`).
    pub fn parse(kind: &str, value: &str) -> Result<Self, Problem> {
        let valid = value.starts_with('/')
            && value.len() <= 1024
            && value
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '{' | '}' | '#' | '?'));
        if valid {
            Ok(Self(value.to_string()))
        } else {
            Err(Problem::new(
                format!("{kind} `{}`", value.escape_default()),
                "is not an HTTP path",
            )
            .hint("use a path that starts with `/`, for example `/` or `/api`"))
        }
    }
}

impl FromStr for HttpPath {
    type Err = Problem;
    fn from_str(value: &str) -> Result<Self, Problem> {
        Self::parse("path", value)
    }
}

string_value!(HttpPath);

/// The host a service is reached at, as a pattern: `{service}`, `{env}` and `{domain}` are
/// replaced in each environment. On its own it must make a DNS name whatever the placeholders
/// hold; [`HostPattern::check`] adds the rules that need the workspace (under the domain, one
/// host per environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern(String);

impl HostPattern {
    /// `{service}.{env}.{domain}`: every service in every environment gets a host of its own
    /// under the environment's wildcard certificate.
    pub fn default_pattern() -> Self {
        Self("{service}.{env}.{domain}".to_string())
    }

    /// The host of one service in one environment.
    pub fn expand(&self, service: &str, env: &str, domain: &str) -> String {
        self.0
            .replace("{service}", service)
            .replace("{env}", env)
            .replace("{domain}", domain)
    }

    /// The rules that need the workspace: each host the pattern makes (once per host) is under
    /// `domain`, where External DNS manages records, and a service in more than one environment
    /// has `{env}` in it. Each problem is about the pattern; the caller names where it came from.
    pub fn check(&self, service: &str, envs: &[&str], domain: &str) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut hosts: Vec<String> = Vec::new();
        for env in envs {
            let host = self.expand(service, env, domain);
            if hosts.contains(&host) {
                continue;
            }
            if let Err(problem) = check_host_under(&host, domain) {
                problems.push(problem);
                break;
            }
            hosts.push(host);
        }
        if envs.len() > 1 && !self.0.contains("{env}") {
            problems.push(
                Problem::new(
                    format!("host `{self}`"),
                    "is the same host in every environment of the service",
                )
                .hint("put `{env}` in `--host`, for example `api.{env}.example.com`"),
            );
        }
        problems
    }
}

impl FromStr for HostPattern {
    type Err = Problem;

    fn from_str(value: &str) -> Result<Self, Problem> {
        // Any label a placeholder may hold: a host made from it is a DNS name when the pattern's
        // own characters are.
        let sample = value
            .replace("{service}", "s")
            .replace("{env}", "e")
            .replace("{domain}", "example.com");
        check_hostname("host", &sample).map_err(|problem| {
            Problem::new(
                format!("host `{}`", value.escape_default()),
                problem.message,
            )
            .hint("use lowercase letters, digits, `-`, `.` and the placeholders `{service}`, `{env}` and `{domain}`, for example `api.{env}.example.com`")
        })?;
        Ok(Self(value.to_string()))
    }
}

string_value!(HostPattern);

/// A host must be a DNS name inside the project's domain, where External DNS manages records.
pub fn check_host_under(host: &str, domain: &str) -> Result<(), Problem> {
    check_hostname("host", host)?;
    if host == domain || host.ends_with(&format!(".{domain}")) {
        Ok(())
    } else {
        Err(Problem::new(
            format!("host `{host}`"),
            format!("is outside the domain `{domain}`, whose records External DNS manages"),
        )
        .hint(format!(
            "use a host under `{domain}`, for example `api.{{env}}.{domain}`"
        )))
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
    fn replica_bounds_need_one_at_least_and_min_at_most_max() {
        assert!(Replicas::new(1, 1).is_ok());
        assert_eq!(Replicas::new(2, 5).unwrap().max(), 5);
        assert!(Replicas::new(0, 3).is_err());
        let problem = Replicas::new(3, 2).unwrap_err();
        assert_eq!(problem.message, "1 <= min 3 <= max 2 does not hold");
    }

    #[test]
    fn images_need_a_pinned_tag() {
        let image: Image = "ghcr.io/acme/api:1.4.2".parse().unwrap();
        assert_eq!(image.name.as_str(), "ghcr.io/acme/api");
        assert_eq!(image.tag.as_str(), "1.4.2");
        ok::<Image>("nginx:1.27");
        ok::<Image>("localhost:5000/team/api:v1");
        bad::<Image>("nginx", "no tag");
        bad::<Image>("nginx:latest", "latest");
        bad::<Image>("Nginx:1", "invalid repository");
        bad::<Image>("nginx:1 2", "invalid tag");
        bad::<Image>("nginx@sha256:abc", "digest");
        bad::<Image>("localhost:5000:1", "no repository");
        bad::<Image>("local_host:5000/x:1", "invalid registry");
        bad::<ImageTag>("latest", "latest");
        bad::<ImageName>("Nginx", "invalid repository");
    }

    #[test]
    fn quantities_are_checked_and_compared() {
        ok::<Cpu>("250m");
        ok::<Cpu>("0.5");
        ok::<Cpu>("2");
        for bad_cpu in ["-1", "0", "1.", "abc", "", "m"] {
            bad::<Cpu>(bad_cpu, "is not a CPU quantity");
        }
        ok::<Memory>("128Mi");
        ok::<Memory>("1Gi");
        bad::<Memory>("12MB", "is not a memory quantity");
        bad::<Memory>("0Gi", "is not a memory quantity");
        let cpu = |v: &str| v.parse::<Cpu>().unwrap();
        let memory = |v: &str| v.parse::<Memory>().unwrap();
        assert!((cpu("1").millis() - 1000.0).abs() < f64::EPSILON);
        assert_eq!(cpu("500m").max(&cpu("1")).as_str(), "1");
        assert_eq!(cpu("1").max(&cpu("1000m")).as_str(), "1");
        assert!((memory("1Ki").bytes() - 1024.0).abs() < f64::EPSILON);
        assert_eq!(memory("1Gi").max(&memory("512Mi")).as_str(), "1Gi");
    }

    #[test]
    fn ports_and_paths_are_checked() {
        assert!(Port::new(0).is_err());
        assert!(Port::new(70000).is_err());
        assert_eq!(Port::new(8080).unwrap().get(), 8080);
        assert!(HttpPath::parse("--path", "/api").is_ok());
        assert!(HttpPath::parse("--path", "api").is_err());
        assert!(HttpPath::parse("--path", "/a b").is_err());
    }

    #[test]
    fn host_patterns_make_dns_names_under_the_domain() {
        let pattern: HostPattern = "{service}.{env}.{domain}".parse().unwrap();
        assert_eq!(pattern, HostPattern::default_pattern());
        assert_eq!(
            pattern.expand("api", "dev", "example.com"),
            "api.dev.example.com"
        );
        assert!(pattern
            .check("api", &["dev", "prod"], "example.com")
            .is_empty());
        bad::<HostPattern>("{name}.example.com", "not a valid DNS name");
        bad::<HostPattern>("API.example.com", "not a valid DNS name");
        let fixed: HostPattern = "api.example.org".parse().unwrap();
        let problems = fixed.check("api", &["dev", "prod"], "example.com");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].message.contains("outside the domain"));
        assert!(problems[1]
            .message
            .contains("same host in every environment"));
        assert!(check_host_under("badexample.com", "example.com").is_err());
    }

    #[test]
    fn values_read_from_strata_toml_are_parsed_there() {
        #[derive(Debug, Deserialize)]
        struct Values {
            #[allow(dead_code)]
            cpu: Cpu,
            #[allow(dead_code)]
            port: Port,
        }
        assert!(toml::from_str::<Values>("cpu = \"250m\"\nport = 8080").is_ok());
        let err = toml::from_str::<Values>("cpu = \"lots\"\nport = 8080").unwrap_err();
        assert!(err.message().contains("CPU quantity `lots`"), "{err}");
        let err = toml::from_str::<Values>("cpu = \"1\"\nport = 0").unwrap_err();
        assert!(err.message().contains("port `0`: is outside"), "{err}");
    }
}
