//! The AWS regions a new workspace may name: the commercial (`aws`), GovCloud (`aws-us-gov`) and
//! China (`aws-cn`) partitions, as a list in the code.
//!
//! Source: the `regions` of those partitions in `botocore/data/partitions.json` (boto/botocore
//! 1.43.67, 2026-08-07; the file last changed on 2026-01-15), the list every AWS SDK generates
//! its endpoints from, without the pseudo-regions `aws-global`, `aws-cn-global` and
//! `aws-us-gov-global`. The isolated partitions (`aws-iso*`) and the European Sovereign Cloud
//! (`aws-eusc`) are left out: they are not reachable from the internet, and their ARNs and
//! endpoints differ. A region AWS opens later is refused until this list has it; the test
//! below names the partitions' regions one by one, so that a change here is a reviewed one.
//! Pure: no I/O, no knowledge of the answers.

use crate::util::problem::{did_you_mean, Problem};

/// The ARN partition of a region: `aws-us-gov` (GovCloud), `aws-cn` (China) or `aws`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("cn-") {
        "aws-cn"
    } else {
        "aws"
    }
}

/// Every region of the commercial, GovCloud and China partitions, by partition then name.
pub const REGIONS: &[&str] = &[
    // aws
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    // aws-us-gov
    "us-gov-east-1",
    "us-gov-west-1",
    // aws-cn
    "cn-north-1",
    "cn-northwest-1",
];

/// A region of [`REGIONS`], or a problem with the closest one as a hint.
pub fn parse_known(value: &str) -> Result<String, Problem> {
    if REGIONS.contains(&value) {
        return Ok(value.to_string());
    }
    let problem = Problem::new(
        format!("region `{}`", value.escape_default()),
        "is not an AWS region",
    );
    Err(
        match did_you_mean(&value.to_ascii_lowercase(), REGIONS.iter().copied()) {
            Some(close) => problem.hint(format!(
                "did you mean `{close}`? strata knows the regions of the commercial, GovCloud and China partitions"
            )),
            None => problem.hint(
                "use a region code such as `eu-west-1` or `us-east-2` (the commercial, GovCloud and China regions; `aws account list-regions` lists your account's)",
            ),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_the_three_partitions_of_botocore_1_43_67() {
        // botocore/data/partitions.json, partitions `aws`, `aws-us-gov` and `aws-cn`, without
        // their `*-global` pseudo-regions: 34 + 2 + 2.
        assert_eq!(REGIONS.len(), 38);
        let commercial = REGIONS
            .iter()
            .filter(|r| !r.starts_with("us-gov-") && !r.starts_with("cn-"))
            .count();
        assert_eq!(commercial, 34);
        for newest in [
            "ap-east-2",
            "ap-southeast-6",
            "ap-southeast-7",
            "mx-central-1",
        ] {
            assert!(REGIONS.contains(&newest), "{newest}");
        }
        let mut sorted = REGIONS.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), REGIONS.len(), "no region twice");
        for region in REGIONS {
            assert!(
                crate::model::names::parse_region(region).is_ok(),
                "{region} has the shape of a region code"
            );
        }
    }

    #[test]
    fn a_region_aws_does_not_have_is_refused_with_the_closest_one() {
        assert_eq!(parse_known("eu-west-1").unwrap(), "eu-west-1");
        assert_eq!(parse_known("us-gov-west-1").unwrap(), "us-gov-west-1");
        assert_eq!(parse_known("cn-northwest-1").unwrap(), "cn-northwest-1");
        for (typo, close) in [
            ("eu-west1", "eu-west-1"),
            ("eu-wset-1", "eu-west-1"),
            ("us-east-3", "us-east-"),
            ("EU-CENTRAL-1", "eu-central-1"),
            ("ap-southeast-9", "ap-southeast-"),
        ] {
            let problem = parse_known(typo).unwrap_err();
            assert_eq!(problem.message, "is not an AWS region", "{typo}");
            let hint = problem.hint.unwrap();
            assert!(
                hint.starts_with(&format!("did you mean `{close}")),
                "{typo}: {hint}"
            );
        }
        for far in [
            "mars-1",
            "us-iso-east-1",
            "eusc-de-east-1",
            "aws-global",
            "",
        ] {
            let problem = parse_known(far).unwrap_err();
            assert!(
                problem.subject.starts_with("region `"),
                "{far}: {problem:?}"
            );
        }
    }
}
