"""Judge the mutants of the compiled steps, which mutmut's own runner cannot (a dev tool).

    .ci/mutation approx/compiled_step.py approx/compiled_scan.py   # make the mutants; judges none
    python .ci/mutation_compiled.py [--jobs 2] [--timeout 300]      # judges them, updates the table
    python .ci/mutation_compiled.py NAME ...                        # only these (after new tests)

mutmut runs each mutant against the tests that its stats run saw calling the mutated function,
but that stats run fails on the compiled steps' tests (its call recorder cannot run inside a
graph that dynamo traces with ``fullgraph=True``), so no test is ever chosen for these modules.
This script runs, in mutants/, every mutant of ``MODULES`` that no earlier verdict killed,
switched on with ``MUTANT_UNDER_TEST`` (mutmut's own mechanism: each mutated function checks it
at each call, and dynamo traces that check as a constant), against ``TESTS``: a failing test
kills it, a run past ``--timeout`` counts as a kill (as in mutmut), passing tests leave it a
survivor. The verdicts replace these mutants' lines in results/mutation-hand-verdicts.tsv, and
the modules' rows of results/mutation.csv are written again (.ci/mutation_report.py).

First a control: with ``MUTANT_UNDER_TEST`` naming no mutant, the tests must pass, or every
mutant would look killed; the script stops there if they do not.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MUTANTS = REPO / "mutants"
MODULES = ["approx/compiled_step.py", "approx/compiled_scan.py"]
TESTS = ["tests/test_compiled_step.py", "tests/test_compiled_scan.py", "tests/run/test_executors.py"]
HAND = REPO / "results" / "mutation-hand-verdicts.tsv"
EVIDENCE = "run on mutmut's mutant code with MUTANT_UNDER_TEST (.ci/mutation_compiled.py)"


def run_tests(mutant: str, timeout: float) -> tuple[str, float]:
    """('killed' | 'survived' | 'timeout' | 'error <status>', seconds) of TESTS with ``mutant`` on."""
    env = {**os.environ, "MUTANT_UNDER_TEST": mutant, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
               "-m", "not slow and not cluster and not gpu", *TESTS]
    start = time.perf_counter()
    try:
        status = subprocess.run(command, cwd=MUTANTS, env=env, capture_output=True, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start
    verdict = {0: "survived", 1: "killed"}.get(status, f"error {status}")
    return verdict, time.perf_counter() - start


def mutants_to_judge() -> list[str]:
    """The mutants of MODULES that mutmut made and no source has killed yet."""
    spec = importlib.util.spec_from_file_location("mutation_report", REPO / ".ci" / "mutation_report.py")
    mutation_report = importlib.util.module_from_spec(spec)  # the report's reader of verdicts, a sibling tool
    spec.loader.exec_module(mutation_report)
    hand = mutation_report.hand_verdicts(HAND.read_text())
    names = []
    for module in MODULES:
        meta = MUTANTS / f"{module}.meta"
        if not meta.exists():
            raise SystemExit(f"no {meta.relative_to(REPO)}: run .ci/mutation {' '.join(MODULES)} first")
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if code not in mutation_report.KILLED and code not in mutation_report.TIMEOUT and hand.get(name) != 1:
                names.append(name)
    return names


def write_verdicts(verdicts: dict[str, str]) -> None:
    """Replace the hand verdicts' lines of these mutants by the new ones (a timeout as a kill)."""
    lines = HAND.read_text().splitlines()
    kept = [line for line in lines[1:] if line.split("\t")[0] not in verdicts]
    new = [f"{name}\t{'survived' if verdict == 'survived' else 'killed'}\t"
           f"{', '.join(TESTS)}{' (timed out)' if verdict == 'timeout' else ''}, {EVIDENCE}"
           for name, verdict in sorted(verdicts.items())]
    HAND.write_text("\n".join([lines[0], *kept, *new]) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("names", nargs="*", help="judge only these of the unkilled mutants")
    args = parser.parse_args(argv)
    control, seconds = run_tests("approx.compiled_step.x_no_such_function__mutmut_0", args.timeout)
    print(f"control (no mutant on): {control} in {seconds:.0f} s")
    if control != "survived":
        print("the tests fail with no mutant on, so no verdict would mean anything; stopping")
        return 1
    names = [name for name in mutants_to_judge() if not args.names or name in args.names]
    print(f"{len(names)} mutants to judge, {args.jobs} at a time")
    verdicts = {}
    with ThreadPoolExecutor(args.jobs) as pool:
        for name, (verdict, seconds) in zip(names, pool.map(lambda n: run_tests(n, args.timeout), names)):
            print(f"{verdict:9s} {seconds:5.0f} s  {name}", flush=True)
            verdicts[name] = verdict
    errors = {name: v for name, v in verdicts.items() if v.startswith("error")}
    write_verdicts({name: v for name, v in verdicts.items() if name not in errors})
    for name, verdict in errors.items():
        print(f"not judged ({verdict}): {name}")
    report = [sys.executable, str(REPO / ".ci" / "mutation_report.py"), "write", "results/mutation.csv", *MODULES]
    return subprocess.run(report, cwd=REPO).returncode or (1 if errors else 0)


if __name__ == "__main__":
    raise SystemExit(main())
