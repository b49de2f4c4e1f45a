# Sourced by the benchmark scripts: timing and the figures they print.
#
#   source scripts/bench-lib.sh
#   t0=$(now_ms); ...; echo $(( $(now_ms) - t0 )) >>times
#   median <times        # the median of one number per line
#   ratio A B            # A / B with two decimals (0 when B is 0)

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
