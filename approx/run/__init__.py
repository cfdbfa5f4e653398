"""The runner infrastructure: everything between "run this experiment" and its files.

    cli        the ``approx`` command line (run, list, gallery, reproduce) and ``python -m``
    catalog    finds the experiment modules (package ``experiments``, or $APPROX_EXPERIMENTS)
    configs    builds a Config from its preset, --seed/--device and --set
    runner     plans a run (validating everything, writing nothing), then executes it
    executors  where the points are computed: in process, a process pool, or dask
    store      one file per finished point, so a killed run resumes
    results    the CSV and the JSON record of a finished run
    gallery    README.md of an output folder: every figure, its paragraph, its command
    reproduce  reruns every experiment and rebuilds the gallery

This package imports none of the maths (networks, engines, training, constructions): only
``approx.device`` (devices, seeds, precision) and ``approx.files`` (atomic writes); the
experiments it runs bring the maths with them. Nothing on the maths side imports it, and
importing this package imports none of its modules.
"""
