"""``python -m experiments.yarotsky [options]`` is ``approx run yarotsky [options]``."""

if __name__ == "__main__":
    from approx.run.cli import main_for_module
    raise SystemExit(main_for_module(__spec__.name))
