//! The command line, as clap structs. Only parsing lives here: commands turn these into typed,
//! validated settings before doing anything (`commands/*`). The shell completions and the man
//! page are generated from the same structs (`completions`, `man_page`), the one other use of
//! clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Scaffold and grow an AWS EKS platform as two git repositories: a Pulumi foundation
/// (infrastructure) and an Argo CD gitops repo (applications).
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bootstrap a new project: create `<NAME>-foundation` and `<NAME>-gitops`, each a git repo
    /// with one commit on `main`.
    New(Box<NewArgs>),
    /// Add a service, an environment or a platform service to both repos.
    #[command(subcommand)]
    Add(AddCommand),
    /// Remove a service, an environment or a platform service from both repos.
    #[command(subcommand)]
    Remove(RemoveCommand),
    /// Change project settings (every key of `strata presets --keys`, and `aws_account_id`) in
    /// both repos' `strata.toml` at once, and re-render both repos.
    Set(SetArgs),
    /// Change what exists: a service's values.
    #[command(subcommand)]
    Edit(EditCommand),
    /// Carry a workspace to this strata's templates: re-render both repos from `strata.toml`
    /// and merge three ways where files were edited, keeping every edit.
    Upgrade(UpgradeArgs),
    /// List the services and environments of a workspace, checked against the disk.
    List(ListArgs),
    /// List the presets, one line each.
    Presets(PresetsArgs),
    /// List the template packs, one line each.
    Packs(PacksArgs),
    /// Check that Pulumi manages the infrastructure and GitOps the applications, in a
    /// workspace, in any gitops repo and in Pulumi stack exports. Exits 1 with findings.
    Check(CheckArgs),
    /// Move the applications of a Pulumi stack export into the gitops repo, and write the plan
    /// (`MIGRATION.md`) that takes them out of Pulumi.
    Migrate(Box<MigrateArgs>),
    /// Print the completion script of a shell on stdout, for example
    /// `strata completions bash > ~/.local/share/bash-completion/completions/strata`.
    Completions(CompletionsArgs),
    /// Print strata's man page (roff) on stdout, for example `strata man > strata.1`.
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Writes the completion script of `shell` for every command and flag.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    use clap::CommandFactory;
    clap_complete::generate(shell, &mut Cli::command(), "strata", out);
}

/// Writes strata's man page, with a section for every command.
pub fn man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap::CommandFactory;
    let command = Cli::command();
    clap_mangen::Man::new(command.clone()).render(out)?;
    for sub in command.get_subcommands() {
        for inner in std::iter::once(sub).chain(sub.get_subcommands()) {
            let name = if std::ptr::eq(inner, sub) {
                format!("strata {}", sub.get_name())
            } else {
                format!("strata {} {}", sub.get_name(), inner.get_name())
            };
            if inner.has_subcommands() {
                continue;
            }
            out.write_all(format!(".SH \"{}\"\n", name.to_uppercase()).as_bytes())?;
            let page = clap_mangen::Man::new(inner.clone());
            page.render_description_section(out)?;
            page.render_options_section(out)?;
        }
    }
    Ok(())
}

#[derive(Debug, Args, Clone)]
pub struct NewArgs {
    /// The project name: a lowercase DNS label of at most 20 characters (asked for on a
    /// terminal when left out).
    pub name: Option<String>,
    /// Where to create the two repos.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// The preset that sets the platform's defaults (`strata presets` lists them) [default:
    /// startup].
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// The template pack of the foundation (`strata packs` lists them) [default:
    /// pulumi-python].
    #[arg(long, value_name = "NAME")]
    pub pack: Option<String>,
    /// AWS region, for example `eu-west-1` [default: the preset's].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Comma-separated environment names, for example `dev,staging,prod` [default: the
    /// preset's].
    #[arg(long, value_name = "LIST")]
    pub envs: Option<String>,
    /// Comma-separated service names, for example `api,web`.
    #[arg(long, value_name = "LIST")]
    pub services: Option<String>,
    /// The DNS domain whose public hosted zone External DNS manages, for example
    /// `acme.example.com` (required: strata never guesses it).
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// The URL that holds both repos, for example `https://github.com/acme`; Argo CD pulls
    /// `<URL>/<NAME>-gitops.git` (required: strata never guesses it).
    #[arg(long, value_name = "URL")]
    pub git_base: Option<String>,
    /// The AWS account id, needed for the role ARNs of services with `--aws-role` (IRSA).
    #[arg(long, value_name = "ID")]
    pub account_id: Option<String>,
    /// GitHub's numeric id of the owner (organisation or user) of the foundation repo: with
    /// `--github-repository-id`, the CI roles trust only that repository's immutable subject.
    /// Later: `strata set github.owner_id=ID`.
    #[arg(long, value_name = "ID")]
    pub github_owner_id: Option<String>,
    /// GitHub's numeric id of the foundation repo (`gh api repos/OWNER/REPO --jq .id`), given
    /// with `--github-owner-id`. Later: `strata set github.repository_id=ID`.
    #[arg(long, value_name = "ID")]
    pub github_repository_id: Option<String>,
    /// Each environment in an AWS account of its own, for example
    /// `dev=111111111111,prod=222222222222`: every environment is named once. Each stack then
    /// assumes the deployer role of its account and may touch no other account.
    #[arg(long, value_name = "ENV=ID,...")]
    pub account: Option<String>,
    /// The branch Argo CD follows.
    #[arg(long, value_name = "BRANCH", default_value = "main")]
    pub revision: String,
    /// Comma-separated CIDRs allowed to reach the Kubernetes API's public endpoint, for
    /// example `203.0.113.0/24`. Without it the endpoint opens to no one: `pulumi preview`
    /// stops and names the config key to set.
    #[arg(long, value_name = "LIST")]
    pub api_cidrs: Option<String>,
    /// An IAM role granted cluster-admin through an EKS access entry (repeatable), for example
    /// `arn:aws:iam::123456789012:role/platform-admin`.
    #[arg(long = "admin-role", value_name = "ARN")]
    pub admin_roles: Vec<String>,
    /// Where Pulumi keeps the foundation's state: `s3://BUCKET[/PREFIX]`, `pulumi-cloud`,
    /// `pulumi-cloud:ORG` or `local` [default: pulumi-cloud].
    #[arg(long, value_name = "BACKEND")]
    pub backend: Option<String>,
    /// The secrets provider of every stack: `default`, `passphrase` or a KMS URL such as
    /// `awskms://alias/NAME?region=REGION` [default: the backend's: KMS alias
    /// `<NAME>-pulumi` with S3, Pulumi Cloud's own, a passphrase when local].
    #[arg(long, value_name = "PROVIDER")]
    pub secrets_provider: Option<String>,
    /// The gitops repo is public: Argo CD needs no credential to read it.
    #[arg(long)]
    pub public_repo: bool,
    /// Your organisation's templates: `DIR/foundation/<path>` and `DIR/gitops/<path>` replace
    /// the pack's templates of the same path. They are copied into each repo's
    /// `.strata/templates/`, where every later command finds them.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Override one preset value, for example `cluster.version=1.34` (repeatable;
    /// `strata presets --keys` lists the keys).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Create the directories but no git repos.
    #[arg(long)]
    pub no_git: bool,
    /// Never ask: a value left out takes its default, and a required one (`<NAME>`,
    /// `--domain`, `--git-base`) is an error. Without a terminal strata never asks either.
    #[arg(long)]
    pub no_input: bool,
    /// Print the diff of every file that would be created, per repo, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the outcome as JSON on stdout (docs/json.md); with `--dry-run`, the plan.
    #[arg(long)]
    pub json: bool,
}

/// Where the workspace is and how to apply a change: shared by `add` and `remove`.
#[derive(Debug, Args, Clone)]
pub struct ChangeArgs {
    /// Either repo of the workspace.
    #[arg(short = 'C', value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Print a unified diff of every change in both repos, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Make one commit in each repo that changed.
    #[arg(long)]
    pub commit: bool,
    /// Overwrite or delete files that were edited since strata wrote them; with `remove env`,
    /// also remove an environment whose Pulumi stack file is still there (the stack keeps
    /// running: destroy it first).
    #[arg(long)]
    pub force: bool,
    /// Proceed even when files strata must touch have uncommitted changes (not with --commit,
    /// which would commit them along).
    #[arg(long)]
    pub allow_dirty: bool,
    /// Print the outcome as JSON on stdout (docs/json.md): files created, updated, deleted
    /// and kept per repo; with `--dry-run`, the plan of every file.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AddCommand {
    /// Add a service: its manifests, an overlay and an Argo CD Application per environment.
    Service(Box<AddServiceArgs>),
    /// Add an environment: its namespace or cluster, root Application and service overlays.
    Env(AddEnvArgs),
    /// Turn on a platform service (`monitoring` or `logging`): its Argo CD Application and
    /// values in the gitops repo, its roles, log groups and secrets in the foundation.
    Platform(PlatformArgs),
}

#[derive(Debug, Args)]
pub struct PlatformArgs {
    /// The platform service: `monitoring` (kube-prometheus-stack with Grafana) or `logging`
    /// (Fluent Bit to CloudWatch Logs).
    pub component: String,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct AddServiceArgs {
    /// The service name: a lowercase DNS label of at most 30 characters.
    pub name: String,
    /// Container image with a pinned tag, for example `ghcr.io/acme/api:1.4.2` [default: the
    /// preset's `service.image`].
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// The port the container listens on [default: the preset's].
    #[arg(long, value_name = "N")]
    pub port: Option<u32>,
    /// Replicas of a new environment when no bounds are given (sets both `--min` and `--max`)
    /// [default: the preset's].
    #[arg(long, value_name = "N")]
    pub replicas: Option<u32>,
    /// Minimum replicas (HorizontalPodAutoscaler) [default: the preset's].
    #[arg(long, value_name = "N")]
    pub min: Option<u32>,
    /// Maximum replicas (HorizontalPodAutoscaler) [default: the preset's].
    #[arg(long, value_name = "N")]
    pub max: Option<u32>,
    /// Host pattern under the domain; `{env}` is replaced by the environment [default:
    /// `{service}.{env}.{domain}`].
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// The Ingress path [default: the preset's].
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// HTTP path of the readiness and liveness probes [default: the preset's].
    #[arg(long, value_name = "PATH")]
    pub health_path: Option<String>,
    /// CPU request, for example `250m` [default: the preset's; the limit is the preset's].
    #[arg(long, value_name = "Q")]
    pub cpu: Option<String>,
    /// Memory request, for example `256Mi` [default: the preset's; the limit is the preset's].
    #[arg(long, value_name = "Q")]
    pub memory: Option<String>,
    /// Comma-separated environments to deploy to [default: all].
    #[arg(long, value_name = "LIST")]
    pub envs: Option<String>,
    /// How the service is reached: `public` (the environment's internet-facing load
    /// balancer), `internal` (its internal load balancer, from the VPC only) or `none` (no
    /// Ingress: a worker) [default: public].
    #[arg(long, value_name = "HOW")]
    pub expose: Option<String>,
    /// Give the service an IAM role for its ServiceAccount only, through the workspace's
    /// `identity` (IRSA, or EKS Pod Identity); `--irsa` is its older name.
    #[arg(long = "aws-role", visible_alias = "irsa")]
    pub irsa: bool,
    /// A ConfigMap entry (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// A secret key read from AWS Secrets Manager at `<project>/<env>/<service>` (repeatable).
    #[arg(long = "secret", value_name = "KEY")]
    pub secrets: Vec<String>,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct AddEnvArgs {
    /// The environment name: a lowercase DNS label of at most 12 characters.
    pub name: String,
    /// The environment whose service values the new one copies [default: the first].
    #[arg(long, value_name = "ENV")]
    pub from: Option<String>,
    /// The AWS account of the new environment, twelve digits (required when the environments
    /// live in accounts of their own, `strata new --account`; refused otherwise).
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Subcommand)]
pub enum RemoveCommand {
    /// Remove a service from every environment, in both repos.
    Service(RemoveArgs),
    /// Remove an environment, in both repos.
    Env(RemoveArgs),
    /// Turn off a platform service (`monitoring` or `logging`), in both repos.
    Platform(PlatformArgs),
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The name to remove.
    pub name: String,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Write nothing; exit 1 when the upgrade would change anything (for CI).
    #[arg(long, conflicts_with_all = ["dry_run", "commit", "force"])]
    pub check: bool,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// The settings to change, for example `cluster.version=1.36` or
    /// `cluster.public_access_cidrs=203.0.113.0/24` (lists are comma-separated).
    #[arg(value_name = "KEY=VALUE", required = true)]
    pub pairs: Vec<String>,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Subcommand)]
pub enum EditCommand {
    /// Change a service: its owned files are rewritten; the overlays you may have edited are
    /// kept, and the change is printed as a suggestion.
    Service(Box<EditServiceArgs>),
}

#[derive(Debug, Args)]
pub struct EditServiceArgs {
    /// The service to change.
    pub name: String,
    /// Container image with a pinned tag, for example `ghcr.io/acme/api:1.4.3`.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// The port the container listens on.
    #[arg(long, value_name = "N")]
    pub port: Option<u32>,
    /// Replicas in every environment of the service (sets both `--min` and `--max`).
    #[arg(long, value_name = "N")]
    pub replicas: Option<u32>,
    /// Minimum replicas (HorizontalPodAutoscaler), in every environment of the service.
    #[arg(long, value_name = "N")]
    pub min: Option<u32>,
    /// Maximum replicas (HorizontalPodAutoscaler), in every environment of the service.
    #[arg(long, value_name = "N")]
    pub max: Option<u32>,
    /// Host pattern under the domain; `{env}` is replaced by the environment.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// The Ingress path.
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// HTTP path of the readiness and liveness probes.
    #[arg(long, value_name = "PATH")]
    pub health_path: Option<String>,
    /// CPU request, for example `500m` (the limit rises to it when lower).
    #[arg(long, value_name = "Q")]
    pub cpu: Option<String>,
    /// Memory request, for example `512Mi` (the limit rises to it when lower).
    #[arg(long, value_name = "Q")]
    pub memory: Option<String>,
    /// Comma-separated environments the service runs in; a new one takes the values of the
    /// first it ran in, a dropped one loses its overlay and Application.
    #[arg(long, value_name = "LIST")]
    pub envs: Option<String>,
    /// How the service is reached: `public`, `internal` or `none` (no Ingress).
    #[arg(long, value_name = "HOW")]
    pub expose: Option<String>,
    /// Give the service an IAM role for its ServiceAccount only, through the workspace's
    /// `identity` (IRSA, or EKS Pod Identity); `--irsa` is its older name.
    #[arg(long = "aws-role", visible_alias = "irsa", conflicts_with = "no_irsa")]
    pub irsa: bool,
    /// Take the service's IAM role away (`--no-irsa` is its older name).
    #[arg(long = "no-aws-role", visible_alias = "no-irsa")]
    pub no_irsa: bool,
    /// Set a ConfigMap entry (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// Remove a ConfigMap entry (repeatable).
    #[arg(long = "unset-config", value_name = "KEY")]
    pub unset_config: Vec<String>,
    /// Add a secret key read from AWS Secrets Manager at `<project>/<env>/<service>`
    /// (repeatable).
    #[arg(long = "add-secret", visible_alias = "secret", value_name = "KEY")]
    pub add_secrets: Vec<String>,
    /// Remove a secret key (repeatable).
    #[arg(long = "remove-secret", value_name = "KEY")]
    pub remove_secrets: Vec<String>,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Either repo of the workspace.
    #[arg(short = 'C', value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Print JSON, for scripts (docs/json.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A repo of the workspace to check [default: the current directory, unless only
    /// `--gitops` or `--stack-export` is given].
    #[arg(short = 'C', value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Any gitops repo to check for infrastructure objects (repeatable).
    #[arg(long = "gitops", value_name = "DIR")]
    pub gitops: Vec<PathBuf>,
    /// A Pulumi stack export (`pulumi stack export --file FILE`) to check for application
    /// objects (repeatable).
    #[arg(long = "stack-export", value_name = "FILE")]
    pub stack_exports: Vec<PathBuf>,
    /// Print JSON, for scripts (docs/json.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The Pulumi stack export (`pulumi stack export --file FILE`) whose applications move.
    #[arg(long = "stack-export", value_name = "FILE")]
    pub stack_export: PathBuf,
    /// The environment the applications move into.
    #[arg(long, value_name = "ENV")]
    pub env: String,
    /// The image of a service whose Pulumi spec names none with a tag, or `latest`
    /// (repeatable), for example `api=ghcr.io/acme/api:1.4.2`.
    #[arg(long = "image", value_name = "SERVICE=IMAGE:TAG")]
    pub images: Vec<String>,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct PresetsArgs {
    /// Also list every key `--set` accepts, with the preset's value.
    #[arg(long)]
    pub keys: bool,
    /// Print JSON, for scripts (docs/json.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PacksArgs {
    /// Print JSON, for scripts (docs/json.md).
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
