//! The rules the foundation checks again at `pulumi preview`, as the values of its `limits.py`.
//!
//! strata refuses bad input before it writes a stack file, and the foundation's `settings.py`
//! checks the stack file again (someone may edit it, or run an older program). Each limit both
//! check is defined once, in `model/`; this module gathers them for the `limits` value of the
//! templates, which the foundation pack renders into `limits.py` (strata-owned, rewritten by
//! `strata upgrade`) and `settings.py` imports. Nothing here is a rule of its own.

use serde::Serialize;

use crate::model::answers::{RepoCredentials, S3_BUCKET_MAX, S3_BUCKET_MIN};
use crate::model::names;
use crate::model::settings::{self, Nat};

/// Every limit of `limits.py`, named as the Python constant that holds it (in lowercase).
#[derive(Serialize)]
pub(super) struct Limits {
    vpc_prefix_min: u8,
    vpc_prefix_max: u8,
    az_count_min: u8,
    az_count_max: u8,
    nat_strategies: Vec<&'static str>,
    kubernetes_versions: Vec<&'static str>,
    support_types: &'static [&'static str],
    log_types: &'static [&'static str],
    required_log_types: &'static [&'static str],
    aws_partitions: &'static [&'static str],
    role_path_name_max: usize,
    capacity_types: &'static [&'static str],
    compute_choices: &'static [&'static str],
    identity_choices: &'static [&'static str],
    taint_effects: &'static [&'static str],
    node_disk_gib_min: u32,
    node_disk_gib_max: u32,
    addon_replicas_min: u32,
    addon_replicas_max: u32,
    external_dns_policies: &'static [&'static str],
    log_retention_days: &'static [u32],
    repo_credentials: Vec<&'static str>,
    git_url_prefixes: &'static [&'static str],
    project_name_max: usize,
    environment_name_max: usize,
    service_name_max: usize,
    node_group_name_max: usize,
    reserved_namespaces: &'static [&'static str],
    reserved_namespace_prefix: &'static str,
    reserved_environment_names: &'static [&'static str],
    label_max: usize,
    hostname_max: usize,
    tld_min: usize,
    idn_tld_prefix: &'static str,
    iam_role_name_max: usize,
    eks_cluster_name_max: usize,
    github_owner_max: usize,
    github_repository_name_max: usize,
    s3_bucket_min: usize,
    s3_bucket_max: usize,
}

pub(super) fn limits() -> Limits {
    Limits {
        vpc_prefix_min: settings::VPC_PREFIX_MIN,
        vpc_prefix_max: settings::VPC_PREFIX_MAX,
        az_count_min: settings::AZ_COUNT_MIN,
        az_count_max: settings::AZ_COUNT_MAX,
        nat_strategies: Nat::ALL.iter().map(|nat| nat.wire()).collect(),
        kubernetes_versions: settings::supported_versions(),
        support_types: settings::SUPPORT_TYPES,
        log_types: settings::LOG_TYPES,
        required_log_types: settings::REQUIRED_LOG_TYPES,
        aws_partitions: settings::AWS_PARTITIONS,
        role_path_name_max: settings::ROLE_PATH_NAME_MAX,
        capacity_types: settings::CAPACITY_TYPES,
        compute_choices: settings::COMPUTE_CHOICES,
        identity_choices: settings::IDENTITY_CHOICES,
        taint_effects: settings::TAINT_EFFECTS,
        node_disk_gib_min: settings::NODE_DISK_GIB_MIN,
        node_disk_gib_max: settings::NODE_DISK_GIB_MAX,
        addon_replicas_min: settings::ADDON_REPLICAS_MIN,
        addon_replicas_max: settings::ADDON_REPLICAS_MAX,
        external_dns_policies: settings::EXTERNAL_DNS_POLICIES,
        log_retention_days: settings::LOG_RETENTION_DAYS,
        repo_credentials: RepoCredentials::ALL.iter().map(|c| c.as_str()).collect(),
        git_url_prefixes: names::GIT_URL_PREFIXES,
        project_name_max: names::PROJECT_MAX,
        environment_name_max: names::ENV_MAX,
        service_name_max: names::SERVICE_MAX,
        node_group_name_max: settings::NODE_GROUP_NAME_MAX,
        reserved_namespaces: names::RESERVED_NAMESPACES,
        reserved_namespace_prefix: names::RESERVED_NAMESPACE_PREFIX,
        reserved_environment_names: names::RESERVED_ENV_NAMES,
        label_max: names::LABEL_MAX,
        hostname_max: names::HOSTNAME_MAX,
        tld_min: names::TLD_MIN,
        idn_tld_prefix: names::IDN_TLD_PREFIX,
        iam_role_name_max: names::IAM_ROLE_NAME_MAX,
        eks_cluster_name_max: names::EKS_CLUSTER_NAME_MAX,
        github_owner_max: names::GITHUB_OWNER_MAX,
        github_repository_name_max: names::GITHUB_REPOSITORY_NAME_MAX,
        s3_bucket_min: S3_BUCKET_MIN,
        s3_bucket_max: S3_BUCKET_MAX,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const TEMPLATE: &str = include_str!("../../templates/packs/pulumi-python/limits.py.tera");
    const SETTINGS: &str = include_str!("../../templates/packs/pulumi-python/settings.py");

    /// The constants `limits.py` defines: its lines `NAME = ...`.
    fn defined() -> BTreeSet<String> {
        TEMPLATE
            .lines()
            .filter_map(|line| line.split_once(" = "))
            .map(|(name, _)| name.to_string())
            .filter(|name| {
                name.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .collect()
    }

    #[test]
    fn limits_py_writes_every_limit_and_only_strata_s_values_issue_18() {
        let fields: BTreeSet<String> = serde_json::to_value(limits())
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.to_uppercase())
            .collect();
        assert_eq!(defined(), fields, "each limit is written once, by its name");
        for field in &fields {
            let value = format!("limits.{}", field.to_lowercase());
            assert!(TEMPLATE.contains(&value), "`{field}` is not from `{value}`");
        }
    }

    #[test]
    fn settings_py_imports_every_limit_and_defines_none_itself_issue_18() {
        let start = SETTINGS
            .find("from limits import (")
            .expect("settings.py imports the limits");
        let end = start + SETTINGS[start..].find(')').expect("the import ends");
        let imported: BTreeSet<String> = SETTINGS[start..end]
            .trim_start_matches("from limits import (")
            .split(',')
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty())
            .collect();
        assert_eq!(imported, defined(), "settings.py checks every limit");
        for name in defined() {
            assert!(
                !SETTINGS.contains(&format!("\n{name} = ")),
                "settings.py defines `{name}` itself"
            );
        }
    }
}
