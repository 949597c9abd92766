//! Layer 3 as changes to the answers: turn a platform service (monitoring, logging) on or off.
//!
//! Pure, like `grow.rs`: answers in, answers out, every problem reported at once. Which platform
//! services exist and which are on is the model's (`model/platform.rs`); what each renders
//! lives in the templates (`templates/gitops/platform/`, and the foundation's `platform` stack
//! key). This module renders nothing.

use crate::model::answers::Answers;
use crate::model::platform::Component;
use crate::util::problem::{Problem, Problems};

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
