"""The domain must be delegated to its hosted zone before ACM can validate a certificate: the
program asks public DNS at preview and stops with the commands that fix it; offline it warns.
Nothing of the hand-over to Argo CD waits for the certificates' validation."""

from __future__ import annotations

from tests.conftest import STACKS, planned, run, runnable
from tests.harness import ZONE_NAME_SERVERS

FIRST = STACKS[0] if STACKS else ""  # conftest refuses a repository without stacks
DELEGATED = [f"{n.upper()}." for n in ZONE_NAME_SERVERS]  # as DNS may write them: case, trailing dot
ELSEWHERE = ["ns1.registrar-parking.example.", "ns2.registrar-parking.example."]
BASE = runnable(FIRST) if STACKS else {}
WARN = {**BASE, "dnsDelegationCheck": "warn"}
for _answer in (DELEGATED, ELSEWHERE, "none", "servfail"):
    planned(FIRST, BASE, publicNameServers=_answer)
planned(FIRST, WARN, publicNameServers=ELSEWHERE)


def test_a_delegated_domain_deploys() -> None:
    assert not isinstance(run(FIRST, BASE, publicNameServers=DELEGATED), Exception)


def test_a_domain_delegated_elsewhere_or_not_at_all_stops_with_the_commands_that_fix_it() -> None:
    for answer in (ELSEWHERE, "none", "servfail"):
        result = run(FIRST, BASE, publicNameServers=answer)
        assert isinstance(result, Exception), f"public NS {answer}: the stack deployed anyway"
        message = str(result)
        assert "is not delegated to its hosted zone `ZMOCKZONE`" in message
        assert "aws route53 get-hosted-zone --id ZMOCKZONE" in message and "dig +short NS" in message
        assert ("no NS record" in message) == (answer == "none")
        assert ("lame delegation" in message) == (answer == "servfail")


def test_the_check_can_be_a_warning_and_offline_it_is_one() -> None:
    assert not isinstance(run(FIRST, WARN, publicNameServers=ELSEWHERE), Exception)
    assert not isinstance(run(FIRST, BASE), Exception), "DNS unreachable (these tests): a warning, not a stop"


def test_the_hand_over_does_not_wait_for_the_certificates_validation() -> None:
    result = run(FIRST, BASE)
    assert not isinstance(result, Exception), result
    by_urn = {r["urn"]: r for r in result.resources}
    validations = [r for r in result.resources if r["type"] == "aws:acm/certificateValidation:CertificateValidation"]
    assert validations
    for validation in validations:
        assert validation["customTimeouts"]["create"] == "20m", "ACM's own wait is 75 minutes"

    def waits_for(resource: dict, target: str, seen: set[str]) -> bool:
        for urn in resource["dependencies"]:
            if urn == target or (urn not in seen and urn in by_urn and waits_for(by_urn[urn], target, seen | {urn})):
                return True
        return False

    roots = [r for r in result.resources if r["type"] == "kubernetes:argoproj.io/v1alpha1:Application"]
    params = [r for r in result.resources if r["type"].endswith(":IngressClassParams")]
    assert roots and params
    for resource in roots + params:
        for validation in validations:
            assert not waits_for(resource, validation["urn"], set()), (
                f"{resource['name']} waits for {validation['name']}"
            )
