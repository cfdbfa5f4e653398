"""The mutation score of the core, per module, from mutmut's verdicts (a dev tool of .ci/mutation).

    python .ci/mutation_report.py patterns [PATH ...]          # the mutant globs to give mutmut run
    python .ci/mutation_report.py write results/mutation.csv [PATH ...]

mutmut keeps, per mutated file, a JSON file ``mutants/<path>.meta`` whose ``exit_code_by_key``
maps each mutant (``approx.losses.x_mse__mutmut_3``) to the exit status of its tests. A test
that fails kills the mutant; a mutant that no selected test calls ("no tests") survives, since
nothing would notice the bug. The score of a module is

    score = (killed + timeout) / (mutants - equivalent - not_checked)

where ``equivalent`` mutants (listed by name in results/mutation-equivalent.md, each with the
reason it cannot change behaviour) are left out, and ``not_checked`` counts the mutants that no
verdict was reached for (a run stopped early), so that a partial run reports what it measured.
A timeout counts as a kill, as in mutmut: the mutant changed behaviour (a loop that never ends).
"""
from __future__ import annotations

import csv
import fnmatch
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# the core (issue 17); a folder stands for every module in it
CORE = ["approx/backprop/", "approx/autograd.py", "approx/network.py", "approx/activations.py",
        "approx/losses.py", "approx/optim.py", "approx/train.py", "approx/fit_monitor.py",
        "approx/first_order.py", "approx/fit_options.py", "approx/sweep.py", "approx/pieces.py",
        "approx/constructions/", "approx/metrics.py", "approx/ntk.py", "approx/run/store.py",
        "approx/run/runner.py"]
# modules of which only some functions are in the core: of the runner, _plan, which keys the
# points by the whole Config and loads the stored ones on --resume
ONLY = {"approx/run/runner.py": ["x__plan__mutmut_*"]}

# mutmut's exit statuses (mutmut/stats.py), grouped into the report's columns
KILLED = {1, 3, 37, -11, -9}       # a test failed, pytest broke, the type check, or a crash
TIMEOUT = {36, -24, 24, 152, 255}  # over its time limit (SIGXCPU)
NOT_CHECKED = {None, 2, 34}        # never run, interrupted, skipped
COLUMNS = ["module", "mutants", "killed", "survived", "timeout", "equivalent", "not_checked", "score"]


def module_name(path: str) -> str:
    """approx/run/store.py -> approx.run.store; a folder approx/backprop/ -> approx.backprop"""
    path = path.rstrip("/")
    if path.endswith(".py"):
        path = path[:-len(".py")]
    return path.replace("/", ".")


def patterns(paths: list[str]) -> list[str]:
    """The mutant-name globs of the modules at ``paths`` (the whole core when empty)."""
    if not paths:
        paths = CORE
    globs = []
    for path in paths:
        stripped = path.rstrip("/")
        if not stripped.startswith("approx/") or not (stripped.endswith(".py") or (REPO / stripped).is_dir()):
            raise ValueError(f"{path!r} is not a module or folder of approx/; allowed: e.g. approx/losses.py, "
                             "approx/backprop/")
        if stripped in ONLY:
            globs += [f"{module_name(stripped)}.{only}" for only in ONLY[stripped]]
        else:
            globs.append(f"{module_name(stripped)}.*")
    return globs


def equivalent_names(markdown: str) -> set[str]:
    """The mutant names listed in results/mutation-equivalent.md, one per line: ``- `name`: reason``"""
    return set(re.findall(r"^- `([^`]+)`", markdown, flags=re.MULTILINE))


def tally(exit_codes: dict[str, int | None], equivalent: set[str]) -> dict[str, float]:
    """Counts and score of one module's mutants (name -> mutmut exit status)."""
    row = {"mutants": len(exit_codes), "killed": 0, "survived": 0, "timeout": 0, "equivalent": 0, "not_checked": 0}
    for name, code in exit_codes.items():
        if name in equivalent:
            row["equivalent"] += 1
        elif code in NOT_CHECKED:
            row["not_checked"] += 1
        elif code in KILLED:
            row["killed"] += 1
        elif code in TIMEOUT:
            row["timeout"] += 1
        else:  # 0 survived, 5/33 no test calls it, anything else is suspicious
            row["survived"] += 1
    judged = row["mutants"] - row["equivalent"] - row["not_checked"]
    row["score"] = round((row["killed"] + row["timeout"]) / judged, 4) if judged else float("nan")
    return row


def rows(meta_dir: Path, paths: list[str], equivalent: set[str]) -> list[dict]:
    """One row per module with a mutmut verdict file under ``meta_dir`` (mutants/), and the total."""
    globs = patterns(paths)
    out, everything = [], {}
    for meta in sorted(meta_dir.glob("approx/**/*.py.meta")):
        module = str(meta.relative_to(meta_dir))[:-len(".meta")]
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        codes = {k: v for k, v in codes.items() if any(fnmatch.fnmatch(k, g) for g in globs)}
        if codes:
            out.append({"module": module, **tally(codes, equivalent)})
            everything.update(codes)
    if out:
        out.append({"module": "core" if not paths else "all", **tally(everything, equivalent)})
    return out


def write(csv_path: Path, paths: list[str]) -> list[dict]:
    equivalent_md = REPO / "results" / "mutation-equivalent.md"
    equivalent = equivalent_names(equivalent_md.read_text()) if equivalent_md.exists() else set()
    table = rows(REPO / "mutants", paths, equivalent)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(table)
    return table


def main(argv: list[str]) -> int:
    if argv[:1] == ["patterns"]:
        print("\n".join(patterns(argv[1:])))
    elif argv[:1] == ["write"] and len(argv) >= 2:
        for row in write(Path(argv[1]), argv[2:]):
            print(f"{row['module']:34s} {row['score']:.1%} of {row['mutants'] - row['equivalent']} "
                  f"({row['survived']} survived, {row['not_checked']} not checked)")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except ValueError as err:
        print(f"mutation_report: {err}", file=sys.stderr)
        sys.exit(2)
