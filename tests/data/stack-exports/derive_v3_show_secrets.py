#!/usr/bin/env python3
"""Derive `constructed-pulumi-eks-encryption-provider-k8s-v3-show-secrets.json`.

The recorded v3 export (`pulumi-eks-encryption-provider-k8s-v3.json`) holds the Deployment's
spec and the Secret's data as Pulumi ciphertext, sealed with a passphrase nobody has. The same
upstream test recorded the provider's gRPC traffic (`grpc.json`, same directory upstream), in
which the engine hands the provider those values decrypted, as `{<sigil>: ..., "value": V}`.

This script rewrites, in the two Kubernetes application resources only, every ciphertext whose
decrypted value the gRPC log holds at the same place into the form `pulumi stack export
--show-secrets` writes: `{<sigil>: ..., "plaintext": <V as compact JSON>}` (the form the
recorded v4 export already uses). Everything else stays byte-for-byte what was recorded.

    python3 derive_v3_show_secrets.py EXPORT GRPC_JSON > OUTPUT
"""

import json
import sys

SIGIL = "4dabf18193072939515e22adb298388d"
MOVED = ("kubernetes:apps/v1:Deployment::nginx", "kubernetes:core/v1:Secret::db-password")


def last_call(log, method, urn):
    found = None
    for entry in log:
        request = entry.get("request") or {}
        if entry.get("method", "").endswith(method) and request.get("urn") == urn:
            found = entry
    return found


def reveal(recorded, decrypted, counts):
    if isinstance(recorded, dict) and SIGIL in recorded and "ciphertext" in recorded:
        if isinstance(decrypted, dict) and SIGIL in decrypted and "value" in decrypted:
            counts["revealed"] += 1
            value = json.dumps(decrypted["value"], separators=(",", ":"), ensure_ascii=False)
            return {SIGIL: recorded[SIGIL], "plaintext": value}
        counts["kept"] += 1
        return recorded
    if isinstance(recorded, dict):
        other = decrypted if isinstance(decrypted, dict) else {}
        return {k: reveal(v, other.get(k), counts) for k, v in recorded.items()}
    if isinstance(recorded, list):
        other = decrypted if isinstance(decrypted, list) else []
        return [reveal(v, other[i] if i < len(other) else None, counts) for i, v in enumerate(recorded)]
    return recorded


def main():
    export = json.load(open(sys.argv[1], encoding="utf-8"))
    log = [json.loads(line) for line in open(sys.argv[2], encoding="utf-8") if line.strip()]
    counts = {"revealed": 0, "kept": 0}
    for resource in export["deployment"]["resources"]:
        if not resource["urn"].endswith(MOVED):
            continue
        check = last_call(log, "/Check", resource["urn"])
        diff = last_call(log, "/Diff", resource["urn"])
        if check:
            resource["inputs"] = reveal(resource["inputs"], check["response"]["inputs"], counts)
        if diff:
            resource["outputs"] = reveal(resource["outputs"], diff["request"]["olds"], counts)
    json.dump(export, sys.stdout, indent=4, ensure_ascii=False)
    sys.stdout.write("\n")
    print(f"revealed {counts['revealed']}, kept {counts['kept']} ciphertexts", file=sys.stderr)


if __name__ == "__main__":
    main()
