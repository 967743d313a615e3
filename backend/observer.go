package backend

import "time"

// Observer is told what a WAL does, for metrics and logs. Methods are called
// synchronously on the I/O path and must be quick and safe for concurrent use.
type Observer interface {
	// Committed reports one driver Append: the records and payload bytes it
	// carried (a group-commit batch), the callers it answered, and its latency.
	Committed(records, bytes, callers int, d time.Duration)
	// Synced reports one explicit Sync call and its latency.
	Synced(d time.Duration)
	// Replayed reports records delivered by Replay.
	Replayed(records int)
	// TailRepaired reports a torn tail cut off at Open.
	TailRepaired(file string, droppedBytes int64)
	// CorruptOpen reports an Open refused because of corruption.
	CorruptOpen(err error)
}

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) Committed(records, bytes, callers int, d time.Duration) {}
func (NopObserver) Synced(d time.Duration)                                 {}
func (NopObserver) Replayed(records int)                                   {}
func (NopObserver) TailRepaired(file string, droppedBytes int64)           {}
func (NopObserver) CorruptOpen(err error)                                  {}
