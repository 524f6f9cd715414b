"""The assembly under the entry points: a config to a run's objects (``build``), a checkpoint back
to its task (``checkpoint``) and the record a checkpoint carries (``record``), MLflow
(``tracking``), DDP under Hydra (``ddp``), the device a job runs on (``device``), predictions
gathered from every rank into one table (``predictions``) and timed generation
(``timed_generation``)."""
