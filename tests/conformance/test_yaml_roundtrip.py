"""YAML safety (issue 4): free text given to strata reaches the manifests as exactly that
string, checked by a real `kubectl kustomize` build of the generated overlay.

Hypothesis feeds arbitrary strings (quotes, `: `, `#`, line breaks, a leading `*`, `&`, `!`,
`-`, `{{ }}`, unicode, `yes`, `no`, `on`, `null`, `0777`, numbers) as `--config` values; the
built ConfigMap must hold each one unchanged.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings, strategies as st

import checks
from conftest import DOMAIN, GIT_BASE

TRICKY = [
    "yes", "no", "on", "off", "null", "~", "true", "0777", "1e3", "0x1F", "12", "-1", ".5",
    "*alias", "&anchor", "!tag", "- item", "? key", ": value", "a: b", "# comment", "a #b",
    "{{ template }}", "{% raw %}", "'single'", '"double"', "\"'", "''", '""', " padded ",
    "line1\nline2", "tab\there", "trailing\n", "\\back\\slash", "[1, 2]", "{a: 1}", "|", ">",
    "%YAML", "---", "...", "héllo ✓ 日本", "\u2028sep", "emoji 🚀", "",
]

def _encodable(value: str) -> bool:
    """What strata accepts: no control character but tab and line feed, no DEL or C1 control,
    no U+FEFF, U+FFFE or U+FFFF (kustomize cannot write them; strata refuses them, exit 2)."""
    return not any((ord(c) < 0x20 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F
                   or ord(c) in (0xFEFF, 0xFFFE, 0xFFFF) for c in value)


text = st.one_of(
    st.sampled_from(TRICKY),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40),
).filter(_encodable)

_counter = itertools.count()


def _workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("roundtrip")
    checks.strata("new", "acme", "--envs", "dev", "--domain", DOMAIN, "--git-base", GIT_BASE, "--no-git", "--out", root,
                  cwd=root)
    return root / "acme-gitops"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(text, min_size=1, max_size=6))
def test_config_values_survive_a_real_kustomize_build(tmp_path_factory, values):
    gitops = getattr(test_config_values_survive_a_real_kustomize_build, "_gitops", None)
    if gitops is None:
        gitops = _workspace(tmp_path_factory)
        test_config_values_survive_a_real_kustomize_build._gitops = gitops
    name = f"svc{next(_counter)}"
    args = ["add", "service", name, "-C", gitops, "--allow-dirty"]
    expected = {}
    for index, value in enumerate(values):
        key = f"KEY_{index}"
        expected[key] = value
        args += ["--config", f"{key}={value}"]
    checks.strata(*args, cwd=gitops)
    objects = checks.kustomize_build(gitops / "services" / name / "overlays" / "dev")
    config_maps = [o for o in objects if o["kind"] == "ConfigMap"]
    assert len(config_maps) == 1, config_maps
    data = config_maps[0].get("data") or {}
    for key, value in expected.items():
        assert data.get(key) == value, f"{key}: sent {value!r}, kustomize built {data.get(key)!r}"
    checks.validate_objects(objects)


def test_values_kustomize_cannot_encode_are_refused_with_exit_2(tmp_path_factory):
    gitops = _workspace(tmp_path_factory)
    for value in ["\x7f", "a\rb", "\x1b[31m", "\ufeff"]:
        done = checks.run([checks.strata_bin(), "add", "service", "bad", "-C", gitops, "--config", f"K={value}"])
        assert done.returncode == 2, checks._describe(done)
        assert "control character" in done.stderr
        assert not (gitops / "services" / "bad").exists()
