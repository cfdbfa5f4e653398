"""``python -m experiments.sawtooth_basin [options]`` is ``approx run sawtooth_basin [options]``."""

if __name__ == "__main__":
    from approx.run.cli import main_for_module
    raise SystemExit(main_for_module(__spec__.name))
