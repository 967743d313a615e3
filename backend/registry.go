package backend

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Driver opens one kind of WAL. The WAL it returns is wrapped by Open with the
// shared machinery (lock, group commit, fail-stop, ctx and Close handling), so a
// driver implements only what is particular to its storage. See doc.go.
type Driver interface {
	Open(ctx context.Context, cfg Config) (WAL, error)
}

// DriverFunc adapts a function to a Driver.
type DriverFunc func(ctx context.Context, cfg Config) (WAL, error)

// Open calls f.
func (f DriverFunc) Open(ctx context.Context, cfg Config) (WAL, error) { return f(ctx, cfg) }

var (
	driversMu sync.RWMutex
	drivers   = map[string]Driver{}
)

// Register makes a driver available under name. It is meant to be called from
// an init function and panics if name is empty, d is nil, or name is taken.
func Register(name string, d Driver) {
	driversMu.Lock()
	defer driversMu.Unlock()
	if name == "" {
		panic("backend: Register with an empty name")
	}
	if d == nil {
		panic("backend: Register driver is nil")
	}
	if _, dup := drivers[name]; dup {
		panic("backend: Register called twice for driver " + name)
	}
	drivers[name] = d
}

// Drivers returns the sorted names of the registered drivers.
func Drivers() []string {
	driversMu.RLock()
	defer driversMu.RUnlock()
	names := make([]string, 0, len(drivers))
	for name := range drivers {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func lookup(name string) (Driver, error) {
	driversMu.RLock()
	d, ok := drivers[name]
	driversMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("backend: unknown driver %q (forgotten import?); registered: %s",
			name, strings.Join(Drivers(), ", "))
	}
	return d, nil
}

// Open opens the WAL in cfg.Dir with the driver registered as cfg.Backend,
// wrapped in the shared machinery every backend gets.
func Open(ctx context.Context, cfg Config) (WAL, error) {
	d, err := lookup(cfg.Backend)
	if err != nil {
		return nil, err
	}
	return OpenDriver(ctx, d, cfg)
}
