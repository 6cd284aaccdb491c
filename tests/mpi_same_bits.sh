#!/usr/bin/env bash
# mpi_same_bits.sh: the data-parallel guarantee of docs/distributed.md under Open MPI's mpirun
# on one machine (any number of cores: the processes are oversubscribed).
#
# Usage: mpi_same_bits.sh CASE DIR MPIRUN -- PROGRAM ARGS...
#   same-bits  PROGRAM ARGS (tiny_gpt or batch_vs_precision with --shards S >= 4) ends in one
#              state digest alone (no mpirun) and under mpirun -np 1, 2, 3, 4
#   resume     checkpointed at P = 3 half-way and resumed at P = 2, the run ends in the digest
#              of the run that was never interrupted, at P = 4 (ARGS end with --steps K, K even)
#   refused    a shard count that does not fit is refused before training with a message that
#              says what to change: P = 3 with --shards 2, and --batch 10 with --shards 4
#   killed     a process killed (SIGKILL) in the middle of a long run ends the job with an error
#              within 30 seconds, not a hang; the checkpoint it had written is whole
#   sum-order  PROGRAM is mpi_sum_order: the fixed tree gives one digest for P = 1..4, a plain
#              MPI_Allreduce of the same shard sums does not (the check above can fail)
# The root and container settings Open MPI 4.1 needs are set here, not by the user.
set -uo pipefail
if (($# < 5)) || [[ $4 != -- ]]; then
    echo "usage: $0 same-bits|resume|refused|killed|sum-order DIR MPIRUN -- PROGRAM ARGS..." >&2
    exit 2
fi
case_name=$1 dir=$2 mpirun=$3
shift 4
program=("$@")
rm -rf "$dir"
mkdir -p "$dir"

# Open MPI refuses to run as root without both variables (containers, CI); shared-memory
# single-copy (CMA) needs ptrace rights that containers usually lack.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
# In a sanitizer build (isa.asan_ubsan) LeakSanitizer reports what Open MPI keeps from MPI_Init
# to exit, in components it has unloaded (no library to suppress by name): leak checks off for
# these runs only. test_shards checks the same fewbits code with leak detection on.
export LSAN_OPTIONS=${LSAN_OPTIONS:+$LSAN_OPTIONS:}detect_leaks=0

# run NAME P [ARGS...]: the program under mpirun -np P (P = 0: without mpirun), output in DIR/NAME.out.
run() {
    local name=$1 p=$2
    shift 2
    if ((p == 0)); then
        "${program[@]}" "$@" >"$dir/$name.out" 2>&1
    else
        "$mpirun" --oversubscribe -np "$p" "${program[@]}" "$@" >"$dir/$name.out" 2>&1
    fi
}
digest_of() { grep -o "state digest [0-9a-f]*" "$dir/$1.out" | tail -n 1; }
fail() {
    echo "FAIL: $*"
    exit 1
}

case $case_name in
same-bits)
    run alone 0 || fail "the run without mpirun failed: $(cat "$dir/alone.out")"
    want=$(digest_of alone)
    [[ -n $want ]] || fail "no state digest without mpirun"
    echo "no mpirun: $want"
    for p in 1 2 3 4; do
        run "np$p" "$p" || fail "mpirun -np $p failed: $(cat "$dir/np$p.out")"
        got=$(digest_of "np$p")
        echo "mpirun -np $p: $got ($(grep -c "state digest" "$dir/np$p.out") digest line)"
        [[ $got == "$want" ]] || fail "mpirun -np $p ended in '$got', not '$want'"
        [[ $(grep -c "state digest" "$dir/np$p.out") == 1 ]] || fail "mpirun -np $p: not process 0 alone printed"
    done
    grep "^exchange:" "$dir/np4.out"
    ;;
resume)
    steps=${program[-1]}
    program=("${program[@]:0:${#program[@]}-2}")
    run whole 4 --steps "$steps" || fail "the uninterrupted run failed: $(cat "$dir/whole.out")"
    run first 3 --steps $((steps / 2)) --checkpoint "$dir/run.fbck" || fail "the P = 3 half failed: $(cat "$dir/first.out")"
    run second 2 --steps "$steps" --resume "$dir/run.fbck" || fail "the P = 2 resume failed: $(cat "$dir/second.out")"
    want=$(digest_of whole) got=$(digest_of second)
    echo "uninterrupted at P = 4: $want; P = 3 to step $((steps / 2)), then P = 2: $got"
    grep -q "resumed from" "$dir/second.out" || fail "the second run did not resume"
    [[ -n $want && $got == "$want" ]] || fail "the resumed run ended in '$got', not '$want'"
    ;;
refused)
    run many 3 --shards 2
    rc=$?
    echo "P = 3, --shards 2: status $rc: $(grep -m1 "shards" "$dir/many.out")"
    ((rc != 0)) || fail "P = 3 with --shards 2 was not refused"
    grep -q "use --shards 3 or more (a divisor of --batch), or mpirun -np 2 or fewer" "$dir/many.out" ||
        fail "P = 3 with --shards 2: no message saying what to change"
    grep -q "^step " "$dir/many.out" && fail "P = 3 with --shards 2 trained before refusing"
    run uneven 2 --batch 10 --shards 4
    rc=$?
    echo "--batch 10 --shards 4: status $rc: $(grep -m1 "multiple of --shards" "$dir/uneven.out")"
    ((rc != 0)) || fail "--batch 10 with --shards 4 was not refused"
    grep -q "\-\-batch (10) must be a multiple of --shards (4)" "$dir/uneven.out" ||
        fail "--batch 10 --shards 4: no message saying what to change"
    ;;
killed)
    "$mpirun" --oversubscribe -np 2 "${program[@]}" --checkpoint "$dir/run.fbck" >"$dir/killed.out" 2>&1 &
    job=$!
    for _ in $(seq 300); do
        [[ -f $dir/run.fbck ]] && break
        sleep 0.1
    done
    [[ -f $dir/run.fbck ]] || fail "no checkpoint within 30 s: $(cat "$dir/killed.out")"
    # A process that mpirun started (its parent is mpirun), found in /proc (no procps needed).
    victim=
    for stat in /proc/[0-9]*/stat; do
        read -r line <"$stat" 2>/dev/null || continue
        read -r _ parent _ <<<"${line##*) }"
        [[ $parent == "$job" ]] && victim=$(basename "$(dirname "$stat")")
    done
    [[ -n $victim ]] || fail "no process of the job to kill"
    start=$(date +%s)
    kill -KILL "$victim"
    for _ in $(seq 300); do
        kill -0 "$job" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$job" 2>/dev/null; then
        kill -KILL "$job"
        fail "the job still ran 30 s after one of its processes was killed"
    fi
    wait "$job"
    rc=$?
    echo "killed process $victim: the job ended with status $rc after $(($(date +%s) - start)) s"
    tail -n 5 "$dir/killed.out"
    ((rc != 0)) || fail "the job ended with status 0 after a process was killed"
    # The checkpoint is whole: the run resumes from it (and stops there, --steps 0 being past it).
    "${program[@]}" --checkpoint "$dir/run.fbck" --resume "$dir/run.fbck" --steps 0 >"$dir/check.out" 2>&1
    grep -q "past --steps 0" "$dir/check.out" || fail "the checkpoint does not load: $(cat "$dir/check.out")"
    ;;
sum-order)
    trees=() sums=()
    for p in 1 2 3 4; do
        run "np$p" "$p" || fail "mpirun -np $p failed: $(cat "$dir/np$p.out")"
        cat "$dir/np$p.out"
        trees+=("$(grep -o "tree [0-9a-f]\{16\}" "$dir/np$p.out")")
        sums+=("$(grep -o "allreduce [0-9a-f]\{16\}" "$dir/np$p.out")")
    done
    (($(printf '%s\n' "${trees[@]}" | sort -u | wc -l) == 1)) || fail "the tree gave more than one digest"
    [[ -n ${trees[0]} ]] || fail "no tree digest"
    (($(printf '%s\n' "${sums[@]}" | sort -u | wc -l) > 1)) || fail "MPI_Allreduce gave one digest: the test could not fail"
    ;;
*)
    echo "$0: unknown case '$case_name' (expected same-bits, resume, refused, killed, sum-order)" >&2
    exit 2
    ;;
esac
echo "ok"
