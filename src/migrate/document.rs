//! The migration plan as the foundation keeps it: `MIGRATION.md` (four phases, exact
//! commands, every URN that moves and every URN that stays with its reason) and
//! `migration.sh` (the commands that can be scripted: forgetting the URNs in dependency order,
//! checking the preview, cleaning up). Pure text; no secret value can reach it, because none
//! reaches a [`Migration`].

use std::fmt::Write as _;

use crate::migrate::service::{ADOPTION_PATCH, SYNC_OPTIONS};
use crate::migrate::{Migration, Mode};
use crate::model::stack_export::{StackExport, Writer};

/// The file names in the foundation.
pub const PLAN_FILE: &str = "MIGRATION.md";
pub const SCRIPT_FILE: &str = "migration.sh";

/// Quotes a word for a POSIX shell (URNs hold `$`).
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
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
    write_what_moves(&mut md, migration);
    write_what_stays(&mut md, migration);
    write_phase_1(&mut md, stack, &export_name);
    write_phase_2(&mut md, migration, stack, project);
    write_phase_3(&mut md, migration, stack);
    write_phase_4(&mut md, stack);
    write_after_the_hand_over(&mut md, migration);
    md
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

/// Phase 1: export the stack again before starting.
fn write_phase_1(md: &mut String, stack: &str, export_name: &str) {
    let _ = writeln!(md, "## Phase 1: document the current state\n");
    let _ = writeln!(
        md,
        "This plan was made from `{export_name}`. Export the stack again right before you start, and \
         compare: a resource that changed since needs this plan made again.\n"
    );
    let _ = writeln!(
        md,
        "```sh\npulumi stack export --stack {stack} --file before-migration.json\n```\n\n\
         Keep the export out of git: it holds the stack's secrets (encrypted, or in plain text with \
         `--show-secrets`).\n"
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
         `pulumi up --stack {stack}` (it records the option and changes nothing else):\n\n   \
         - TypeScript: `{{ retainOnDelete: true }}`\n   \
         - Python: `pulumi.ResourceOptions(retain_on_delete=True)`\n   \
         - Go: `pulumi.RetainOnDelete(true)`\n   \
         - C#: `new CustomResourceOptions {{ RetainOnDelete = true }}`\n   \
         - YAML: `options: {{ retainOnDelete: true }}`\n"
    );
    if !protected.is_empty() {
        let _ = writeln!(
            md,
            "   These are also `protect`ed: lift that too (in the program, or):\n\n   ```sh"
        );
        for urn in &protected {
            let _ = writeln!(
                md,
                "   pulumi state unprotect --stack {stack} --yes {}",
                shell_quote(urn)
            );
        }
        let _ = writeln!(md, "   ```\n");
    }
}

/// Step 2 of phase 2: each service's secret in AWS Secrets Manager, from the running Secrets.
fn write_secrets_step(md: &mut String, migration: &Migration, project: &str) {
    let env = &migration.env;
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
            .map(|s| format!("kubectl -n {} get secret {} -o json", s.namespace, s.name))
            .collect();
        let _ = writeln!(
            md,
            "   ```sh\n   {{ {}; }} \\\n     | jq -s 'map(.data | map_values(@base64d)) | add' \\\n     | aws secretsmanager create-secret --name {name} --secret-string file:///dev/stdin\n   ```\n",
            gets.join("; ")
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
        let _ = writeln!(
            md,
            "   kubectl -n {env} rollout status deployment/{} --timeout=10m",
            service.name
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
            "pulumi state delete --stack {stack} --yes {}",
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
         `pulumi preview --json`. Then:\n\n```sh\npulumi up --stack {stack}\n```\n"
    );
}

/// After the hand-over: let Argo CD prune, remove what Pulumi left.
fn write_after_the_hand_over(md: &mut String, migration: &Migration) {
    let env = &migration.env;
    let _ = writeln!(md, "## After the hand-over\n");
    let _ = writeln!(
        md,
        "Once `pulumi up` has run and every service is healthy under Argo CD:\n\n\
         1. Let Argo CD prune again: delete `{ADOPTION_PATCH}` and its entry in `kustomization.yaml` of each \
            overlay below, and push.\n\
         2. Remove what Pulumi left behind (`bash {SCRIPT_FILE} cleanup` prints these commands):\n"
    );
    for service in &migration.services {
        let _ = writeln!(md, "   - `services/{}/overlays/{env}/`", service.name);
    }
    md.push('\n');
    let _ = writeln!(md, "```sh");
    for service in &migration.services {
        for line in &service.cleanup {
            let _ = writeln!(md, "{line}");
        }
    }
    let _ = writeln!(md, "```");
}

/// `migration.sh`.
pub fn script(migration: &Migration, export: &StackExport) -> String {
    let stack = &export.stack;
    let mut sh = String::new();
    let _ = writeln!(
        sh,
        "#!/usr/bin/env bash\n\
         # Written by `strata migrate` for stack `{stack}` of Pulumi project `{}` (see MIGRATION.md).\n\
         # Run it from the directory of that Pulumi project.\n\
         #   bash migration.sh forget         # phase 3, path B: pulumi state delete, dependents first\n\
         #   bash migration.sh check-preview  # phase 4: the preview deletes the moved URNs with retain, or not at all\n\
         #   bash migration.sh cleanup        # after the hand-over: print the clean-up commands\n\
         set -euo pipefail\n\
         STACK=\"${{STACK:-{stack}}}\"\n",
        export.project
    );
    let _ = writeln!(sh, "MOVED=(");
    for urn in &migration.order {
        let _ = writeln!(sh, "  {}", shell_quote(urn));
    }
    let _ = writeln!(sh, ")\n");
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
    let _ = writeln!(sh, "cleanup() {{\n  cat <<'EOF'");
    for service in &migration.services {
        for line in &service.cleanup {
            let _ = writeln!(sh, "{line}");
        }
    }
    let _ = writeln!(sh, "EOF\n}}\n");
    let _ = writeln!(
        sh,
        "case \"${{1:-}}\" in\n  forget) forget ;;\n  check-preview) check_preview ;;\n  cleanup) cleanup ;;\n  \
         *) echo \"usage: bash migration.sh forget|check-preview|cleanup\" >&2; exit 2 ;;\nesac"
    );
    sh
}
