#!/usr/bin/env bash
# Claims block c5: C5 hybrids at matched size on FSDD, tiny shakespeare bytes and MQAR (study=c5_*),
# the datasets in turn (C5_DATA, default "fsdd bytes mqar"), each study one sweep per model side by
# side, its seeds one after another, for as long as the call allows (CLAIMS_DEADLINE). Its trainings
# are C7's size (FSDD: 1,000 steps of 16 clips of 4,096 samples; bytes: 2,000 steps of 32 × 1,024;
# MQAR: 2,000 of 64 × 256), and C7's seven side by side took 409-490 s on an H100, the GPU setting
# the pace: a call makes about one seed of each model on one dataset, so the block needs several
# calls, each given the last one's store. On FSDD the Mamba and Transformer epochs took 27-29 s
# with five trainings side by side and with three (the 1/8 hybrid's 36 s): six epochs a training,
# so a study given less than about 220 s finishes none.
# Usage: bash scripts/gpu/claims_c5.sh OUT [PREVIOUS] (claims_block.sh, docs/claims/README.md)
source "$(dirname "$0")/claims_block.sh" "$@"
export CLAIMS_DEADLINE=${CLAIMS_DEADLINE:-$(($(date +%s) + 540))}  # the whole block, not each study
for data in ${C5_DATA:-fsdd bytes mqar}; do
  run_study "c5_$data" 540 seq/mamba mix/eighth seq/hybrid mix/half seq/transformer
done
finish_block
