//! Layer 3 as changes to the answers: turn a platform service (monitoring, logging) on or off.
//!
//! Pure, like `grow.rs`: answers in, answers out, every problem reported at once. What each
//! service renders lives in the templates (`templates/gitops/platform/`, and the foundation's
//! `platform` stack key); this module only decides whether it is on.

use crate::model::answers::Answers;
use crate::util::problem::{did_you_mean, Problem, Problems};

/// A platform service `strata add platform` and `strata remove platform` know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// kube-prometheus-stack: Prometheus, Alertmanager, Grafana, and a ServiceMonitor per service.
    Monitoring,
    /// Fluent Bit to CloudWatch Logs.
    Logging,
}

impl Component {
    pub const ALL: [Component; 2] = [Component::Monitoring, Component::Logging];

    pub fn as_str(self) -> &'static str {
        match self {
            Component::Monitoring => "monitoring",
            Component::Logging => "logging",
        }
    }

    /// Whether the component is on in these answers.
    pub fn enabled(self, answers: &Answers) -> bool {
        let platform = &answers.settings.platform;
        match self {
            Component::Monitoring => platform.monitoring.enabled,
            Component::Logging => platform.logging.enabled,
        }
    }

    fn set(self, answers: &mut Answers, on: bool) {
        let platform = &mut answers.settings.platform;
        match self {
            Component::Monitoring => platform.monitoring.enabled = on,
            Component::Logging => platform.logging.enabled = on,
        }
    }
}

impl std::str::FromStr for Component {
    type Err = Problem;
    fn from_str(value: &str) -> Result<Self, Problem> {
        if let Some(found) = Component::ALL.iter().find(|c| c.as_str() == value) {
            return Ok(*found);
        }
        let names = Component::ALL.map(Component::as_str);
        let problem = Problem::new(
            format!("platform service `{}`", value.escape_default()),
            "is not one strata knows",
        );
        Err(match did_you_mean(value, names.iter().copied()) {
            Some(close) => problem.hint(format!(
                "did you mean `{close}`? use one of: monitoring, logging"
            )),
            None => problem.hint("use one of: monitoring, logging"),
        })
    }
}

/// Turns a platform service on; refused when it is on already.
pub fn add(answers: &mut Answers, name: &str) -> Result<Component, Problems> {
    let component: Component = name.parse().map_err(Problems::from)?;
    if component.enabled(answers) {
        return Err(Problem::new(
            format!("platform service `{}`", component.as_str()),
            "is already on",
        )
        .hint(format!(
            "`strata list` shows the platform services; `strata remove platform {}` turns it off",
            component.as_str()
        ))
        .into());
    }
    component.set(answers, true);
    let problems = answers.settings.platform.validate();
    if !problems.is_empty() {
        component.set(answers, false);
        return Err(problems);
    }
    answers
        .history
        .push(format!("add platform {}", component.as_str()));
    Ok(component)
}

/// Turns a platform service off; refused when it is off already.
pub fn remove(answers: &mut Answers, name: &str) -> Result<Component, Problems> {
    let component: Component = name.parse().map_err(Problems::from)?;
    if !component.enabled(answers) {
        return Err(Problem::new(
            format!("platform service `{}`", component.as_str()),
            "is not on",
        )
        .hint("`strata list` shows the platform services")
        .into());
    }
    component.set(answers, false);
    answers
        .history
        .push(format!("remove platform {}", component.as_str()));
    Ok(component)
}

/// The platform services that are on, in a fixed order.
pub fn enabled(answers: &Answers) -> Vec<Component> {
    Component::ALL
        .into_iter()
        .filter(|c| c.enabled(answers))
        .collect()
}

/// Where the gitops repo disagrees with the answers about the platform services: an
/// Application missing for a service that is on (per stack), or a `platform/<dir>/` that no
/// stack with platform services owns. `exists` tells whether a gitops path exists; `on_disk`
/// lists the directories under `platform/`.
pub fn drift(answers: &Answers, exists: impl Fn(&str) -> bool, on_disk: &[String]) -> Vec<String> {
    let on = enabled(answers);
    let stacks: Vec<String> = if on.is_empty() {
        Vec::new()
    } else {
        crate::model::stack::stacks(answers)
            .into_iter()
            .map(|s| s.name)
            .collect()
    };
    let mut drift = Vec::new();
    for stack in &stacks {
        for component in &on {
            let path = format!("platform/{stack}/apps/{}.yaml", component.as_str());
            if !exists(&path) {
                drift.push(format!(
                    "platform service `{}`: the gitops repo has no `{path}`",
                    component.as_str()
                ));
            }
        }
    }
    for dir in on_disk {
        if !stacks.contains(dir) {
            drift.push(format!(
                "`platform/{dir}/` is on disk but `strata.toml` runs no platform service on a stack `{dir}`"
            ));
        }
    }
    drift
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_components_get_a_suggestion() {
        let problem = "monitorng".parse::<Component>().unwrap_err();
        assert!(
            problem.to_string().contains("did you mean `monitoring`"),
            "{problem}"
        );
        assert_eq!("logging".parse::<Component>().unwrap(), Component::Logging);
    }
}
