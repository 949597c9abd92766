//! The platform services strata knows (layer 3: monitoring, logging), and which of them the
//! answers turn on. Turning one on or off is a job (`jobs/platform.rs`); what each renders
//! lives in the templates. Nothing here changes answers on its own account or renders.

use crate::model::answers::Answers;
use crate::util::problem::{did_you_mean, Problem};

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

    /// Turns the component on or off in the answers (the jobs validate what follows).
    pub fn set(self, answers: &mut Answers, on: bool) {
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

/// The platform services that are on, in a fixed order.
pub fn enabled(answers: &Answers) -> Vec<Component> {
    Component::ALL
        .into_iter()
        .filter(|c| c.enabled(answers))
        .collect()
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
