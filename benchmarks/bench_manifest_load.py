"""Manifest loading speed: PyYAML's pure-Python SafeLoader vs libyaml's CSafeLoader, and load_manifests."""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

import kpack

POD = """---
apiVersion: v1
kind: Pod
metadata: {{name: p{i}, namespace: ns{ns}, labels: {{app: a{ns}, tier: web}}}}
spec:
  nodeSelector: {{zone: z{ns}}}
  tolerations: [{{key: dedicated, operator: Exists, effect: NoSchedule}}]
  containers:
  - name: c
    image: nginx:1.27
    resources: {{requests: {{cpu: 100m, memory: 64Mi}}, limits: {{memory: 128Mi}}}}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pods", type=int, default=20000)
    args = ap.parse_args()
    text = "".join(POD.format(i=i, ns=i % 7) for i in range(args.pods))
    print(f"{args.pods} pods, {len(text) / 1e6:.1f} MB of YAML")
    timings = {}
    for name in ("SafeLoader", "CSafeLoader"):
        loader = getattr(yaml, name)
        t = time.perf_counter()
        docs = list(yaml.load_all(text, Loader=loader))
        timings[name] = time.perf_counter() - t
        print(f"yaml.load_all {name:12s} {timings[name]:7.2f} s  ({len(docs)} documents)")
    print(f"CSafeLoader speed-up: {timings['SafeLoader'] / timings['CSafeLoader']:.1f}x")
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "pods.yaml"
        f.write_text(text)
        t = time.perf_counter()
        objs = kpack.load_manifests(f)
        print(f"kpack.load_manifests (parse + validate + field check) {time.perf_counter() - t:7.2f} s "
              f"({len(objs)} objects)")


if __name__ == "__main__":
    main()
