"""The studies. One module per experiment, or one package when a study needs several files; the
runner (``approx.run.runner``) finds them here.

The contract every module follows (see ../DESIGN.md and README.md):

    \"\"\"One line on what it shows, with the paper it reproduces.

    approx run NAME                 # default preset -> results/NAME.{csv,png,pdf,json}
    approx run NAME --preset smoke  # seconds on CPU; what the tests run
    \"\"\"
    @dataclass(frozen=True)
    class Config:                   # every field typed, with a comment
        seed: int = 0               # fields named seed / device / dtype / tf32 are filled
        device: str = "auto"        # from the command line when the Config has them
        ...
        def __post_init__(self):    # every field checked with approx.checks, sizes capped by
            ...                     # experiments/_limits.py: bad input costs no work
    PRESETS = {"smoke": {...}, "default": {}, "full": {...}}   # field overrides by name

    def run(cfg: Config) -> pd.DataFrame     # pure: seeded, no files, no plotting
    def plot(df: pd.DataFrame, path: Path)   # from df alone; approx.plotting.save(fig, path)
    def describe(df: pd.DataFrame) -> str    # the gallery paragraph, numbers read from df

    if __name__ == "__main__":               # python -m experiments.NAME [options]
        from approx.run.cli import main_for_module   # is approx run NAME [options]
        raise SystemExit(main_for_module(__spec__.name))

Sweeps also define

    def points(cfg: Config) -> list[dict]           # independent units of work, JSON scalars
    def run_point(cfg: Config, point: dict) -> pd.DataFrame

and ``run(cfg)`` is then the concatenation of ``run_point`` over ``points`` in order. The runner
calls ``run_point`` itself so that it can store each finished point (``--resume``) and hand
points to an executor. A point is the natural batch: all seeds of one width, say, trained as
one ensemble.

A study that needs more than one file is a package, with the same names in every one:

    NAME/__init__.py    the docstring above (``approx list`` reads it) and the points; it
                        imports the rest and exports Config, PRESETS, run, points, run_point,
                        plot, describe
    NAME/config.py      Config and PRESETS (a Config may group each part's fields in a frozen
                        dataclass of their own, set as --set part.field=...)
    NAME/figure.py      plot;  NAME/text.py: describe
    NAME/analysis.py    what figure and text both read off the DataFrame, where there is any
    NAME/__main__.py    the ``__main__`` guard above, for python -m experiments.NAME

and named parts beside them as needed (depth_separation/parts.py). Nothing imports back up:
config.py imports no other part, and no part imports ``__init__.py``. ``_shallow.py`` and
``_limits.py`` are helpers shared by several studies.
"""
