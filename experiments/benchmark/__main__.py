"""``python -m experiments.benchmark [options]`` is ``approx run benchmark [options]``."""

if __name__ == "__main__":
    from approx.run.cli import main_for_module
    raise SystemExit(main_for_module(__spec__.name))
