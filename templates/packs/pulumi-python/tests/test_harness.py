"""The harness's command line and mocks, without running the program."""

from __future__ import annotations

import json

import pytest

from tests import harness


def test_an_unknown_stack_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert harness.main(["no-such-stack"]) == 2
    assert "Pulumi.no-such-stack.yaml" in capsys.readouterr().err


def test_a_batch_needs_an_out_dir_and_unique_labels(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert harness.main([]) == 2
    batch = tmp_path / "batch.json"
    stack = harness.stacks()[0]
    batch.write_text(json.dumps([{"label": "a", "stack": stack}, {"label": "a", "stack": stack}]))
    assert harness.main(["--batch", str(batch)]) == 2
    assert harness.main(["--batch", str(batch), "--out-dir", str(tmp_path / "out")]) == 2
    assert "labels must be unique" in capsys.readouterr().err


def test_stack_values_are_passed_as_pulumi_passes_them() -> None:
    for stack in harness.stacks():
        config, _ = harness.stack_config(harness.REPO_ROOT, stack)
        values, _ = harness.stack_values(harness.REPO_ROOT, stack)
        for key, value in values.items():
            assert config[key] == (value if isinstance(value, str) else json.dumps(value))


def test_the_policy_document_mock_renders_conditions() -> None:
    document = harness.policy_document_json(
        {
            "statements": [
                {
                    "actions": ["sts:AssumeRoleWithWebIdentity"],
                    "principals": [{"type": "Federated", "identifiers": ["arn:aws:iam::1:oidc-provider/x"]}],
                    "conditions": [
                        {"test": "StringEquals", "variable": "x:sub", "values": ["system:serviceaccount:a:b"]}
                    ],
                }
            ]
        }
    )
    (statement,) = json.loads(document)["Statement"]
    assert statement["Condition"] == {"StringEquals": {"x:sub": "system:serviceaccount:a:b"}}
    assert statement["Principal"] == {"Federated": ["arn:aws:iam::1:oidc-provider/x"]}
