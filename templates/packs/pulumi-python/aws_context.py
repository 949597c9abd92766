"""The AWS account, partition and region the stack deploys into.

Looked up once (caller identity and partition are provider invokes) and passed
to every module that writes an ARN, so no ARN in this program hard-codes an
account or the `aws` partition.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class AwsContext:
    """Account id, partition and region of the stack."""

    account_id: pulumi.Output[str]
    partition: pulumi.Output[str]
    region: str

    def managed_policy_arn(self, path_and_name: str) -> pulumi.Output[str]:
        """The ARN of an AWS managed policy, for example `AmazonEKSWorkerNodePolicy`."""
        return self.partition.apply(lambda p: f"arn:{p}:iam::aws:policy/{path_and_name}")


def lookup_aws_context(region: str) -> AwsContext:
    """Look up the caller's account and partition."""
    identity = aws.get_caller_identity_output()
    partition = aws.get_partition_output()
    return AwsContext(account_id=identity.account_id, partition=partition.partition, region=region)
