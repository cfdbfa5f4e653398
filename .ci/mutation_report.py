"""The mutation score of the core, per module, from mutmut's verdicts (a dev tool of .ci/mutation).

    python .ci/mutation_report.py patterns [PATH ...]          # the mutant globs to give mutmut run
    python .ci/mutation_report.py write results/mutation.csv [PATH ...] [--meta DIR ...]

mutmut keeps, per mutated file, a JSON file ``mutants/<path>.meta`` whose ``exit_code_by_key``
maps each mutant (``approx.losses.x_mse__mutmut_3``) to the exit status of its tests. A test
that fails kills the mutant; a mutant that no selected test calls ("no tests") survives, since
nothing would notice the bug. The score of a module is

    score = (killed + timeout) / (mutants - equivalent - not_checked)

where ``equivalent`` mutants (listed by name in results/mutation-equivalent.md, each with the
reason it cannot change behaviour) are left out, and ``not_checked`` counts the mutants that no
verdict was reached for (a run stopped early), so that a partial run reports what it measured.
A timeout counts as a kill, as in mutmut: the mutant changed behaviour (a loop that never ends).

The table is updated, not replaced: ``write`` recomputes the rows of the modules that the
verdicts cover and keeps the other modules' rows as they are in the CSV (a run over one module
leaves the rest of the table alone), then sums the ``core`` row from the module rows. Verdicts
come from ``mutants/`` and from any ``--meta DIR`` (another snapshot's mutants/ folder, e.g. one
run with a narrower test selection to judge slow mutants faster, of the same code: mutmut numbers
a function's mutants from its source); where several sources judged a
mutant, a kill wins, since a test that fails on a mutant is a kill whichever run ran it. Mutants
judged outside mutmut's runner are listed in results/mutation-hand-verdicts.tsv (mutant, verdict,
the test that decided it): a mutant of mutmut's own code switched on with ``MUTANT_UNDER_TEST``
and run against a test file mutmut's selection leaves out, or a mutant applied by hand to a copy.
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
        "approx/first_order.py", "approx/fit_options.py", "approx/lbfgs.py", "approx/sweep.py", "approx/pieces.py",
        "approx/constructions/", "approx/metrics.py", "approx/ntk.py", "approx/member_groups.py",
        "approx/compiled_step.py", "approx/compiled_scan.py", "approx/run/store.py",
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


def hand_verdicts(tsv: str) -> dict[str, int]:
    """mutant -> exit status (1 killed, 0 survived) from results/mutation-hand-verdicts.tsv, whose
    lines are ``mutant<TAB>killed|survived<TAB>evidence`` after a header line."""
    codes = {}
    for number, line in enumerate(tsv.splitlines()[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3 or fields[1] not in ("killed", "survived"):
            raise ValueError(f"line {number} of the hand verdicts is {line!r}; "
                             "expected mutant<TAB>killed|survived<TAB>evidence")
        codes[fields[0]] = 1 if fields[1] == "killed" else 0
    return codes


def _rank(code: int | None) -> int:
    """How strong a verdict is when sources disagree: a kill (or timeout), then a survivor, then none."""
    if code in KILLED or code in TIMEOUT:
        return 2
    return 0 if code in NOT_CHECKED else 1


def merged_codes(meta_dirs: list[Path], hand: dict[str, int]) -> dict[str, dict[str, int | None]]:
    """module path -> {mutant: exit status}, the strongest verdict over every source."""
    modules: dict[str, dict[str, int | None]] = {}
    for meta_dir in meta_dirs:
        for meta in sorted(meta_dir.glob("approx/**/*.py.meta")):
            module = str(meta.relative_to(meta_dir))[:-len(".meta")]
            codes = modules.setdefault(module, {})
            for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
                if name not in codes or _rank(code) > _rank(codes[name]):
                    codes[name] = code
    for codes in modules.values():
        for name in codes:
            if name in hand and _rank(hand[name]) > _rank(codes[name]):
                codes[name] = hand[name]
    return modules


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
    return _scored(row)


def _scored(row: dict) -> dict:
    """``row`` with its score, (killed + timeout) / (mutants - equivalent - not_checked); nan if none is judged."""
    judged = row["mutants"] - row["equivalent"] - row["not_checked"]
    row["score"] = round((row["killed"] + row["timeout"]) / judged, 4) if judged else float("nan")
    return row


def rows(meta_dir: Path | list[Path], paths: list[str], equivalent: set[str],
         hand: dict[str, int] | None = None) -> list[dict]:
    """One row per module of ``paths`` (the core when empty) that the verdicts under ``meta_dir``
    (mutants/, or several such folders) cover, and their total."""
    globs = patterns(paths)
    meta_dirs = [meta_dir] if isinstance(meta_dir, Path) else meta_dir
    out, everything = [], {}
    for module, codes in sorted(merged_codes(meta_dirs, hand or {}).items()):
        codes = {k: v for k, v in codes.items() if any(fnmatch.fnmatch(k, g) for g in globs)}
        if codes:
            out.append({"module": module, **tally(codes, equivalent)})
            everything.update(codes)
    if out:
        out.append({"module": "core" if not paths else "all", **tally(everything, equivalent)})
    return out


def total(module_rows: list[dict]) -> dict:
    """The core row: the module rows' counts summed, and their score."""
    return _scored({"module": "core", **{c: sum(int(r[c]) for r in module_rows) for c in COLUMNS[1:-1]}})


def write(csv_path: Path, paths: list[str], meta_dirs: list[Path] | None = None) -> list[dict]:
    """Update ``csv_path``'s rows of the modules the verdicts cover (module docstring)."""
    results = REPO / "results"
    equivalent_md, hand_tsv = results / "mutation-equivalent.md", results / "mutation-hand-verdicts.tsv"
    equivalent = equivalent_names(equivalent_md.read_text()) if equivalent_md.exists() else set()
    hand = hand_verdicts(hand_tsv.read_text()) if hand_tsv.exists() else {}
    fresh = [r for r in rows([REPO / "mutants", *(meta_dirs or [])], paths, equivalent, hand)
             if r["module"] not in ("core", "all")]
    kept = {}
    if csv_path.exists():
        with open(csv_path, newline="") as f:
            kept = {r["module"]: r for r in csv.DictReader(f) if r["module"] not in ("core", "all")}
    kept.update({r["module"]: r for r in fresh})
    table = [kept[m] for m in sorted(kept)]
    table.append(total(table))
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
    return table


def main(argv: list[str]) -> int:
    if argv[:1] == ["patterns"]:
        print("\n".join(patterns(argv[1:])))
    elif argv[:1] == ["write"] and len(argv) >= 2:
        paths, meta_dirs, rest = [], [], argv[2:]
        while rest:
            if rest[0] == "--meta" and len(rest) >= 2:
                meta_dirs.append(Path(rest[1]))
                rest = rest[2:]
            else:
                paths.append(rest.pop(0))
        for row in write(Path(argv[1]), paths, meta_dirs):
            mutants, equivalent = int(row["mutants"]), int(row["equivalent"])
            print(f"{row['module']:34s} {float(row['score']):.1%} of {mutants - equivalent} "
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
