"""Research code: the benchmarks, ablations and probes behind BENCHMARKS.md and RELIABILITY.md.

Not part of the installed package; run from a checkout with `pip install -e ".[bench]"`. It may
import textcnn, service and training; none of them imports it.
"""
