"""``python -m experiments.sawtooth_success [options]`` is ``approx run sawtooth_success [options]``."""

if __name__ == "__main__":
    from approx.run.cli import main_for_module
    raise SystemExit(main_for_module(__spec__.name))
