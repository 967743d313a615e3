package kv

import "sync"

// Log is the state an adapter keeps beside its store: the bounds [first,
// last] and whether a write failed, with the close record that carries the
// bounds from a clean Close to the next Open. The backend's wrapper
// serializes the writes (Append, Truncate, Write, Close); Bounds may run
// alongside them, so the writes themselves run without the lock.
type Log struct {
	store Store
	files Files
	dir   string // the WAL directory, where the close record lives

	mu          sync.Mutex
	first, last uint64
	failed      bool // a write failed: the store may hold more than the bounds
}

// NewLog returns the state of the log kept in store, whose close record
// lives in dir on files.
func NewLog(store Store, files Files, dir string) *Log {
	return &Log{store: store, files: files, dir: dir}
}

// Open checks the bounds read from the store at Open against the close
// record, removing it (Store.CheckCloseRecord), and then holds them.
func (l *Log) Open(first, last uint64) error {
	if err := l.store.CheckCloseRecord(l.files, l.dir, first, last); err != nil {
		return err
	}
	l.mu.Lock()
	l.first, l.last = first, last
	l.mu.Unlock()
	return nil
}

// Bounds returns the first and last index.
func (l *Log) Bounds() (first, last uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first, l.last
}

// Failed reports whether a write has failed since Open.
func (l *Log) Failed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// Write runs write, a write to the store that leaves the bounds alone (a
// sync), and returns its error. A failed write fails the log: the store may
// hold what the bounds do not, so Close leaves no close record.
func (l *Log) Write(write func() error) error {
	err := write()
	if err != nil {
		l.mu.Lock()
		l.failed = true
		l.mu.Unlock()
	}
	return err
}

// Append runs write, which stores n records from index next on in one
// atomic write, and returns the new last index; on failure it returns 0
// and the error, and the log has failed (see Write).
func (l *Log) Append(n int, write func(next uint64) error) (uint64, error) {
	_, last := l.Bounds()
	next := last + 1
	if err := l.Write(func() error { return write(next) }); err != nil {
		return 0, err
	}
	last = next + uint64(n) - 1
	l.mu.Lock()
	l.last = last
	l.mu.Unlock()
	return last, nil
}

// Truncate runs write, which deletes the records from index first below
// before and stores before as the first index in one atomic write, and then
// makes before the first index; on failure the log has failed (see Write).
func (l *Log) Truncate(before uint64, write func(first uint64) error) error {
	first, _ := l.Bounds()
	if err := l.Write(func() error { return write(first) }); err != nil {
		return err
	}
	l.mu.Lock()
	l.first = before
	l.mu.Unlock()
	return nil
}

// Close runs sync, which syncs what the sync mode left unsynced, and
// closeStore, whatever sync returned, and returns the first error. When both
// succeed and no write failed, it then writes the close record with the
// bounds: only a store that is closed and holds exactly the bounds may be
// checked against them at the next Open.
func (l *Log) Close(sync, closeStore func() error) error {
	err := sync()
	if cerr := closeStore(); err == nil {
		err = cerr
	}
	if err != nil || l.Failed() {
		return err
	}
	first, last := l.Bounds()
	return l.store.WriteCloseRecord(l.files, l.dir, first, last)
}
