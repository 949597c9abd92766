"""The AWS account, partition and region the stack deploys into, who deploys it, and the
domain's public hosted zone.

Looked up once (caller identity, partition and the hosted zone are provider
invokes) and passed to every module that writes an ARN or a DNS record, so no
ARN in this program hard-codes an account or the `aws` partition.

`deployer_arn` is the IAM role (or user) that runs this `pulumi preview` or `pulumi up`: for an
assumed role, the role itself, not its session (`aws.iam.get_session_context`). EKS gives the
identity that creates a cluster an admin access entry of its own (pulumi-eks creates clusters
with `bootstrapClusterCreatorAdminPermissions`), so `cluster.py` adopts that entry instead of
creating a second one for the same role, which EKS refuses (`ResourceInUseException`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class AwsContext:
    """Account id, partition and region of the stack, and the public hosted zone of `domain`."""

    account_id: pulumi.Output[str]
    partition: pulumi.Output[str]
    region: str
    deployer_arn: str
    deployer_partition: str
    zone_id: pulumi.Output[str]
    zone_arn: pulumi.Output[str]
    zone_name_servers: pulumi.Output[list[str]]

    def managed_policy_arn(self, path_and_name: str) -> pulumi.Output[str]:
        """The ARN of an AWS managed policy, for example `AmazonEKSWorkerNodePolicy`."""
        return self.partition.apply(lambda p: f"arn:{p}:iam::aws:policy/{path_and_name}")


class WrongAccount(Exception):
    """The stack runs with credentials of another AWS account than its own (`account`)."""


def check_account(expected: str, actual: str, caller_arn: str) -> None:
    """Stop when the stack's own account (`account`, empty: any) is not the caller's."""
    if expected and actual != expected:
        raise WrongAccount(
            f"this stack deploys into AWS account {expected} (`account` in its stack file), but the credentials "
            f"are of account {actual} (`{caller_arn}`): nothing was changed. Run it with the AWS profile that "
            f"assumes the deployer role of account {expected} (`AWS_PROFILE=<project>-<stack>`, README), or, in "
            "CI, with the stack's own CI role"
        )


def lookup_aws_context(region: str, domain: str, account: str = "") -> AwsContext:
    """Look up the caller's account and partition, and the public hosted zone of `domain`.

    The zone must exist before the first `pulumi up` (the README says how): External DNS
    writes the services' records there and ACM's validation records go there. With `account`
    (a stack in an account of its own) the caller must be in that account, or the program stops
    before anything is declared: the provider's `allowedAccountIds` refuses it as well, at its
    first call.
    """
    identity = aws.get_caller_identity_output()
    partition = aws.get_partition_output()
    zone = aws.route53.get_zone_output(name=domain, private_zone=False)
    # Plain values, not Outputs: they decide resource options (what to adopt), which must be
    # known when a resource is declared. Both invokes only read, in preview as in up.
    caller = aws.get_caller_identity()
    check_account(account, caller.account_id, caller.arn)
    return AwsContext(
        account_id=identity.account_id,
        partition=partition.partition,
        region=region,
        deployer_arn=aws.iam.get_session_context(arn=caller.arn).issuer_arn,
        deployer_partition=aws.get_partition().partition,
        zone_id=zone.zone_id,
        zone_arn=zone.arn,
        zone_name_servers=zone.name_servers,
    )
