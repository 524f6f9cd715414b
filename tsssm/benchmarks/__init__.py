"""GPU benchmarks of the project's kernels (``python -m tsssm.bench kernels``).

Imports only torch, triton and the kernels/mixers, so it runs on a GPU machine that has none of the
training stack (Hydra, MLflow, Lightning).

- ``floors``: bytes and exponentials a kernel must spend, and the floor time they give;
- ``cases``: the shapes each section times and the rows' names;
- ``results``: rows, checks, and the Markdown/JSON report; ``targets``: the benchmark's speed
  targets as PASS/MISS lines;
- ``checks``: a fast kernel against its float64 reference; ``timing``: the copy ceiling, do_bench
  and the guard around every case;
- one module per section: ``scan``, ``ssd``, ``step``, ``mixer``, ``attention``.
"""
