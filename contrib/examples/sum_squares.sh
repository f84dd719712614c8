#!/bin/bash
# sum_squares.sh - example batch job: every task of the step sums the squares
# of its share of 1..N; the batch script adds the shares up.
#SBATCH --job-name=sum-squares
#SBATCH --nodes=2
#SBATCH --ntasks=4
#SBATCH --requeue
#SBATCH --open-mode=append
set -euo pipefail
N=${N:-200000}
echo "job $SLURM_JOB_ID start on $SLURM_JOB_NODELIST restart_count=${SLURM_RESTART_COUNT:-0}"
srun bash -c '
	i=$((SLURM_PROCID + 1)); s=0
	while [ $i -le '"$N"' ]; do s=$((s + i * i)); i=$((i + SLURM_NTASKS)); done
	echo "share $SLURM_PROCID on $SLURMD_NODENAME: $s"' >shares.txt
total=0
while read -r line; do total=$((total + ${line##* })); done <shares.txt
echo "result $total"
