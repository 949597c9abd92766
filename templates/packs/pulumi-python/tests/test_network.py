"""The network AWS will build, checked under Pulumi mocks: every subnet, gateway, route and tag."""

from __future__ import annotations

import ipaddress

from tests.conftest import Stack

SUBNET = "aws:ec2/subnet:Subnet"
ANYWHERE = "0.0.0.0/0"


def _tier(stack: Stack, tier: str) -> list[dict]:
    return [s for s in stack.of_type(SUBNET) if s["inputs"]["tags"].get("strata.io/subnet-tier") == tier]


def _by_id(stack: Stack, type_token: str) -> dict[str, dict]:
    return {r["id"]: r for r in stack.of_type(type_token)}


def _default_route_of(stack: Stack, subnet: dict) -> dict:
    """The 0.0.0.0/0 route of the route table associated with a subnet (exactly one of each)."""
    (association,) = [a["inputs"] for a in stack.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
                      if a["inputs"]["subnetId"] == subnet["id"]]  # fmt: skip
    (route,) = [r["inputs"] for r in stack.of_type("aws:ec2/route:Route")
                if r["inputs"]["routeTableId"] == association["routeTableId"]
                and r["inputs"]["destinationCidrBlock"] == ANYWHERE]  # fmt: skip
    return route


def test_the_vpc_has_the_configured_range_and_dns_hostnames(stack: Stack) -> None:
    vpc = stack.one("aws:ec2/vpc:Vpc")["inputs"]
    assert vpc["cidrBlock"] == stack.config["network"]["cidr"]
    assert vpc["enableDnsHostnames"] is True and vpc["enableDnsSupport"] is True


def test_subnets_are_the_configured_cidrs_inside_the_vpc_and_disjoint(stack: Stack) -> None:
    network = stack.config["network"]
    vpc = ipaddress.ip_network(network["cidr"])
    for tier, key in (("public", "publicSubnetCidrs"), ("private", "privateSubnetCidrs")):
        assert sorted(s["inputs"]["cidrBlock"] for s in _tier(stack, tier)) == sorted(network[key])
    subnets = [ipaddress.ip_network(s["inputs"]["cidrBlock"]) for s in stack.of_type(SUBNET)]
    assert len(subnets) == 2 * network["azCount"]
    for i, subnet in enumerate(subnets):
        assert subnet.subnet_of(vpc), subnet
        assert not any(subnet.overlaps(other) for other in subnets[i + 1 :]), subnet
    vpc_id = stack.one("aws:ec2/vpc:Vpc")["id"]
    assert all(s["inputs"]["vpcId"] == vpc_id for s in stack.of_type(SUBNET))


def test_each_az_has_one_public_and_one_private_subnet(stack: Stack) -> None:
    for tier in ("public", "private"):
        zones = [s["inputs"]["availabilityZone"] for s in _tier(stack, tier)]
        assert len(zones) == len(set(zones)) == stack.config["network"]["azCount"], (tier, zones)
    assert {s["inputs"]["availabilityZone"] for s in _tier(stack, "public")} == {
        s["inputs"]["availabilityZone"] for s in _tier(stack, "private")
    }


def test_public_subnets_route_to_the_internet_gateway_and_launch_no_public_ips(stack: Stack) -> None:
    gateway = stack.one("aws:ec2/internetGateway:InternetGateway")
    assert gateway["inputs"]["vpcId"] == stack.one("aws:ec2/vpc:Vpc")["id"]
    for subnet in _tier(stack, "public"):
        assert _default_route_of(stack, subnet).get("gatewayId") == gateway["id"]
        assert subnet["inputs"]["mapPublicIpOnLaunch"] is False


def test_private_subnets_route_through_nat_gateways_per_the_strategy(stack: Stack) -> None:
    network = stack.config["network"]
    nats = _by_id(stack, "aws:ec2/natGateway:NatGateway")
    public = {s["id"]: s["inputs"]["availabilityZone"] for s in _tier(stack, "public")}
    eips = {e["id"] for e in stack.of_type("aws:ec2/eip:Eip")}  # the mock's allocation id is the EIP's id
    assert len(nats) == (1 if network["natGateways"] == "Single" else network["azCount"])
    for nat in nats.values():
        assert nat["inputs"]["subnetId"] in public, "a NAT gateway sits in a public subnet"
        assert nat["inputs"]["allocationId"] in eips
    for subnet in _tier(stack, "private"):
        route = _default_route_of(stack, subnet)
        assert "gatewayId" not in route, "a private subnet has no route to the internet gateway"
        nat = nats[route["natGatewayId"]]
        if network["natGateways"] == "OnePerAz":
            assert public[nat["inputs"]["subnetId"]] == subnet["inputs"]["availabilityZone"]


def test_subnets_carry_the_load_balancer_controllers_discovery_tags(stack: Stack) -> None:
    cluster_tag = f"kubernetes.io/cluster/{stack.config['clusterName']}"
    for subnet in _tier(stack, "public"):
        tags = subnet["inputs"]["tags"]
        assert tags["kubernetes.io/role/elb"] == "1" and "kubernetes.io/role/internal-elb" not in tags
        assert tags[cluster_tag] == "shared"
    for subnet in _tier(stack, "private"):
        tags = subnet["inputs"]["tags"]
        assert tags["kubernetes.io/role/internal-elb"] == "1" and "kubernetes.io/role/elb" not in tags
        assert tags[cluster_tag] == "shared"


def test_the_cluster_and_nodes_use_the_subnets_and_nodes_wait_for_egress(stack: Stack) -> None:
    cluster = stack.one("eks:index:Cluster")["inputs"]
    assert sorted(cluster["privateSubnetIds"]) == sorted(s["id"] for s in _tier(stack, "private"))
    # Under Auto Mode the cluster gets no public subnet: its node class would launch nodes there.
    public = [] if stack.config.get("compute") == "auto-mode" else sorted(s["id"] for s in _tier(stack, "public"))
    assert sorted(cluster.get("publicSubnetIds") or []) == public
    private_routes = {r["urn"] for r in stack.of_type("aws:ec2/route:Route") if r["name"].startswith("private-")}
    for group in stack.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert sorted(group["inputs"]["subnetIds"]) == sorted(s["id"] for s in _tier(stack, "private"))
        assert private_routes <= set(group["dependencies"]), "nodes need their NAT route to join the cluster"
