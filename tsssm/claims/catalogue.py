"""The claims made for state-space models, and the runs each is judged on.

This docstring is the contract with the study configs and benchmark scripts: they log exactly
this, and ``python -m tsssm.claims`` reads exactly this.

Every run is a FINISHED MLflow run in its study's experiment, tagged as ``tsssm.run.tracking.run_tags``
tags it: ``tsssm.model``, ``tsssm.dataset``, ``tsssm.horizon`` (a forecast horizon, or ``L<n>``
for a sequence length, context or window) and ``tsssm.seed`` (1, 2, 3: three seeds at least,
since a verdict needs them). A study with an axis of its own adds one tag for it. A model, its
conditions and seed are one run: when run again, the latest finished run counts.

=================================  ===========================================  ==========================
experiment                         tags besides model and seed                  metrics
=================================  ===========================================  ==========================
claims/c1-linear-time              dataset ``random``, horizon ``L<length>``    train/step_s,
                                   (2^10 ... 2^20)                              train/peak_bytes, oom,
                                                                                over_time
claims/c2-constant-memory          dataset ``random``, horizon ``L<context>``   decode/token_s,
                                   (2^10 ... 2^17)                              decode/peak_bytes,
                                                                                prefill/peak_bytes, oom
claims/c3-ltsf                     dataset, horizon                             test/mse
claims/c3-data-efficiency          dataset, horizon 96, tsssm.train_fraction    test/mse
claims/c3-data-efficiency-fsdd     dataset fsdd, horizon L<clip>,               test/bits_per_sample
                                   tsssm.train_fraction
claims/c4-token-free               dataset, horizon L<window>,                  test/bits_per_byte
                                   tsssm.tokenizer (bytes | bpe),
                                   tsssm.flops_budget (training FLOPs)
claims/c5-hybrids-{fsdd,bytes,     dataset (fsdd, tinyshakespeare, mqar),       test/bits_per_sample,
mqar}                              horizon L<window>,                           test/bits_per_byte,
                                   tsssm.attention_fraction (0, 0.125, 0.25,    test/accuracy
                                   0.5, 1: the pure models tagged too)
claims/c6-recall                   dataset mqar, horizon L<seq_len>,            test/accuracy,
                                   tsssm.width (d_model), tsssm.lr (the         val/best_accuracy
                                   learning rate)
claims/c7-sampling-rate            dataset fsdd, horizon L<clip>,               test/bits_per_sample
                                   tsssm.sample_rate (Hz tested at; trained
                                   at 8000)
=================================  ===========================================  ==========================

Besides its metrics, a study's runs are read for the history of their validation metric (the
one their checkpoints were chosen on: ``val/mse``, ``val/bits_per_token`` or ``val/accuracy``),
which says whether each was still improving when its budget ended (``tsssm.claims.progress``).

Tag values are plain numbers or names: ``tsssm.train_fraction`` ``0.05``, ``tsssm.flops_budget``
``1e15``, ``tsssm.width`` ``64``, ``tsssm.lr`` ``0.001``, ``tsssm.sample_rate`` ``16000``,
``tsssm.tokenizer`` ``bytes``. The declarations below list the models, datasets and axis values
each study expects; what is not run yet is listed as missing in the report. C4 compares model
and tokenizer together (``mamba/bytes`` against ``transformer/bpe``); C5 compares attention
fractions (whatever the model tag); C6 runs every job at each learning rate of a sweep and
counts, per model, conditions and seed, the run with the best validation accuracy
(``tsssm.claims.spec.Selection``), as a tuning sweep would; C7 has one run per model x seed x
tested rate, 8000 included, and compares each model's change from it.
C3 also holds a quality goal against its forecasting runs (``tsssm.claims.quality_goal``): per
dataset, the best state-space model's test MSE averaged over the four horizons against the best
fair re-evaluation published, reported beside the verdict.

The benchmark runs of C1 and C2 (one run per model x length x seed, the seed a repeat with its own
random weights and inputs; models ``s4``, ``mamba``, ``mamba2``, ``transformer``) log:

- ``train/step_s``: median seconds of one training step (forward, backward, optimizer step);
- ``train/peak_bytes``: peak device memory allocated during a step (counter reset before it);
- ``decode/token_s``: seconds per token decoded after a prefill of the context;
- ``decode/peak_bytes``: peak memory while decoding, counter reset after the prefill;
- ``prefill/peak_bytes``: the prefill's peak, stated separately and not judged;
- ``oom``: 1 for a configuration that ran out of memory, logged instead of the others;
- ``over_time`` (C1): 1 for a length not run because the same model and seed's step at a shorter
  length took over the time cap (``scripts/claims_costs.py --max-step-s``), logged instead of the
  others: attention's quadratic step would take minutes at 1M tokens.

Models are the tags of the model configs (``s4``, ``s4d``, ``mamba``, ``mamba2``, ``transformer``,
``hybrid``, ``lstm``, ``linear_attention``, ``gss``, ``dlinear``); the closed-form least-squares
forecaster is ``lstsq``. Linear attention and GSS, the usual points between attention and the
SSMs, are shown beside the judged models in the LTSF study; the studies whose every job is a
training of minutes (FSDD's data efficiency, recall) leave them out.
"""

from __future__ import annotations

from tsssm.claims.comparison import Comparison
from tsssm.claims.quality_goal import QualityGoal
from tsssm.claims.runs import DATASET, HORIZON, LENGTH, MODEL, tag
from tsssm.claims.scaling import Measure, Scaling
from tsssm.claims.spec import Claim, Column, Metric, Selection


def fraction(text: str) -> str:
    """``"0.125"`` -> ``"0.125"``, ``"1.0"`` -> ``"1"``: one spelling per value."""
    return f"{float(text):g}"


TRAIN_FRACTION = Column("training fraction", tag("tsssm.train_fraction"), parse=float)
TOKENIZER = Column("tokenizer", tag("tsssm.tokenizer"))
FLOPS_BUDGET = Column("training FLOPs", tag("tsssm.flops_budget"), parse=float)
ATTENTION_FRACTION = Column("attention fraction", tag("tsssm.attention_fraction"), parse=fraction)
WIDTH = Column("width", tag("tsssm.width"), parse=int)
SAMPLE_RATE = Column("sample rate", tag("tsssm.sample_rate"), parse=int)
LEARNING_RATE = Column("learning rate", tag("tsssm.lr"), parse=float)

SSMS = ("s4", "s4d", "mamba", "mamba2")
SEQUENCE_SSMS = ("s4", "mamba", "mamba2")  # the sequence presets (conf/model/seq) have no s4d
TRAIN_FRACTIONS = (0.05, 0.1, 0.25, 0.5, 1.0)
LTSF_BLOCKS = tuple((name, h) for name in ("ETTh1", "ETTh2", "ETTm1", "Exchange")
                    for h in (96, 192, 336, 720))
ILI_BLOCKS = tuple(("ILI", h) for h in (24, 36, 48, 60))
TEST_MSE = Metric("test/mse", "test MSE")
BITS_PER_SAMPLE = Metric("test/bits_per_sample", "test bits/sample")
BITS_PER_BYTE = Metric("test/bits_per_byte", "test bits/byte")
ACCURACY = Metric("test/accuracy", "test accuracy", lower_is_better=False)
VAL_MSE = Metric("val/mse", "validation MSE")
VAL_BITS = Metric("val/bits_per_token", "validation bits/token")
VAL_ACCURACY = Metric("val/accuracy", "validation accuracy", lower_is_better=False)
"""What the runs' checkpoints were chosen on (conf/callbacks/default.yaml, conf/_sequence.yaml,
conf/experiment/recall/mqar.yaml): its history tells which runs were still improving."""


GPU = "scripts/gpu/"
COSTS, C3_LTSF, C3_EFFICIENCY = (f"{GPU}claims_costs.sh", f"{GPU}claims_c3_ltsf.sh",
                                 f"{GPU}claims_c3_efficiency.sh")
SEARCH, LINEAR_CPU, C3_CPU = (f"{GPU}claims_search.sh", "scripts/claims_linear_cpu.sh",
                              "scripts/claims_c3_cpu.sh")


def cost_against_length(name: str, experiment: str, powers: range, fit_from: int,
                        measures: tuple[Measure, ...]) -> Scaling:
    """S4, Mamba and Mamba-2 judged, attention shown, at lengths ``2 ** k`` for k in ``powers``."""
    return Scaling(name=name, experiment=experiment, entity=(MODEL,), conditions=(LENGTH,),
                   claimed=SEQUENCE_SSMS, shown=("transformer",),
                   lengths=tuple(2 ** k for k in powers), fit_from=fit_from, measures=measures,
                   made_by=(COSTS,))


C1 = Claim("C1", "linear time", "A state-space model's training step costs time and memory linear "
           "in the sequence length L (attention's time grows quadratically).", (
    cost_against_length("training step against L", "claims/c1-linear-time", range(10, 21), 2 ** 14, (
        Measure(Metric("train/step_s", "step time (s)"), threshold=1.5),
        Measure(Metric("train/peak_bytes", "peak memory (bytes)"), threshold=1.5))),))

C2 = Claim("C2", "constant memory", "Decoding with a state-space model costs constant time and "
           "memory per token, whatever the context; attention's KV cache grows with it.", (
    cost_against_length("decoding against context", "claims/c2-constant-memory", range(10, 18), 2 ** 13, (
        Measure(Metric("decode/token_s", "time per token (s)"), threshold=0.5),
        Measure(Metric("decode/peak_bytes", "decoding peak memory (bytes)"), threshold=0.5),
        Measure(Metric("prefill/peak_bytes", "prefill peak memory (bytes)")))),))

LTSF = Comparison(name="long-horizon forecasting", experiment="claims/c3-ltsf", metric=TEST_MSE,
                  entity=(MODEL,), conditions=(DATASET, HORIZON), claimed=SSMS,
                  against=("transformer",),
                  shown=("hybrid", "lstm", "linear_attention", "gss", "dlinear", "lstsq"),
                  expected=LTSF_BLOCKS + ILI_BLOCKS, validation=VAL_MSE,
                  made_by=(SEARCH, C3_LTSF, C3_CPU, LINEAR_CPU))

LTSF_GOAL = QualityGoal(
    name="quality goal: the best state-space model against the best fair re-evaluation",
    study=LTSF.name, metric=TEST_MSE.key,
    targets={"ETTh1": 0.413, "ETTh2": 0.341, "ETTm1": 0.349, "Exchange": 0.292, "ILI": 1.633},
    horizons={name: tuple(h for block, h in LTSF_BLOCKS + ILI_BLOCKS if block == name)
              for name in ("ETTh1", "ETTh2", "ETTm1", "Exchange", "ILI")},
    candidates=SSMS,
    source="the best re-evaluation without drop_last published (xPatch, Table 15: the TFB "
           "re-evaluation, every test window)")

C3 = Claim("C3", "inductive bias", "State-space models carry a stronger temporal inductive bias "
           "than attention: tuned alike, they forecast better than a Transformer, also when "
           "trained on a fraction of the data.", (
    LTSF,
    Comparison(name="series data efficiency at horizon 96", experiment="claims/c3-data-efficiency",
               metric=TEST_MSE, entity=(MODEL,), conditions=(DATASET, TRAIN_FRACTION), claimed=SSMS,
               against=("transformer",), shown=("dlinear",),
               expected=tuple((name, f) for name in ("ETTh1", "ETTm1") for f in TRAIN_FRACTIONS),
               validation=VAL_MSE, made_by=(C3_EFFICIENCY, LINEAR_CPU)),
    Comparison(name="audio data efficiency", experiment="claims/c3-data-efficiency-fsdd",
               metric=BITS_PER_SAMPLE, entity=(MODEL,), conditions=(DATASET, TRAIN_FRACTION),
               claimed=SEQUENCE_SSMS, against=("transformer",), shown=("hybrid",),
               expected=tuple(("fsdd", f) for f in TRAIN_FRACTIONS), validation=VAL_BITS,
               made_by=(C3_EFFICIENCY,))),
    goals=(LTSF_GOAL,))

C4 = Claim("C4", "token-free at equal compute", "Given the same training compute (FLOPs), a "
           "byte-level state-space model reaches lower bits per byte than a Transformer on BPE "
           "tokens.", (
    Comparison(name="bytes against BPE", experiment="claims/c4-token-free", metric=BITS_PER_BYTE,
               entity=(MODEL, TOKENIZER), conditions=(DATASET, FLOPS_BUDGET),
               claimed=("mamba/bytes", "s4/bytes"), against=("transformer/bpe",),
               shown=("transformer/bytes",),
               expected=tuple((name, budget) for name in ("tinyshakespeare", "enwik6")
                              for budget in (1e14, 3e14, 1e15, 3e15)),
               validation=VAL_BITS, made_by=(f"{GPU}claims_c4.sh",)),))


def hybrid_study(name: str, data: str, dataset: str, metric: Metric,
                 validation: Metric) -> Comparison:
    """Attention fractions 1/8, 1/4, 1/2 against the pure SSM (0) and pure attention (1)."""
    return Comparison(name=name, experiment=f"claims/c5-hybrids-{data}", metric=metric,
                      entity=(ATTENTION_FRACTION,), conditions=(DATASET,),
                      claimed=("0.125", "0.25", "0.5"), against=("0", "1"), expected=((dataset,),),
                      validation=validation, made_by=(f"{GPU}claims_c5.sh",))


C5 = Claim("C5", "hybrids", "At matched size, a stack that mixes a few attention layers into "
           "state-space layers beats both the pure state-space stack and pure attention.", (
    hybrid_study("FSDD", "fsdd", "fsdd", BITS_PER_SAMPLE, VAL_BITS),
    hybrid_study("tinyshakespeare bytes", "bytes", "tinyshakespeare", BITS_PER_BYTE, VAL_BITS),
    hybrid_study("MQAR", "mqar", "mqar", ACCURACY, VAL_ACCURACY)))

C6 = Claim("C6", "recall", "State-space models recall as well as attention: trained to "
           "convergence on multi-query associative recall (MQAR), they are at least as accurate "
           "as a Transformer of the same width at the same length.", (
    Comparison(name="MQAR accuracy", experiment="claims/c6-recall", metric=ACCURACY,
               selection=Selection(LEARNING_RATE, Metric("val/best_accuracy",
                                                         "validation accuracy",
                                                         lower_is_better=False)),
               entity=(MODEL,), conditions=(DATASET, WIDTH, LENGTH), claimed=SEQUENCE_SSMS,
               against=("transformer",), shown=("hybrid",),
               expected=tuple(("mqar", w, n) for w in (64, 128, 256) for n in (64, 128, 256, 512)),
               validation=VAL_ACCURACY, made_by=(f"{GPU}claims_c6.sh",)),))

C7 = Claim("C7", "sampling-rate change", "An S4 model trained at one sampling rate runs at another "
           "by rescaling its step size, losing less than Mamba and a Transformer run as they are.", (
    Comparison(name="FSDD trained at 8 kHz", experiment="claims/c7-sampling-rate",
               metric=BITS_PER_SAMPLE, entity=(MODEL,), conditions=(DATASET, SAMPLE_RATE),
               claimed=("s4",), against=("mamba", "transformer"),
               expected=tuple(("fsdd", rate) for rate in (4000, 8000, 16000)), change_from=8000,
               validation=VAL_BITS, made_by=(f"{GPU}claims_c7.sh",)),))

CLAIMS = {claim.id: claim for claim in (C1, C2, C3, C4, C5, C6, C7)}
