package bench

import (
	"slices"
	"time"
)

// Summary describes a latency distribution. Percentiles are exact: they are
// read from every recorded sample, never estimated from buckets.
type Summary struct {
	Count int64         // samples
	Mean  time.Duration // arithmetic mean
	P50   time.Duration
	P90   time.Duration
	P99   time.Duration
	P999  time.Duration // 99.9th percentile
	Max   time.Duration
}

// Percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of sorted:
// the smallest sample such that at least p% of the samples are ≤ it.
// It returns 0 for no samples.
func Percentile(sorted []int64, p float64) int64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// Work in thousandths of a percent so 99.9 is exact, then take the ceiling.
	rank := (int64(n)*int64(p*1000+0.5) + 100_000 - 1) / 100_000
	if rank < 1 {
		rank = 1
	}
	if rank > int64(n) {
		rank = int64(n)
	}
	return sorted[rank-1]
}

// Summarize sorts samples (nanoseconds) in place and summarizes them.
func Summarize(samples []int64) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	slices.Sort(samples)
	var sum float64
	for _, s := range samples {
		sum += float64(s)
	}
	d := func(p float64) time.Duration { return time.Duration(Percentile(samples, p)) }
	return Summary{
		Count: int64(len(samples)),
		Mean:  time.Duration(sum / float64(len(samples))),
		P50:   d(50),
		P90:   d(90),
		P99:   d(99),
		P999:  d(99.9),
		Max:   time.Duration(samples[len(samples)-1]),
	}
}
