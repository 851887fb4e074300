# Prints the latency at percentile `pct` (e.g. -v pct=99%) of a `wrk --latency` report, in
# milliseconds (wrk writes us, ms, s or m).
$1 == pct && distribution {
    v = $2
    if (v ~ /us$/) ms = v / 1000
    else if (v ~ /ms$/) ms = v + 0
    else if (v ~ /s$/) ms = v * 1000
    else if (v ~ /m$/) ms = v * 60000
    else ms = v + 0
    printf "%.3f\n", ms
    exit
}
/Latency Distribution/ { distribution = 1 }
