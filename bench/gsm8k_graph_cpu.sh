#!/usr/bin/env bash
# Issue 4 benchmark: GSM8K test questions 0-39 train, 40-99 evaluate; SmolLM2-135M Q4_1 on CPU.
S=${S:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}
D=${D:-../shared/data/gsm8k/test.jsonl}
B=${B:-./build/gcache}
O=${O:-runs/graph}
mkdir -p "$O"
COMMON="--task gsm8k --dataset $D --model $S --agents 4 --rounds 1 --latent-steps 10 --max-tokens 192 --agent-max-tokens 128 --temperature 0.6 --top-p 0.95 --seed 0 --batch 20"
t() { local name=$1; shift; /usr/bin/time -f "$name wall %e s" $B run --method gcache "$@" $COMMON --out $O/$name --resume > $O/$name.log 2>&1; tail -n 1 $O/$name.log >> $O/times.txt; }
t learned-untrained --topology Learned --train-iters 0 --offset 40 --max-samples 60 --score-answer
t learned-cache --topology Learned --train-iters 10 --batch-size 4 --lr 0.1 --max-samples 60
t learned-cache-lik --topology Learned --train-iters 10 --batch-size 4 --lr 0.1 --max-samples 60 --reward likelihood
t full-cache --topology FullConnected --offset 40 --max-samples 60 --score-answer
t chain-cache --topology Chain --offset 40 --max-samples 60 --score-answer
t full-text --topology FullConnected --text-mode --offset 40 --max-samples 60
t chain-text --topology Chain --text-mode --offset 40 --max-samples 60
echo ALLDONE >> $O/times.txt
python3 bench/graph_table.py $O/learned-untrained $O/learned-cache $O/learned-cache-lik $O/full-cache $O/chain-cache \
  $O/full-text $O/chain-text
