package pebble

import (
	"context"
	"fmt"
	"log/slog"
)

// logger routes Pebble's messages to slog: its chatty Infof (flushes,
// compactions, WAL rotation) at Debug, Errorf at Error. Fatalf panics instead
// of exiting the process: on the caller's goroutine the driver recovers the
// panic and returns it as an error, so the WAL fails stop.
type logger struct{ log *slog.Logger }

func newLogger(l *slog.Logger, dir string) logger {
	return logger{log: l.With("backend", Name, "dir", dir)}
}

func (l logger) Infof(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...))
	}
}

func (l logger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...))
}

func (l logger) Fatalf(format string, args ...any) {
	fatal := &FatalError{Msg: fmt.Sprintf(format, args...)}
	for _, a := range args {
		if err, ok := a.(error); ok {
			fatal.Err = err
			break
		}
	}
	l.log.Error(fatal.Msg, "fatal", true)
	panic(fatal)
}

// FatalError is what Pebble reported as fatal (through its logger's Fatalf),
// for example a failed write or fsync of its own WAL. The WAL returns it,
// wrapped, from the call that hit it.
type FatalError struct {
	Msg string // Pebble's message
	Err error  // the error Pebble reported, when there was one
}

func (e *FatalError) Error() string { return "fatal: " + e.Msg }

// Unwrap returns the error Pebble reported.
func (e *FatalError) Unwrap() error { return e.Err }
