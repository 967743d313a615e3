// Package memory is the in-memory reference backend, registered as "memory".
//
// It is NOT durable: everything is lost when the process exits, whatever the
// sync mode. It exists for tests and as walbench's no-I/O baseline, which
// shows what the shared framework costs without any storage underneath.
// Records survive Close and reopen within one process, keyed by Config.Dir,
// so the conformance suite's restart cases run against it.
package memory

import (
	"context"
	"sync"

	"github.com/nautilus-go/nautilus/backend"
)

func init() {
	backend.Register("memory", backend.DriverFunc(Open))
	backend.RegisterParamChecker("memory", backend.ParamCheckerFunc(checkParams))
}

// checkParams refuses every param: the memory backend takes none.
func checkParams(cfg backend.Config) error { return backend.NewParams(cfg).Err() }

// logs holds each directory's log across Close and reopen within the process.
var (
	logsMu sync.Mutex
	logs   = map[string]*log{}
)

type log struct {
	mu      sync.RWMutex
	first   uint64
	records [][]byte // records[i] has index first+i
}

// Open opens the in-memory log for cfg.Dir. It takes no params.
func Open(ctx context.Context, cfg backend.Config) (backend.WAL, error) {
	if err := checkParams(cfg); err != nil {
		return nil, err
	}
	logsMu.Lock()
	defer logsMu.Unlock()
	l, ok := logs[cfg.Dir]
	if !ok {
		l = &log{first: 1}
		logs[cfg.Dir] = l
	}
	return &wal{log: l}, nil
}

type wal struct{ *log }

func (l *log) Append(_ context.Context, data ...[]byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range data {
		l.records = append(l.records, append([]byte(nil), d...))
	}
	return l.first + uint64(len(l.records)) - 1, nil
}

func (l *log) Replay(ctx context.Context, from uint64, fn func(uint64, []byte) error) error {
	for i := from; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		l.mu.RLock()
		if i < l.first {
			first, last := l.first, l.first+uint64(len(l.records))-1
			l.mu.RUnlock()
			return backend.OutOfRange("replay at", i, first, last)
		}
		if i >= l.first+uint64(len(l.records)) {
			l.mu.RUnlock()
			return nil
		}
		data := l.records[i-l.first]
		l.mu.RUnlock()
		if err := fn(i, data); err != nil {
			return err
		}
	}
}

func (l *log) Bounds(context.Context) (uint64, uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.first, l.first + uint64(len(l.records)) - 1, nil
}

func (l *log) TruncateFront(_ context.Context, before uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := before - l.first
	l.records = append([][]byte(nil), l.records[n:]...)
	l.first = before
	return nil
}

func (l *log) Sync(context.Context) error { return nil }
func (l *log) Close() error               { return nil }
