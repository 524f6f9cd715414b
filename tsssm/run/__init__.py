"""The assembly under the entry points: a config to a run's objects (``build``), a checkpoint back
to its task (``checkpoint``) and the record a checkpoint carries (``record``), MLflow
(``tracking``), DDP under Hydra (``ddp``), the device a job runs on (``device``), predictions
gathered from every rank into one table (``predictions``) and timed generation
(``timed_generation``). Reliability: checkpoint files read without running code (``safe_load``),
errors reported in one line (``errors``, ``entry_point``), outputs that never replace inputs
(``outputs``), an MLflow run coherent through faults (``tracked_run``) and fits too short for a best
checkpoint (``short_runs``)."""
