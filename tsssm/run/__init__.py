"""The assembly layer under the entry points: configs to objects (``build``), checkpoints and the
record they carry (``checkpoint``), MLflow (``tracking``), DDP under Hydra (``ddp``), and the files
a run writes (``predictions``, ``plots``, ``reports``, ``samples``; written atomically through
``tsssm.data.atomic``)."""
