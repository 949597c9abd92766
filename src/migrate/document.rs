//! The migration plan as the foundation keeps it: `MIGRATION.md` (four phases, exact
//! commands, every URN that moves and every URN that stays with its reason) and
//! `migration.sh` (the commands that can be scripted: checking the cluster, forgetting the
//! URNs in dependency order, checking the preview, releasing Pulumi's field ownership,
//! cleaning up). Every value in a command is quoted for the shell (names come from the
//! export), and every `kubectl` names the workspace cluster's context. Pure text; no secret
//! value can reach it, because none reaches a [`Migration`].

use std::fmt::Write as _;

use crate::migrate::service::{ADOPTION_PATCH, SYNC_OPTIONS};
use crate::migrate::{Kubectl, Migration, Mode};
use crate::model::stack_export::{StackExport, Writer};

/// The file names in the foundation.
pub const PLAN_FILE: &str = "MIGRATION.md";
pub const SCRIPT_FILE: &str = "migration.sh";

/// The prefix of the field managers pulumi-kubernetes writes: `pulumi-kubernetes` (v3, client
/// side) and `pulumi-kubernetes-<hex>` (v4, server-side apply).
const PULUMI_MANAGER: &str = "pulumi-kubernetes";

/// Quotes a word for a POSIX shell (URNs hold `$`).
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// A `kubectl` command on the cluster of `context`: the verb and flags as strata wrote them,
/// every other word quoted.
fn kubectl(context: &str, command: &Kubectl) -> String {
    let flag = |word: &str| {
        word.starts_with('-')
            && word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '='))
    };
    let mut line = format!(
        "kubectl --context {} -n {}",
        shell_quote(context),
        shell_quote(&command.namespace)
    );
    for (i, arg) in command.args.iter().enumerate() {
        line.push(' ');
        line.push_str(&if i == 0 || flag(arg) {
            arg.clone()
        } else {
            shell_quote(arg)
        });
    }
    line
}

/// The objects Argo CD adopts where they are: what moves with an adopted service and is not
/// deleted by the clean-up, as (kubectl kind, namespace, name, the export's UID).
fn adopted(
    migration: &Migration,
    export: &StackExport,
) -> Vec<(String, String, String, Option<String>)> {
    let mut out = Vec::new();
    for service in migration.services.iter().filter(|s| s.mode == Mode::Adopt) {
        for moved in &service.moved {
            let kind = moved.kind.to_ascii_lowercase();
            if service
                .cleanup
                .iter()
                .any(|c| c.namespace == moved.namespace && c.deletes(&kind, &moved.name))
            {
                continue;
            }
            let uid = export
                .get(&moved.urn)
                .and_then(|r| r.outputs.pointer("/metadata/uid"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_string);
            out.push((kind, moved.namespace.clone(), moved.name.clone(), uid));
        }
    }
    out
}

fn writers(migration: &Migration) -> Vec<Writer> {
    let mut out: Vec<Writer> = Vec::new();
    for moved in migration.services.iter().flat_map(|s| &s.moved) {
        if !out.contains(&moved.writer) {
            out.push(moved.writer);
        }
    }
    out
}

/// `MIGRATION.md`: what moves, what stays and why, then the four phases and the clean-up.
pub fn plan_markdown(migration: &Migration, export: &StackExport, project: &str) -> String {
    let export_name = std::path::Path::new(&export.path)
        .file_name()
        .map_or_else(|| export.path.clone(), |n| n.to_string_lossy().to_string());
    let stack = &export.stack;
    let mut md = String::new();
    write_introduction(&mut md, migration, export, &export_name, project);
    write_the_cluster(&mut md, migration, export);
    write_what_moves(&mut md, migration);
    write_what_stays(&mut md, migration);
    write_phase_1(&mut md, migration, stack, &export_name);
    write_phase_2(&mut md, migration, stack, project);
    write_phase_3(&mut md, migration, stack);
    write_phase_4(&mut md, stack);
    write_after_the_hand_over(&mut md, migration, export);
    md
}

/// Which cluster the objects are in, which cluster the workspace's is, and how to tell that
/// they are one before anything is adopted in place.
fn write_the_cluster(md: &mut String, migration: &Migration, export: &StackExport) {
    let clusters = &migration.clusters;
    let ours = &clusters.workspace;
    let (name, region) = (shell_quote(&ours.name), shell_quote(&ours.region));
    let _ = writeln!(
        md,
        "## Before you start: the cluster
"
    );
    let others = clusters.others();
    if !others.is_empty() {
        let _ = writeln!(
            md,
            "**Stop: the export's objects run in cluster {}, not in this workspace's `{}`.** Argo CD \
             runs in `{}`: it cannot adopt objects of another cluster, and would create them anew \
             there while Pulumi's keep running where they are. This plan is written for one \
             cluster; migrate into the workspace whose cluster that is.\n",
            others.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", "),
            ours.name,
            ours.name
        );
    }
    let _ = writeln!(
        md,
        "Environment `{}` runs in the workspace's cluster `{}` (foundation stack `{}`, region \
         `{}`). Every `kubectl` command below names its context `{}`; make it once:\n\n\
         ```sh\naws eks update-kubeconfig --region {region} --name {name} --alias {name}\n```\n",
        migration.env, ours.name, ours.stack, ours.region, ours.name
    );
    let _ = writeln!(
        md,
        "What the export says of the cluster its objects were applied to:\n"
    );
    if clusters.export.is_empty() {
        let _ = writeln!(
            md,
            "- nothing: no Kubernetes provider of the moved objects is in it."
        );
    }
    for found in &clusters.export {
        let _ = match (&found.endpoint, &found.name) {
            (Some(endpoint), Some(cluster)) => writeln!(md, "- provider `{}`: cluster `{cluster}`, API server `{endpoint}`", found.provider),
            (Some(endpoint), None) => writeln!(md, "- provider `{}`: API server `{endpoint}`", found.provider),
            (None, Some(cluster)) => writeln!(md, "- provider `{}`: cluster `{cluster}`", found.provider),
            (None, None) => writeln!(md, "- provider `{}`: no kubeconfig in the export (the default provider uses the kubeconfig context that was current where Pulumi ran): the export cannot say which cluster", found.provider),
        };
    }
    let _ = writeln!(
        md,
        "\nAdopting in place needs both to be one cluster. `bash {SCRIPT_FILE} check-cluster` checks it, \
         and stops with the difference: the context's API server is the workspace cluster's \
         (`aws eks describe-cluster`), the export's API server is that one, and each adopted \
         object in the cluster is the very object of the export (the same `metadata.uid`). By hand:\n\n```sh\n\
         aws eks describe-cluster --region {region} --name {name} --query cluster.endpoint --output text\n\
         kubectl config view --minify --context {name} -o jsonpath='{{.clusters[0].cluster.server}}'"
    );
    for (kind, namespace, object, uid) in adopted(migration, export) {
        if let (Some(uid), "deployment") = (uid, kind.as_str()) {
            let get = Kubectl::new(
                &namespace,
                &["get", &kind, &object, "-o", "jsonpath={.metadata.uid}"],
            );
            // A comment ends at a newline: the export's uid is written as one line of its
            // plain characters only.
            let uid: String = uid
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            let _ = writeln!(md, "{}   # {uid}", kubectl(&ours.name, &get));
        }
    }
    let _ = writeln!(md, "```\n");
}

/// The title, the export it was made from, the rule, and who wrote the objects.
fn write_introduction(
    md: &mut String,
    migration: &Migration,
    export: &StackExport,
    export_name: &str,
    project: &str,
) {
    let env = &migration.env;
    let stack = &export.stack;
    let moved_count: usize = migration.services.iter().map(|s| s.moved.len()).sum();
    let _ = writeln!(
        md,
        "# Moving the applications of stack `{stack}` into GitOps\n"
    );
    let _ = writeln!(
        md,
        "Written by `strata migrate` from the export `{}` of Pulumi project `{}`, stack `{stack}` \
         ({} resources). Environment `{env}`: namespace `{env}`, secrets in AWS Secrets Manager under \
         `{project}/{env}/<service>`.\n",
        export_name,
        export.project,
        export.resources.len()
    );
    let _ = writeln!(
        md,
        "The rule: Pulumi manages the infrastructure, GitOps manages the applications. This plan moves \
         {moved_count} resource(s) of {} service(s) out of Pulumi, and leaves {} resource(s) where they are, \
         each with its reason. It follows four phases: document the current state, move the applications \
         to GitOps, remove them from Pulumi, run Pulumi without them. Commands that can be scripted are in \
         `{SCRIPT_FILE}` beside this file.\n",
        migration.services.len(),
        migration.left.len()
    );
    let found = writers(migration);
    if !found.is_empty() {
        let _ = writeln!(md, "The objects were written by:");
        for writer in &found {
            let _ = writeln!(md, "- {}", writer.text());
        }
        md.push('\n');
    }
}

/// Each service: the URNs that move and what they become, what is kept verbatim, the notes.
fn write_what_moves(md: &mut String, migration: &Migration) {
    let env = &migration.env;
    let _ = writeln!(md, "## What moves\n");
    for service in &migration.services {
        let how = match &service.mode {
            Mode::Adopt => format!("adopted in place in `{}`", service.namespace),
            Mode::Relocate { from } => format!("relocated from `{from}` to `{env}`"),
        };
        let _ = writeln!(md, "### Service `{}` ({how})\n", service.name);
        let _ = writeln!(md, "| URN | object | becomes |\n|---|---|---|");
        for moved in &service.moved {
            let _ = writeln!(
                md,
                "| `{}` | {} `{}/{}` | {} |",
                moved.urn, moved.kind, moved.namespace, moved.name, moved.becomes
            );
        }
        md.push('\n');
        if !service.kept.is_empty() {
            let _ = writeln!(
                md,
                "Kept verbatim in `services/{}/overlays/{env}/` (what strata's service shape does not express):\n",
                service.name
            );
            for kept in &service.kept {
                let _ = writeln!(md, "- {kept}");
            }
            md.push('\n');
        }
        if !service.notes.is_empty() {
            let _ = writeln!(md, "To review before the first sync:\n");
            for note in &service.notes {
                let _ = writeln!(md, "- {note}");
            }
            md.push('\n');
        }
    }
}

/// Every URN that stays, with its reason.
fn write_what_stays(md: &mut String, migration: &Migration) {
    let _ = writeln!(md, "## What stays in Pulumi, and why\n");
    let _ = writeln!(md, "| URN | reason |\n|---|---|");
    for left in &migration.left {
        let _ = writeln!(
            md,
            "| `{}` | {} |",
            left.urn,
            left.reason.replace('|', "\\|")
        );
    }
    md.push('\n');
}

/// Phase 1: export the stack again before starting, and check the cluster.
fn write_phase_1(md: &mut String, migration: &Migration, stack: &str, export_name: &str) {
    let _ = writeln!(md, "## Phase 1: document the current state\n");
    let _ = writeln!(
        md,
        "This plan was made from `{export_name}`. Export the stack again right before you start, and \
         compare: a resource that changed since needs this plan made again.\n"
    );
    let _ = writeln!(
        md,
        "```sh\npulumi stack export --stack {} --file before-migration.json\nbash {SCRIPT_FILE} check-cluster\n```\n\n\
         Keep the export out of git: it holds the stack's secrets (encrypted, or in plain text with \
         `--show-secrets`). Go on only once `check-cluster` passes: the objects are in `{}` \
         (\"Before you start\" above).\n",
        shell_quote(stack),
        migration.clusters.workspace.name
    );
}

/// Phase 2: protect the objects, create the secrets, sync the gitops repo.
fn write_phase_2(md: &mut String, migration: &Migration, stack: &str, project: &str) {
    let _ = writeln!(md, "## Phase 2: move the applications to GitOps\n");
    write_protect_step(md, migration, stack);
    write_secrets_step(md, migration, project);
    write_sync_step(md, migration);
}

/// Step 1 of phase 2: `retainOnDelete` on every resource that moves, and `protect` lifted.
fn write_protect_step(md: &mut String, migration: &Migration, stack: &str) {
    let protected: Vec<&str> = migration
        .services
        .iter()
        .flat_map(|s| &s.moved)
        .filter(|m| m.protected)
        .map(|m| m.urn.as_str())
        .collect();
    let _ = writeln!(
        md,
        "1. Protect the running objects first, so that nothing Pulumi does from now on can delete them: \
         in the program, give each resource of the table above the option `retainOnDelete`, then run \
         `pulumi up --stack {}` (it records the option and changes nothing else):\n\n   \
         - TypeScript: `{{ retainOnDelete: true }}`\n   \
         - Python: `pulumi.ResourceOptions(retain_on_delete=True)`\n   \
         - Go: `pulumi.RetainOnDelete(true)`\n   \
         - C#: `new CustomResourceOptions {{ RetainOnDelete = true }}`\n   \
         - YAML: `options: {{ retainOnDelete: true }}`\n",
        shell_quote(stack)
    );
    if !protected.is_empty() {
        let _ = writeln!(
            md,
            "   These are also `protect`ed: lift that too (in the program, or):\n\n   ```sh"
        );
        for urn in &protected {
            let _ = writeln!(
                md,
                "   pulumi state unprotect --stack {} --yes {}",
                shell_quote(stack),
                shell_quote(urn)
            );
        }
        let _ = writeln!(md, "   ```\n");
    }
}

/// Step 2 of phase 2: each service's secret in AWS Secrets Manager, from the running Secrets.
fn write_secrets_step(md: &mut String, migration: &Migration, project: &str) {
    let env = &migration.env;
    let ours = &migration.clusters.workspace;
    let _ = writeln!(
        md,
        "2. Create each service's secret in AWS Secrets Manager, with the keys listed (the values never \
         pass through git or strata: they go from the running Secret straight to AWS):\n"
    );
    let mut any_secret = false;
    for service in &migration.services {
        if service.secrets.is_empty() {
            continue;
        }
        any_secret = true;
        let name = format!("{project}/{env}/{}", service.name);
        let keys: Vec<String> = service
            .secrets
            .iter()
            .flat_map(|s| s.keys.clone())
            .collect();
        let _ = writeln!(
            md,
            "   `{name}`, keys {}:\n",
            keys.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let gets: Vec<String> = service
            .secrets
            .iter()
            .map(|s| {
                kubectl(
                    &ours.name,
                    &Kubectl::new(&s.namespace, &["get", "secret", &s.name, "-o", "json"]),
                )
            })
            .collect();
        let _ = writeln!(
            md,
            "   ```sh\n   {{ {}; }} \\\n     | jq -s 'map(.data | map_values(@base64d)) | add' \\\n     | aws secretsmanager create-secret --region {} --name {} --secret-string file:///dev/stdin\n   ```\n",
            gets.join("; "),
            shell_quote(&ours.region),
            shell_quote(&name)
        );
    }
    if !any_secret {
        let _ = writeln!(md, "   (No service has a secret.)\n");
    }
}

/// Step 3 of phase 2: push, let Argo CD adopt the objects, watch the rollouts.
fn write_sync_step(md: &mut String, migration: &Migration) {
    let env = &migration.env;
    let _ = writeln!(
        md,
        "3. Push the gitops repo's commit. The root Application of `{env}` syncs the new Applications; \
         each service's objects carry `argocd.argoproj.io/sync-options: {SYNC_OPTIONS}` \
         (`services/<service>/overlays/{env}/{ADOPTION_PATCH}`):\n\n   \
         - identical names (and, when adopted in place, the same namespace): Argo CD takes over the \
           objects Pulumi made instead of making new ones, so nothing is deleted or created again;\n   \
         - `ServerSideApply=true`: Argo CD applies as its own field manager. pulumi-kubernetes v3 left a \
           `kubectl.kubernetes.io/last-applied-configuration` annotation and the label \
           `app.kubernetes.io/managed-by: pulumi`, v4 left its field manager `pulumi-kubernetes-<id>`; a \
           client-side apply would compute its three-way merge against Pulumi's last-applied \
           configuration, a server-side apply takes the fields it sets and leaves the rest;\n   \
         - `Prune=false`: until Pulumi has forgotten these objects (phase 4), two tools claim them; Argo \
           CD must delete none of them, whatever its diff says.\n"
    );
    let _ = writeln!(md, "   Then watch each service become healthy:\n\n   ```sh");
    for service in &migration.services {
        let rollout = Kubectl::new(
            env,
            &[
                "rollout",
                "status",
                &format!("deployment/{}", service.name),
                "--timeout=10m",
            ],
        );
        let _ = writeln!(
            md,
            "   {}",
            kubectl(&migration.clusters.workspace.name, &rollout)
        );
    }
    let _ = writeln!(md, "   ```\n");
}

/// Phase 3: forget the resources in Pulumi, through the program or the state.
fn write_phase_3(md: &mut String, migration: &Migration, stack: &str) {
    let _ = writeln!(md, "## Phase 3: remove them from Pulumi\n");
    let _ = writeln!(
        md,
        "Take one of two paths; both leave the objects running.\n\n\
         **A. Through the program (reviewable, recommended).** With `retainOnDelete` set (phase 2), \
         delete the resources below from the program.\n\n\
         **B. Through the state.** `bash {SCRIPT_FILE} forget` runs `pulumi state delete` \
         (`pulumi state remove` in newer CLIs) for each, in dependency order (a resource before what it \
         depends on); then delete the resources from the program:\n\n```sh"
    );
    for urn in &migration.order {
        let _ = writeln!(
            md,
            "pulumi state delete --stack {} --yes {}",
            shell_quote(stack),
            shell_quote(urn)
        );
    }
    let _ = writeln!(
        md,
        "```\n\nThe resources, by type and name in the program:\n"
    );
    for urn in &migration.order {
        let mut parts = urn.rsplitn(2, "::");
        let name = parts.next().unwrap_or_default();
        let type_ = parts
            .next()
            .and_then(|t| t.rsplit('$').next())
            .and_then(|t| t.rsplit("::").next())
            .unwrap_or_default();
        let _ = writeln!(md, "- `{type_}` `{name}`");
    }
    md.push('\n');
    if !migration.held.is_empty() {
        let _ = writeln!(md, "Resources that stay depend on some that move: remove the dependency in the program first (path B refuses otherwise):\n");
        for (moved, dependent) in &migration.held {
            let _ = writeln!(md, "- `{dependent}` depends on `{moved}`");
        }
        md.push('\n');
    }
}

/// Phase 4: the preview that must delete nothing else, then `pulumi up`.
fn write_phase_4(md: &mut String, stack: &str) {
    let _ = writeln!(md, "## Phase 4: run Pulumi without them\n");
    let _ = writeln!(
        md,
        "```sh\npulumi preview --stack {stack} --diff\n```\n\n\
         For each URN above it must show `delete[retain]` (path A) or nothing (path B), and no replacement \
         or deletion of anything else. `bash {SCRIPT_FILE} check-preview` checks exactly that from \
         `pulumi preview --json`. Then:\n\n```sh\npulumi up --stack {stack}\n```\n",
        stack = shell_quote(stack)
    );
}

/// After the hand-over: Pulumi's field ownership released, Argo CD pruning again, what Pulumi
/// left removed.
fn write_after_the_hand_over(md: &mut String, migration: &Migration, export: &StackExport) {
    let env = &migration.env;
    let context = &migration.clusters.workspace.name;
    let _ = writeln!(md, "## After the hand-over\n");
    let _ = writeln!(
        md,
        "Once `pulumi up` has run and every service is healthy under Argo CD:\n\n\
         1. Hand the fields over: `bash {SCRIPT_FILE} release-fields`. With server-side apply, a field \
            leaves a live object only when no field manager owns it any more. Argo CD's apply took \
            the fields it sets, but Pulumi's field managers (`{PULUMI_MANAGER}*` in \
            `metadata.managedFields`) still own what they applied, and stay after `pulumi state \
            delete`: a field you later remove in git would stay on the object. The script removes, \
            from each object Argo CD adopted, the `managedFields` entries whose manager starts with \
            `{PULUMI_MANAGER}`, with a JSON patch that first tests each entry's manager, and leaves \
            Argo CD's (`argocd-controller`) and Kubernetes' own. It refuses an object that Pulumi's \
            managers alone own (Argo CD has not applied it yet: sync first; an emptied list would \
            be ignored by the API server). By hand, for one object:\n\n   ```sh"
    );
    let sample = adopted(migration, export);
    if let Some((kind, namespace, name, _)) = sample.first() {
        let get = Kubectl::new(
            namespace,
            &["get", kind, name, "--show-managed-fields", "-o", "json"],
        );
        let patch = Kubectl::new(
            namespace,
            &["patch", kind, name, "--type=json", "-p", "$patch"],
        );
        let _ = writeln!(
            md,
            "   patch=\"$({} \\\n     | jq -c '{}')\"\n   {}",
            kubectl(context, &get),
            RELEASE_JQ,
            kubectl(context, &patch).replace("'$patch'", "\"$patch\"")
        );
    }
    let _ = writeln!(md, "   ```\n");
    let _ = writeln!(
        md,
        "2. Let Argo CD prune again: delete `{ADOPTION_PATCH}` and its entry in `kustomization.yaml` of each \
            overlay below, and push.\n\
         3. Remove what Pulumi left behind (`bash {SCRIPT_FILE} cleanup` prints these commands):\n"
    );
    for service in &migration.services {
        let _ = writeln!(md, "   - `services/{}/overlays/{env}/`", service.name);
    }
    md.push('\n');
    let _ = writeln!(md, "```sh");
    for service in &migration.services {
        for command in &service.cleanup {
            let _ = writeln!(md, "{}", kubectl(context, command));
        }
    }
    let _ = writeln!(md, "```");
}

/// The jq program that turns an object (`kubectl get --show-managed-fields -o json`) into the
/// JSON patch removing Pulumi's `managedFields` entries, last first so that each index still
/// holds the entry its `test` names.
const RELEASE_JQ: &str = "[.metadata.managedFields // [] | to_entries | reverse[] | select(.value.manager // \"\" | startswith(\"pulumi-kubernetes\")) | {op: \"test\", path: \"/metadata/managedFields/\\(.key)/manager\", value: .value.manager}, {op: \"remove\", path: \"/metadata/managedFields/\\(.key)\"}]";

/// `migration.sh`.
pub fn script(migration: &Migration, export: &StackExport) -> String {
    let stack = &export.stack;
    let ours = &migration.clusters.workspace;
    let mut sh = String::new();
    let _ = writeln!(
        sh,
        "#!/usr/bin/env bash\n\
         # Written by `strata migrate` for stack `{stack}` of Pulumi project `{}` (see MIGRATION.md).\n\
         # Run it from the directory of that Pulumi project.\n\
         #   bash migration.sh check-cluster   # phase 1: the objects are in the workspace's cluster\n\
         #   bash migration.sh forget          # phase 3, path B: pulumi state delete, dependents first\n\
         #   bash migration.sh check-preview   # phase 4: the preview deletes the moved URNs with retain, or not at all\n\
         #   bash migration.sh release-fields  # after the hand-over: remove Pulumi's field managers\n\
         #   bash migration.sh cleanup         # after the hand-over: print the clean-up commands\n\
         # STACK and CONTEXT (the kubectl context) may be set in the environment.\n\
         set -euo pipefail\n\
         DEFAULT_STACK={}\n\
         DEFAULT_CONTEXT={}\n\
         STACK=\"${{STACK:-$DEFAULT_STACK}}\"\n\
         CONTEXT=\"${{CONTEXT:-$DEFAULT_CONTEXT}}\"\n\
         CLUSTER={}\n\
         REGION={}\n",
        export.project,
        shell_quote(stack),
        shell_quote(&ours.name),
        shell_quote(&ours.name),
        shell_quote(&ours.region)
    );
    let words = |items: Vec<String>| items.iter().map(|w| format!("  {w}\n")).collect::<String>();
    let _ = writeln!(
        sh,
        "# The API servers the export's Kubernetes providers name.\nEXPORT_ENDPOINTS=(\n{})\n",
        words(
            migration
                .clusters
                .endpoints()
                .iter()
                .map(|e| shell_quote(e))
                .collect()
        )
    );
    let adopted = adopted(migration, export);
    let _ = writeln!(
        sh,
        "# What Argo CD adopts in place: kind, namespace, name, and the UID the export recorded.\nADOPTED=(\n{})\n",
        words(
            adopted
                .iter()
                .map(|(kind, namespace, name, uid)| {
                    [kind, namespace, name, uid.as_deref().unwrap_or("")]
                        .iter()
                        .map(|w| shell_quote(w))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        )
    );
    let _ = writeln!(sh, "MOVED=(");
    for urn in &migration.order {
        let _ = writeln!(sh, "  {}", shell_quote(urn));
    }
    let _ = writeln!(sh, ")\n");
    write_script_functions(&mut sh);
    let _ = writeln!(sh, "cleanup() {{\n  local line\n  while IFS= read -r line; do\n    printf 'kubectl --context %q %s\\n' \"$CONTEXT\" \"$line\"\n  done <<'EOF'");
    for service in &migration.services {
        for command in &service.cleanup {
            let line = kubectl("", command);
            let _ = writeln!(sh, "{}", line.trim_start_matches("kubectl --context '' "));
        }
    }
    let _ = writeln!(sh, "EOF\n}}\n");
    let _ = writeln!(
        sh,
        "case \"${{1:-}}\" in\n  check-cluster) check_cluster ;;\n  forget) forget ;;\n  check-preview) check_preview ;;\n  \
         release-fields) release_fields ;;\n  cleanup) cleanup ;;\n  \
         *) echo \"usage: bash migration.sh check-cluster|forget|check-preview|release-fields|cleanup\" >&2; exit 2 ;;\nesac"
    );
    sh
}

/// The functions of `migration.sh` that hold no value of the migration: they read its arrays.
fn write_script_functions(sh: &mut String) {
    let _ = writeln!(
        sh,
        "lower() {{ tr '[:upper:]' '[:lower:]' <<<\"$1\"; }}\n\n\
         check_cluster() {{\n  local expected server uid live i bad=0\n  \
         expected=\"$(aws eks describe-cluster --region \"$REGION\" --name \"$CLUSTER\" --query cluster.endpoint --output text)\"\n  \
         server=\"$(kubectl config view --minify --context \"$CONTEXT\" -o jsonpath='{{.clusters[0].cluster.server}}')\"\n  \
         if [ \"$(lower \"$server\")\" != \"$(lower \"$expected\")\" ]; then\n    \
         echo \"context $CONTEXT points at $server, not at cluster $CLUSTER ($expected)\"; bad=1\n  fi\n  \
         for server in ${{EXPORT_ENDPOINTS[@]+\"${{EXPORT_ENDPOINTS[@]}}\"}}; do\n    \
         if [ \"$(lower \"$server\")\" != \"$(lower \"$expected\")\" ]; then\n      \
         echo \"the export's objects were applied to $server, not to cluster $CLUSTER ($expected): nothing can be adopted in place\"; bad=1\n    fi\n  done\n  \
         for ((i = 0; i < ${{#ADOPTED[@]}}; i += 4)); do\n    \
         uid=\"${{ADOPTED[i+3]}}\"\n    \
         [ -n \"$uid\" ] || continue\n    \
         live=\"$(kubectl --context \"$CONTEXT\" -n \"${{ADOPTED[i+1]}}\" get \"${{ADOPTED[i]}}\" \"${{ADOPTED[i+2]}}\" -o jsonpath='{{.metadata.uid}}' 2>/dev/null || true)\"\n    \
         if [ \"$live\" != \"$uid\" ]; then\n      \
         echo \"${{ADOPTED[i]}} ${{ADOPTED[i+1]}}/${{ADOPTED[i+2]}}: the cluster holds ${{live:-nothing}}, the export $uid\"; bad=1\n    fi\n  done\n  \
         if [ \"$bad\" = 0 ]; then echo \"ok: $CONTEXT is cluster $CLUSTER ($expected), and it holds the export's objects\"; fi\n  \
         return \"$bad\"\n}}\n"
    );
    let _ = writeln!(
        sh,
        "forget() {{\n  for urn in \"${{MOVED[@]}}\"; do\n    pulumi state delete --stack \"$STACK\" --yes \"$urn\"\n  done\n}}\n"
    );
    let _ = writeln!(
        sh,
        "check_preview() {{\n  local preview bad=0\n  preview=\"$(pulumi preview --stack \"$STACK\" --json)\"\n  \
         for urn in \"${{MOVED[@]}}\"; do\n    \
         local op retain\n    \
         op=\"$(jq -r --arg u \"$urn\" '[.steps[]? | select(.urn == $u) | .op] | first // \"none\"' <<<\"$preview\")\"\n    \
         retain=\"$(jq -r --arg u \"$urn\" '[.steps[]? | select(.urn == $u) | .oldState.retainOnDelete // false] | first // false' <<<\"$preview\")\"\n    \
         case \"$op\" in\n      \
         none|same) echo \"ok      $urn (not in the preview)\" ;;\n      \
         delete) if [ \"$retain\" = true ]; then echo \"ok      $urn (delete[retain])\"; else echo \"DELETES $urn: set retainOnDelete first\"; bad=1; fi ;;\n      \
         *) echo \"UNEXPECTED $op $urn\"; bad=1 ;;\n    \
         esac\n  done\n  \
         local others\n  \
         others=\"$(jq -r --argjson moved \"$(printf '%s\\n' \"${{MOVED[@]}}\" | jq -R . | jq -s .)\" \
         '[.steps[]? | select(.op == \"delete\" or .op == \"replace\" or .op == \"delete-replaced\") | select(.urn as $u | $moved | index($u) | not) | \"\\(.op) \\(.urn)\"] | .[]' <<<\"$preview\")\"\n  \
         if [ -n \"$others\" ]; then echo \"the preview also deletes or replaces:\"; echo \"$others\"; bad=1; fi\n  \
         return \"$bad\"\n}}\n"
    );
    let _ = writeln!(
        sh,
        "release_fields() {{\n  local i kind ns name object patch bad=0\n  \
         for ((i = 0; i < ${{#ADOPTED[@]}}; i += 4)); do\n    \
         kind=\"${{ADOPTED[i]}}\" ns=\"${{ADOPTED[i+1]}}\" name=\"${{ADOPTED[i+2]}}\"\n    \
         object=\"$(kubectl --context \"$CONTEXT\" -n \"$ns\" get \"$kind\" \"$name\" --show-managed-fields -o json)\"\n    \
         patch=\"$(jq -c '{RELEASE_JQ}' <<<\"$object\")\"\n    \
         if [ \"$patch\" = '[]' ]; then echo \"ok      $kind $ns/$name: no Pulumi field manager\"; continue; fi\n    \
         if [ \"$(jq '[.metadata.managedFields[]? | select(.manager // \"\" | startswith(\"{PULUMI_MANAGER}\") | not)] | length' <<<\"$object\")\" = 0 ]; then\n      \
         echo \"WAIT    $kind $ns/$name: only Pulumi's managers own it; let Argo CD sync it first\"; bad=1; continue\n    fi\n    \
         kubectl --context \"$CONTEXT\" -n \"$ns\" patch \"$kind\" \"$name\" --type=json -p \"$patch\"\n    \
         echo \"ok      $kind $ns/$name: Pulumi's field managers removed\"\n  done\n  \
         return \"$bad\"\n}}\n"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_of_a_command_is_quoted_for_the_shell() {
        let command = Kubectl::new(
            "d$(touch x)",
            &["delete", "configmap", "a'b; rm -rf /", "--type=json", "-o"],
        );
        assert_eq!(
            kubectl("acme-dev", &command),
            "kubectl --context 'acme-dev' -n 'd$(touch x)' delete 'configmap' 'a'\\''b; rm -rf /' --type=json -o"
        );
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
