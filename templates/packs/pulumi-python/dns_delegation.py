"""Is the domain delegated to its hosted zone? Checked before anything waits on it.

ACM validates the environments' certificates through records in the domain's public hosted
zone. While the domain is not delegated to that zone (its parent, or the registrar, has no NS
records naming the zone's name servers, or other ones), ACM never sees the records and a
certificate's validation waits until it times out. So the program asks public DNS for the
domain's NS records and compares them with the zone's name servers; when they differ it stops,
in preview already, with the commands that fix it. Where DNS cannot be reached (an offline
runner), it warns and goes on.

`dnsDelegationCheck: warn` (set with `pulumi config set`) turns the stop into a warning, for a
domain served by split-horizon DNS or delegated on purpose later.
"""

from __future__ import annotations

from collections.abc import Iterable

import dns.exception
import dns.resolver
import pulumi

LIFETIME_SECONDS = 8.0


class NotDelegated(Exception):
    """The domain's public NS records do not name the hosted zone's name servers."""


def normalize(names: Iterable[str]) -> set[str]:
    """Name servers compared as DNS compares them: no trailing dot, any case."""
    return {str(n).rstrip(".").lower() for n in names}


LAME = "lame"  # the delegation names servers that do not answer for the domain (SERVFAIL)


def public_name_servers(domain: str) -> set[str] | None:
    """The NS records public DNS answers for `domain` (empty when there are none, `{LAME}` when
    the servers it is delegated to refuse it), or None when DNS cannot be asked."""
    try:
        answer = dns.resolver.resolve(domain, "NS", lifetime=LIFETIME_SECONDS)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return set()
    except dns.resolver.NoNameservers:
        # Every server answered, with SERVFAIL or REFUSED: a lame delegation, most often the
        # registrar still naming the servers of a zone deleted or created again.
        return {LAME}
    except dns.exception.DNSException:
        return None
    return normalize(record.target.to_text() for record in answer)


def problem(domain: str, zone_id: str, expected: set[str], public: set[str]) -> str | None:
    """Why the domain is not delegated to the zone, with what fixes it; None when it is."""
    if public == expected:
        return None
    if public == {LAME}:
        found = "SERVFAIL (the servers it is delegated to do not serve it: a lame delegation)"
    else:
        found = ", ".join(sorted(public)) if public else "no NS record"
    parent = domain.split(".", 1)[1] if "." in domain else domain
    return (
        f"`{domain}` is not delegated to its hosted zone `{zone_id}`: public DNS answers {found}, "
        f"the zone's name servers are {', '.join(sorted(expected))}. ACM cannot validate the "
        "certificates until it is, and nothing reaches Argo CD's load balancers by name. Fix: add "
        f"an NS record for `{domain}` in the zone of `{parent}` (or at the registrar) with the name "
        f"servers of `aws route53 get-hosted-zone --id {zone_id} --query DelegationSet.NameServers`, "
        f"wait for `dig +short NS {domain}` to show them, then preview again "
        "(`pulumi config set dnsDelegationCheck warn` goes on without it)"
    )


def check_delegation(
    domain: str, zone_id: pulumi.Output[str], name_servers: pulumi.Output[list[str]], stop: bool
) -> None:
    """Stop (or warn, `stop=False`) when `domain` is not delegated to the zone; warn when DNS
    cannot be reached."""

    def check(args: list) -> None:
        zone, servers = args
        expected = normalize(servers or [])
        public = public_name_servers(domain)
        if public is None:
            pulumi.log.warn(
                f"could not ask public DNS for the NS records of `{domain}`: check yourself that "
                f"`dig +short NS {domain}` names the name servers of hosted zone `{zone}` "
                f"({', '.join(sorted(expected))}); ACM validates the certificates only then"
            )
            return
        message = problem(domain, zone, expected, public)
        if message and stop:
            raise NotDelegated(message)
        if message:
            pulumi.log.warn(message)

    pulumi.Output.all(zone_id, name_servers).apply(check)
