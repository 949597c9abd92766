//! The hand-over of the service's other objects: the Services that select its pods, its
//! Ingress and HorizontalPodAutoscaler (strata's own now, with what they said more kept as
//! patches), its claims (kept verbatim), and the adoption patch and clean-up commands.

use serde_json::Value;

use super::shape::Exposure;
use super::{file_name, op, patch_text, verbatim, Derivation, Stay, ADOPTION_PATCH, SYNC_OPTIONS};
use crate::migrate::{Candidate, Kubectl, Mode, OverlayFile, Role};
use crate::model::stack_export::Writer;

impl<'a> Derivation<'a> {
    /// strata's Service takes the spec of Pulumi's Service of the same name (and an unnamed
    /// `http` port's target); the other Services that select the pods are kept verbatim.
    pub(super) fn hand_over_services(
        &mut self,
        services: &[&'a Candidate<'a>],
        target: Option<Value>,
    ) -> Result<(), Stay> {
        let service = self.service.clone();
        let mut service_ops: Vec<Value> = Vec::new();
        if let Some(target) = target {
            service_ops.push(op("replace", "/spec/ports/0/targetPort", target));
        }
        for candidate in services {
            let object = verbatim(candidate).map_err(|why| self.stay(why))?;
            if candidate.object.name == service {
                service_ops.push(op("add", "/spec", object["spec"].clone()));
                self.kept.push(format!(
                    "Service `{service}`'s spec (strata's Service has its name)"
                ));
                self.push_moved(
                    candidate,
                    format!("strata's Service `{service}`, with Pulumi's spec"),
                );
            } else {
                let name = file_name("Service", &candidate.object.name);
                self.kept
                    .push(format!("Service `{}`: `{name}`", candidate.object.name));
                self.files.push(OverlayFile {
                    name: name.clone(),
                    text: crate::util::yaml::emit(&object),
                    role: Role::Resource,
                });
                self.push_moved(candidate, format!("kept verbatim: `{name}`"));
            }
            if matches!(self.mode, Mode::Relocate { .. }) {
                self.delete_later("service", &candidate.object.name);
            }
        }
        if !service_ops.is_empty() {
            self.files.push(OverlayFile {
                name: "patch-pulumi-service.yaml".to_string(),
                text: patch_text(&service, "Service", &service_ops),
                role: Role::Patch(Some(format!("{{kind: Service, name: {service}}}"))),
            });
        }
        Ok(())
    }

    /// The Ingress is strata's now (same name when it had the service's); its annotations
    /// strata does not govern are kept as a patch.
    pub(super) fn hand_over_ingresses(
        &mut self,
        ingresses: &[&'a Candidate<'a>],
        exposure: Option<&Exposure>,
    ) {
        let service = self.service.clone();
        let namespace = self.namespace.clone();
        for candidate in ingresses {
            let (host, path) = exposure.map_or((String::new(), String::new()), |e| {
                (e.host.clone(), e.path.clone())
            });
            self.push_moved(
                candidate,
                format!("strata's Ingress `{service}` at `{host}{path}` (the environment's shared load balancer)"),
            );
            if candidate.object.name != service {
                self.cleanup.push(Kubectl::delete(
                    &namespace,
                    "ingress",
                    &candidate.object.name,
                ));
                self.notes.push(format!("until the old Ingress `{}` is deleted (after the hand-over), two Ingresses claim `{host}`; External DNS keeps the record of the one that owns it", candidate.object.name));
            } else if matches!(self.mode, Mode::Relocate { .. }) {
                self.cleanup.push(Kubectl::delete(
                    &namespace,
                    "ingress",
                    &candidate.object.name,
                ));
            }
        }
        if let Some(exposure) = exposure.filter(|e| !e.ops.is_empty()) {
            self.files.push(OverlayFile {
                name: "patch-pulumi-ingress.yaml".to_string(),
                text: patch_text(&service, "Ingress", &exposure.ops),
                role: Role::Patch(Some(format!("{{kind: Ingress, name: {service}}}"))),
            });
        }
    }

    /// strata's HorizontalPodAutoscaler takes the bounds; Pulumi's metrics and behaviour are
    /// kept as a patch.
    pub(super) fn hand_over_hpa(
        &mut self,
        hpa: Option<&(&'a Candidate<'a>, Value)>,
        min: u64,
        max: u64,
    ) {
        let Some((candidate, hpa_spec)) = hpa else {
            return;
        };
        let service = self.service.clone();
        let mut hpa_ops = Vec::new();
        for key in ["metrics", "behavior"] {
            if let Some(value) = hpa_spec.get(key) {
                hpa_ops.push(op("add", &format!("/spec/{key}"), value.clone()));
                self.kept.push(format!(
                    "HorizontalPodAutoscaler `{}`'s `{key}`",
                    candidate.object.name
                ));
            }
        }
        if !hpa_ops.is_empty() {
            self.files.push(OverlayFile {
                name: "patch-pulumi-hpa.yaml".to_string(),
                text: patch_text(&service, "HorizontalPodAutoscaler", &hpa_ops),
                role: Role::Patch(Some(format!(
                    "{{kind: HorizontalPodAutoscaler, name: {service}}}"
                ))),
            });
        }
        self.push_moved(
            candidate,
            format!("strata's HorizontalPodAutoscaler `{service}` ({min} to {max} replicas)"),
        );
        if candidate.object.name != service {
            self.cleanup.push(Kubectl::delete(
                &self.namespace,
                "horizontalpodautoscaler",
                &candidate.object.name,
            ));
            self.notes.push(format!("until the old HorizontalPodAutoscaler `{}` is deleted (after the hand-over), two autoscalers with the same bounds scale the Deployment", candidate.object.name));
        }
    }

    /// The PersistentVolumeClaims, kept verbatim; a relocated one starts empty.
    pub(super) fn keep_claims(&mut self) -> Result<(), Stay> {
        let claims: Vec<&'a Candidate<'a>> = self
            .members
            .iter()
            .copied()
            .filter(|c| c.object.kind == "PersistentVolumeClaim")
            .collect();
        for candidate in claims {
            let object = verbatim(candidate).map_err(|why| self.stay(why))?;
            let name = file_name("PersistentVolumeClaim", &candidate.object.name);
            self.kept.push(format!(
                "PersistentVolumeClaim `{}`: `{name}`",
                candidate.object.name
            ));
            self.files.push(OverlayFile {
                name: name.clone(),
                text: crate::util::yaml::emit(&object),
                role: Role::Resource,
            });
            self.push_moved(candidate, format!("kept verbatim: `{name}`"));
            if let Mode::Relocate { from } = &self.mode {
                let note = format!("PersistentVolumeClaim `{}` holds data: in `{}` it is a new, empty volume; copy the data from `{from}` before the cut-over", candidate.object.name, self.request.env);
                self.notes.push(note);
            }
        }
        Ok(())
    }

    /// Every object of the service carries the sync options until the hand-over; adopted in
    /// place, Pulumi's v3 marks are removed afterwards, relocated, the old objects deleted.
    pub(super) fn adopt(&mut self) {
        self.files.push(OverlayFile {
            name: ADOPTION_PATCH.to_string(),
            text: adoption_patch(),
            role: Role::Patch(Some("{name: \".*\"}".to_string())),
        });
        match &self.mode {
            Mode::Adopt => {
                for m in &self.moved {
                    if m.writer == Writer::V3
                        && matches!(
                            m.kind.as_str(),
                            "Deployment" | "Service" | "Ingress" | "PersistentVolumeClaim"
                        )
                    {
                        let kind = m.kind.to_ascii_lowercase();
                        self.cleanup.push(Kubectl::new(
                            &m.namespace,
                            &[
                                "annotate",
                                &kind,
                                &m.name,
                                "kubectl.kubernetes.io/last-applied-configuration-",
                            ],
                        ));
                        self.cleanup.push(Kubectl::new(
                            &m.namespace,
                            &["label", &kind, &m.name, "app.kubernetes.io/managed-by-"],
                        ));
                    }
                }
                self.notes.push(format!("Argo CD adopts the objects in `{}` where they are (identical names): nothing is deleted or created again; the pods roll once (maxUnavailable 0) because strata adds its labels and hardening to the pod template", self.namespace));
            }
            Mode::Relocate { from } => {
                self.cleanup
                    .push(Kubectl::delete(from, "deployment", &self.object));
                self.notes.push(format!("the objects live in `{from}`, not in the environment's namespace `{}`: Argo CD creates them there with identical names, and the ones in `{from}` keep serving until you switch traffic and delete them (after the hand-over)", self.request.env));
            }
        }
    }
}

fn adoption_patch() -> String {
    format!(
        "# Written by `strata migrate`: how Argo CD takes over the objects Pulumi made.\n\
         # - ServerSideApply=true: Argo CD applies as its own field manager, next to what\n\
         #   pulumi-kubernetes left (v3: the last-applied annotation; v4: field manager\n\
         #   `pulumi-kubernetes-*`), instead of a client-side three-way merge against Pulumi's\n\
         #   last-applied configuration.\n\
         # - Prune=false: until Pulumi has forgotten these objects (MIGRATION.md in the\n\
         #   foundation), Argo CD deletes none of them, whatever the diff says.\n\
         # Delete this file and its entry in kustomization.yaml once the hand-over is done.\n{}",
        crate::util::yaml::emit(&serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "any", "annotations": {"argocd.argoproj.io/sync-options": SYNC_OPTIONS}},
        }))
    )
}
