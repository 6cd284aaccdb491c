#!/usr/bin/env bash
# Draws the experiment plots from the CSVs of the example programs, with gnuplot (Debian:
# gnuplot-nox, installed by cmake/install-deps.sh --with-data).
#
#   scripts/plot_results.sh [--png] [DIR]      (default DIR: results; --png: PNG, not SVG)
#
# Reads DIR/gradient_variance.csv, DIR/batch_vs_precision.csv, DIR/lm_batch_vs_precision_gaps.csv
# and DIR/lm_curves.csv (whichever exist) and writes
#   DIR/gradient_variance.svg     normalised quantization variance against batch size, log-log,
#                                 one panel per config x rounding, a line per format; the
#                                 sampling variance dashed and a slope -1 guide dotted
#   DIR/batch_vs_precision.svg    test accuracy against batch size (top) and its difference to
#                                 FP32 at the same batch (bottom), backward placement left,
#                                 low-precision weights right; SR solid, RTN dashed
#   DIR/lm_batch_vs_precision.svg the language model's paired gap to FP32 against batch size
#                                 with 95% intervals as error bars (from ..._gaps.csv), a panel
#                                 per design (equal tokens, equal steps); SR solid, RTN dashed
#   DIR/lm_curves.svg             validation bits per byte against training tokens (from
#                                 lm_curves.csv)
set -euo pipefail
ext=svg
if [[ ${1:-} == --png ]]; then ext=png; shift; fi
dir=${1:-results}
terminal() {  # terminal WIDTH HEIGHT
  if [[ $ext == svg ]]; then echo "set terminal svg size $1,$2 font 'sans,11' dynamic background '#ffffff'"
  else echo "set terminal pngcairo size $1,$2 font 'sans,10' background '#ffffff'"; fi
}
if ! command -v gnuplot >/dev/null; then
  echo "plot_results.sh: gnuplot is not installed: sudo apt-get install gnuplot-nox (or cmake/install-deps.sh --with-data)" >&2
  exit 1
fi
if [[ ! -d $dir ]]; then
  echo "plot_results.sh: no directory '$dir' (run the experiments first; see README)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
drew=0
# begin_plot NAME WIDTH HEIGHT: the gnuplot preamble of DIR/NAME.EXT; render NAME draws it.
begin_plot() {
  terminal "$2" "$3"
  echo "set output '$dir/$1.$ext'"
}
render() {
  gnuplot "$tmp/$1.gp"
  echo "wrote $dir/$1.$ext"
  drew=1
}

# Every series becomes one small data file; the plot command is built from the file list.
gv=$dir/gradient_variance.csv
if [[ -f $gv ]]; then
  awk -F, -v t="$tmp" 'NR > 1 {
      f = t "/gv_" $1 "_" $3 "_" $2 ".dat"; print $4, $5 > f
      s = t "/gvs_" $1 "_" $3 ".dat"; if (!((s, $4) in seen)) { seen[s, $4] = 1; print $4, $6 > s }
    }' "$gv"
  panels=()
  for config in backward weights; do
    for rounding in SR RTN; do
      ls "$tmp"/gv_${config}_${rounding}_*.dat >/dev/null 2>&1 && panels+=("$config $rounding")
    done
  done
  n=${#panels[@]}
  if (( n > 0 )); then
    {
      begin_plot gradient_variance $((n * 420)) 420
      echo "set multiplot layout 1,$n"
      echo "set logscale xy; set format y '10^{%L}'; set xlabel 'batch size b'; set grid; set autoscale xfix"
      echo "set key top right font ',9'"
      for p in "${panels[@]}"; do
        read -r config rounding <<<"$p"
        echo "set ylabel 'quantization variance (normalised)'"
        echo "set title '$config quantization, $rounding'"
        cmd="plot"
        for f in "$tmp"/gv_${config}_${rounding}_*.dat; do
          name=${f##*_${rounding}_}; name=${name%.dat}
          cmd+=" '$f' using 1:2 with linespoints lw 2 pt 7 ps 0.5 title '$name',"
        done
        s="$tmp/gvs_${config}_${rounding}.dat"
        [[ -f $s ]] && cmd+=" '$s' using 1:2 with lines dt 2 lw 2 lc 'black' title 'sampling',"
        # The slope -1 guide goes through the first format's value at the smallest batch.
        first=$(ls "$tmp"/gv_${config}_${rounding}_*.dat | head -1)
        read -r b0 v0 < <(sort -g "$first" | head -1)
        cmd+=" $v0 * $b0 / x with lines dt 3 lc 'gray40' title 'slope -1'"
        echo "$cmd"
      done
      echo "unset multiplot"
    } > "$tmp/gradient_variance.gp"
    render gradient_variance
  fi
fi

bvp=$dir/batch_vs_precision.csv
if [[ -f $bvp ]]; then
  # Accuracy in %, and the difference to FP32 at the same batch (FP32 rows come first per batch).
  awk -F, -v t="$tmp" 'NR > 1 {
      if ($1 == "fp32") { fp[$4] = $9; print $4, 100 * $9 > (t "/acc_fp32.dat"); next }
      f = $3 "_" $1 "_" $2
      print $4, 100 * $9 > (t "/acc_" f ".dat")
      if ($4 in fp) print $4, 100 * ($9 - fp[$4]) > (t "/gap_" f ".dat")
    }' "$bvp"
  placements=()
  for p in backward weights; do ls "$tmp"/acc_${p}_*.dat >/dev/null 2>&1 && placements+=("$p"); done
  n=${#placements[@]}
  if (( n > 0 )); then
    {
      begin_plot batch_vs_precision $((n * 480)) 760
      echo "set multiplot layout 2,$n columnsfirst"
      echo "set logscale x 2; set xlabel 'batch size'; set grid; set key bottom left font ',9'"
      for p in "${placements[@]}"; do
        what=$([[ $p == backward ]] && echo "backward pass in the format" || echo "weights stored in the format")
        for kind in acc gap; do
          if [[ $kind == acc ]]; then
            echo "set title '$what'; set ylabel 'test accuracy (%)'"
          else
            echo "set title '$what: difference to FP32'; set ylabel 'accuracy - FP32 accuracy (points)'"
          fi
          cmd="plot"
          [[ $kind == acc && -f $tmp/acc_fp32.dat ]] && cmd+=" '$tmp/acc_fp32.dat' using 1:2 with linespoints lw 3 lc 'black' pt 7 title 'fp32',"
          [[ $kind == gap ]] && cmd+=" 0 with lines lc 'black' lw 2 notitle,"
          i=0
          for f in "$tmp"/${kind}_${p}_*_SR.dat; do
            [[ -f $f ]] || continue
            i=$((i + 1))
            fmt=${f##*/${kind}_${p}_}; fmt=${fmt%_SR.dat}
            cmd+=" '$f' using 1:2 with linespoints lw 2 lc $i pt 7 title '$fmt SR',"
            r=${f%_SR.dat}_RTN.dat
            [[ -f $r ]] && cmd+=" '$r' using 1:2 with linespoints lw 2 dt 2 lc $i pt 6 title '$fmt RTN',"
          done
          for f in "$tmp"/${kind}_${p}_*_RTN.dat; do  # RTN series without an SR partner
            [[ -f $f && ! -f ${f%_RTN.dat}_SR.dat ]] || continue
            i=$((i + 1))
            fmt=${f##*/${kind}_${p}_}; fmt=${fmt%_RTN.dat}
            cmd+=" '$f' using 1:2 with linespoints lw 2 dt 2 lc $i pt 6 title '$fmt RTN',"
          done
          echo "${cmd%,}"
        done
      done
      echo "unset multiplot"
    } > "$tmp/batch_vs_precision.gp"
    render batch_vs_precision
  fi
fi

lmg=$dir/lm_batch_vs_precision_gaps.csv
if [[ -f $lmg ]]; then
  # The paired gap to FP32 against the batch with its 95% interval as error bars: one panel per
  # design (equal tokens, equal steps), a line per placement x format x rounding.
  awk -F, -v t="$tmp" 'NR > 1 && $2 != "none" && $10 != "nan" {
      lo = ($11 == "nan") ? $10 : $11; hi = ($12 == "nan") ? $10 : $12
      print $6, $10, lo, hi > (t "/lmg_" $1 "_" $2 "_" $3 "_" $4 ".dat")
    }' "$lmg"
  designs=()
  for d in tokens steps; do ls "$tmp"/lmg_${d}_*.dat >/dev/null 2>&1 && designs+=("$d"); done
  n=${#designs[@]}
  if (( n > 0 )); then
    {
      begin_plot lm_batch_vs_precision $((n * 480)) 460
      echo "set multiplot layout 1,$n"
      echo "set logscale x 2; set xlabel 'batch size (sequences)'; set ylabel 'validation bits per byte - FP32 (paired)'"
      echo "set grid; set key outside bottom center horizontal font ',9'; set offsets graph 0.05, graph 0.05, 0, 0"
      declare -A colour
      for d in "${designs[@]}"; do
        echo "set title '$([[ $d == tokens ]] && echo 'equal training tokens' || echo 'equal steps'): gap to FP32, 95% intervals'"
        cmd="plot 0 with lines lc 'black' lw 1 notitle,"
        # One colour per placement x format, SR solid and RTN dashed.
        i=0
        for f in "$tmp"/lmg_${d}_*_SR.dat "$tmp"/lmg_${d}_*_RTN.dat; do
          [[ -f $f ]] || continue
          base=${f%_*.dat}
          [[ $f == *_SR.dat || ! -f ${base}_SR.dat ]] && i=$((i + 1))
          [[ $f == *_RTN.dat && -f ${base}_SR.dat ]] && c=${colour[$base]} || { c=$i; colour[$base]=$i; }
          name=${f##*/lmg_${d}_}; name=${name%.dat}; name=${name//_/ }
          style=$([[ $f == *_RTN.dat ]] && echo "dt 2 pt 6" || echo "pt 7")
          cmd+=" '$f' using 1:2:3:4 with yerrorlines lw 2 lc $c $style title '$name',"
        done
        echo "${cmd%,}"
      done
      echo "unset multiplot"
    } > "$tmp/lm_batch_vs_precision.gp"
    render lm_batch_vs_precision
  fi
fi

lmc=$dir/lm_curves.csv
if [[ -f $lmc ]]; then
  # Validation bits per byte against training tokens for the first seed at the smallest batch.
  awk -F, -v t="$tmp" 'NR > 1 && $8 != "nan" { print $7, $8 > (t "/lmc_" $3 "_" $1 "_" $2 "_lr" $6 ".dat") }' "$lmc"
  {
    begin_plot lm_curves 640 460
    echo "set xlabel 'training tokens'; set ylabel 'validation bits per byte'; set grid"
    echo "set key outside right top font ',9'; set title 'validation curves (first seed, smallest batch)'"
    cmd="plot"
    i=0
    for f in "$tmp"/lmc_*.dat; do
      i=$((i + 1))
      name=${f##*/lmc_}; name=${name%.dat}; name=${name//_/ }
      style=$([[ $f == *_RTN_* ]] && echo "lw 2 dt 2" || echo "lw 2 dt 1")
      [[ $f == *_none_* ]] && style="lw 3 dt 1"
      cmd+=" '$f' using 1:2 with lines lc $i $style title '$name',"
    done
    echo "${cmd%,}"
  } > "$tmp/lm_curves.gp"
  render lm_curves
fi

if (( drew == 0 )); then
  echo "plot_results.sh: found none of $gv, $bvp, $lmg, $lmc" >&2
  exit 1
fi
