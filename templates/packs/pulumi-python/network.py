"""The VPC, built resource by resource: subnets per AZ and tier, internet and NAT gateways, routes.

Every AZ gets one public and one private subnet, at the exact CIDRs of the stack
configuration. The public subnets route to the internet gateway and hold the NAT
gateways and the internet-facing load balancers; nothing else runs there (no
public IPs on launch). The private subnets hold the nodes and pods, and route to
the internet through a NAT gateway: one for the whole VPC (`natGateways: Single`,
cheaper, but the AZ that holds it is a single point of failure for egress) or one
per AZ (`OnePerAz`), each private subnet using the NAT gateway of its own AZ.

The subnets carry the tags the AWS Load Balancer Controller discovers them by:
`kubernetes.io/role/elb` (public), `kubernetes.io/role/internal-elb` (private) and
`kubernetes.io/cluster/<cluster>: shared` (this cluster may use them).

Explicit `aws.ec2` resources rather than a VPC component: every subnet, route and
association is visible to `pulumi preview` and to the tests under mocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from settings import Settings

PUBLIC_SUBNET_TAGS = {"kubernetes.io/role/elb": "1"}
PRIVATE_SUBNET_TAGS = {"kubernetes.io/role/internal-elb": "1"}
TIER_TAG = "strata.io/subnet-tier"
ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class NetworkOutputs:
    """What the rest of the program needs from the VPC.

    `egress` holds the private subnets' default routes and route table associations: whatever
    needs the internet from a private subnet (node groups joining the cluster, pulling images)
    must wait for them.
    """

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[Sequence[str]]
    public_subnet_ids: pulumi.Output[Sequence[str]]
    egress: Sequence[pulumi.Resource]


def cluster_tag(settings: Settings) -> dict[str, str]:
    """`kubernetes.io/cluster/<name>: shared`: this cluster may place load balancers in the subnet."""
    return {f"kubernetes.io/cluster/{settings.cluster_name}": "shared"}


def availability_zones(settings: Settings) -> pulumi.Output[list[str]]:
    """The first `azCount` regular AZs of the region (Local and Wavelength Zones need an opt-in and are skipped)."""
    wanted = settings.network.az_count
    zones = aws.get_availability_zones_output(
        state="available",
        filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
    )

    def first(names: Sequence[str]) -> list[str]:
        names = sorted(names or [])
        if len(names) < wanted:
            raise ValueError(
                f"region `{settings.region}` has {len(names)} availability zones ({', '.join(names)}), "
                f"but `network.azCount` is {wanted}"
            )
        return names[:wanted]

    return zones.names.apply(first)


def create_network(settings: Settings) -> NetworkOutputs:
    """The VPC, one public and one private subnet per AZ, the gateways and the routes."""
    net = settings.network
    name = settings.cluster_name
    tags = settings.tags
    zones = availability_zones(settings)

    vpc = aws.ec2.Vpc(
        "vpc",
        cidr_block=net.cidr,
        enable_dns_hostnames=True,  # EKS nodes and private endpoints need DNS hostnames
        enable_dns_support=True,
        tags={**tags, "Name": name},
    )
    child = pulumi.ResourceOptions(parent=vpc)
    gateway = aws.ec2.InternetGateway("igw", vpc_id=vpc.id, tags={**tags, "Name": name}, opts=child)

    public_table = aws.ec2.RouteTable("public", vpc_id=vpc.id, tags={**tags, "Name": f"{name}-public"}, opts=child)
    aws.ec2.Route(
        "public-default",
        route_table_id=public_table.id,
        destination_cidr_block=ANYWHERE,
        gateway_id=gateway.id,
        opts=pulumi.ResourceOptions(parent=public_table),
    )

    public_subnets: list[aws.ec2.Subnet] = []
    private_subnets: list[aws.ec2.Subnet] = []
    egress: list[pulumi.Resource] = []
    nat_gateways: list[aws.ec2.NatGateway] = []
    for index in range(net.az_count):
        zone = zones.apply(lambda names, i=index: names[i])
        public = aws.ec2.Subnet(
            f"public-{index}",
            vpc_id=vpc.id,
            cidr_block=net.public_subnet_cidrs[index],
            availability_zone=zone,
            map_public_ip_on_launch=False,  # only NAT gateways (Elastic IPs) and load balancers live here
            tags={
                **tags,
                **PUBLIC_SUBNET_TAGS,
                **cluster_tag(settings),
                TIER_TAG: "public",
                "Name": zone.apply(lambda z: f"{name}-public-{z}"),
            },
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"public-{index}",
            subnet_id=public.id,
            route_table_id=public_table.id,
            opts=pulumi.ResourceOptions(parent=public),
        )
        public_subnets.append(public)

        if net.nat_gateways == "OnePerAz" or index == 0:
            address = aws.ec2.Eip(
                f"nat-{index}", domain="vpc", tags={**tags, "Name": f"{name}-nat-{index}"}, opts=child
            )
            nat_gateways.append(
                aws.ec2.NatGateway(
                    f"nat-{index}",
                    allocation_id=address.allocation_id,
                    subnet_id=public.id,
                    connectivity_type="public",
                    tags={**tags, "Name": f"{name}-nat-{index}"},
                    # A NAT gateway only forwards once the VPC has its internet gateway.
                    opts=pulumi.ResourceOptions(parent=public, depends_on=[gateway]),
                )
            )
        nat = nat_gateways[-1] if net.nat_gateways == "OnePerAz" else nat_gateways[0]

        private = aws.ec2.Subnet(
            f"private-{index}",
            vpc_id=vpc.id,
            cidr_block=net.private_subnet_cidrs[index],
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags={
                **tags,
                **PRIVATE_SUBNET_TAGS,
                **cluster_tag(settings),
                TIER_TAG: "private",
                "Name": zone.apply(lambda z: f"{name}-private-{z}"),
            },
            opts=child,
        )
        # One route table per private subnet, so that moving from Single to OnePerAz changes routes only.
        table = aws.ec2.RouteTable(
            f"private-{index}",
            vpc_id=vpc.id,
            tags={**tags, "Name": zone.apply(lambda z: f"{name}-private-{z}")},
            opts=child,
        )
        route = aws.ec2.Route(
            f"private-{index}-default",
            route_table_id=table.id,
            destination_cidr_block=ANYWHERE,
            nat_gateway_id=nat.id,
            opts=pulumi.ResourceOptions(parent=table),
        )
        association = aws.ec2.RouteTableAssociation(
            f"private-{index}",
            subnet_id=private.id,
            route_table_id=table.id,
            opts=pulumi.ResourceOptions(parent=private),
        )
        private_subnets.append(private)
        egress += [route, association]

    return NetworkOutputs(
        vpc_id=vpc.id,
        private_subnet_ids=pulumi.Output.all(*[s.id for s in private_subnets]),
        public_subnet_ids=pulumi.Output.all(*[s.id for s in public_subnets]),
        egress=egress,
    )
