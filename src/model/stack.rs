//! The Pulumi stacks of a workspace: which clusters (and VPCs) the foundation runs, and which
//! environments each serves. Derived from the answers alone; renderers, the inventory and the
//! ownership of `platform/<stack>/` all ask here.

use crate::model::answers::Answers;
use crate::model::settings::Topology;

/// A Pulumi stack of the foundation: one cluster with its VPC, serving some environments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub name: String,
    pub cluster: String,
    pub vpc_cidr: String,
    /// Indexes into `answers.environments`.
    pub envs: Vec<usize>,
}

/// The Pulumi stacks of a workspace: `shared` (every environment) or one per environment.
pub fn stacks(answers: &Answers) -> Vec<Stack> {
    match answers.settings.network.topology {
        Topology::Shared => vec![Stack {
            name: "shared".to_string(),
            cluster: answers.project.to_string(),
            vpc_cidr: answers.settings.network.vpc_cidr.clone(),
            envs: (0..answers.environments.len()).collect(),
        }],
        Topology::PerEnvironment => answers
            .environments
            .iter()
            .enumerate()
            .map(|(i, env)| Stack {
                name: env.name.to_string(),
                cluster: crate::model::names::cluster_name(&answers.project, &env.name),
                vpc_cidr: env.vpc_cidr.clone().unwrap_or_default(),
                envs: vec![i],
            })
            .collect(),
    }
}
