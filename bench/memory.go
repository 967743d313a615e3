package bench

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// heapMetric is the bytes of heap objects, live or not yet swept: what
// runtime.MemStats calls HeapAlloc, read without stopping the world.
const heapMetric = "/memory/classes/heap/objects:bytes"

// heapBytes returns the Go heap's object bytes.
func heapBytes() int64 {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// settledMemory collects garbage and returns freed memory to the system
// before reading RSS and heap, so that a row's before and after figures do
// not carry what earlier rows left for the collector.
func settledMemory() (rssBytes, heap int64) {
	runtime.GC()
	debug.FreeOSMemory()
	return rss(), heapBytes()
}

// memSample is one reading of the process's memory during a window.
type memSample struct {
	at        time.Duration // since the window started
	rss, heap int64
}

// memSampler reads RSS and heap every interval until stop.
type memSampler struct {
	start   time.Time
	samples []memSample
	done    chan struct{}
	wg      sync.WaitGroup
}

func startMemSampler(interval time.Duration) *memSampler {
	s := &memSampler{start: time.Now(), done: make(chan struct{})}
	s.take()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				s.take()
			case <-s.done:
				return
			}
		}
	}()
	return s
}

func (s *memSampler) take() {
	s.samples = append(s.samples, memSample{at: time.Since(s.start), rss: rss(), heap: heapBytes()})
}

// stop takes a last sample and fills m's window figures from the samples.
func (s *memSampler) stop(m *Memory) {
	close(s.done)
	s.wg.Wait()
	s.take()
	m.fromSamples(s.samples)
}

// fromSamples sets the window figures of m from samples (at least one, in
// time order): RSS and heap at the end, peak RSS, and how RSS changed over
// the second half of the window, against the last sample taken at or
// before its midpoint.
func (m *Memory) fromSamples(samples []memSample) {
	last := samples[len(samples)-1]
	mid := samples[0]
	for _, x := range samples {
		if x.at <= last.at/2 {
			mid = x
		}
		m.RSSPeak = max(m.RSSPeak, x.rss)
	}
	m.RSSEnd, m.HeapEnd, m.RSSLastHalf, m.Samples = last.rss, last.heap, last.rss-mid.rss, len(samples)
}
