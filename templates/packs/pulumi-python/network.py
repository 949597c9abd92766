"""The VPC: public and private subnets in every AZ, NAT gateways, EKS subnet tags.

Nodes live in the private subnets only; the public subnets hold the NAT gateways
and internet-facing load balancers. The role tags let the AWS Load Balancer
Controller discover the subnets (the old `kubernetes.io/cluster/<name>` tag is
no longer needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_awsx as awsx

from settings import Settings

PUBLIC_SUBNET_TAGS = {"kubernetes.io/role/elb": "1"}
PRIVATE_SUBNET_TAGS = {"kubernetes.io/role/internal-elb": "1"}


@dataclass(frozen=True)
class NetworkOutputs:
    """What the rest of the program needs from the VPC."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[Sequence[str]]
    public_subnet_ids: pulumi.Output[Sequence[str]]


def create_network(settings: Settings) -> NetworkOutputs:
    """Create the VPC with one public and one private subnet per AZ."""
    net = settings.network
    vpc = awsx.ec2.Vpc(
        "vpc",
        cidr_block=net.cidr,
        number_of_availability_zones=net.az_count,
        enable_dns_hostnames=True,
        enable_dns_support=True,
        # EXACT: the subnets are the CIDRs strata chose, nothing else.
        subnet_strategy=awsx.ec2.SubnetAllocationStrategy.EXACT,
        subnet_specs=[
            awsx.ec2.SubnetSpecArgs(
                type=awsx.ec2.SubnetType.PRIVATE,
                cidr_blocks=list(net.private_subnet_cidrs),
                tags={**settings.tags, **PRIVATE_SUBNET_TAGS},
            ),
            awsx.ec2.SubnetSpecArgs(
                type=awsx.ec2.SubnetType.PUBLIC,
                cidr_blocks=list(net.public_subnet_cidrs),
                tags={**settings.tags, **PUBLIC_SUBNET_TAGS},
            ),
        ],
        nat_gateways=awsx.ec2.NatGatewayConfigurationArgs(
            strategy=awsx.ec2.NatGatewayStrategy(net.nat_gateways),
        ),
        tags={**settings.tags, "Name": settings.cluster_name},
    )
    return NetworkOutputs(
        vpc_id=vpc.vpc_id,
        private_subnet_ids=vpc.private_subnet_ids,
        public_subnet_ids=vpc.public_subnet_ids,
    )
