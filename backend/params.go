package backend

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Params reads a driver's Config.Params, remembering which keys were read so
// that Err can reject the rest by name. Use it as
//
//	p := backend.NewParams(cfg)
//	size := p.Int64("segment_bytes", 64<<20)
//	if err := p.Err(); err != nil { return nil, err }
type Params struct {
	backend string
	values  map[string]string
	used    map[string]bool
	err     error
}

// NewParams returns a reader over cfg.Params.
func NewParams(cfg Config) *Params {
	return &Params{backend: cfg.Backend, values: cfg.Params, used: map[string]bool{}}
}

func (p *Params) lookup(key string) (string, bool) {
	p.used[key] = true
	v, ok := p.values[key]
	return v, ok
}

func (p *Params) fail(key, value, want string) {
	if p.err == nil {
		p.err = &ParamError{Backend: p.backend, Key: key, Value: value, Reason: "want " + want}
	}
}

// ParamError is a bad or unknown Config.Params key. Callers that map config
// errors to the config key (the broker's wal_params) find it with errors.As.
type ParamError struct {
	Backend string
	Key     string // the offending key; several unknown keys are comma-separated
	Value   string
	Reason  string // "unknown param" or what a valid value looks like
}

func (e *ParamError) Error() string {
	if e.Reason == unknownParam {
		return fmt.Sprintf("backend %s: unknown param %s", e.Backend, e.Key)
	}
	return fmt.Sprintf("backend %s: param %s=%q: %s", e.Backend, e.Key, e.Value, e.Reason)
}

const unknownParam = "unknown param"

// String returns the value of key, or def when it is absent.
func (p *Params) String(key, def string) string {
	if v, ok := p.lookup(key); ok {
		return v
	}
	return def
}

// Int64 returns key as an integer ≥ 0; "64MiB" style suffixes KiB, MiB, GiB are accepted.
func (p *Params) Int64(key string, def int64) int64 {
	v, ok := p.lookup(key)
	if !ok {
		return def
	}
	n, err := ParseSize(v)
	if err != nil {
		p.fail(key, v, "a size such as 4096 or 64MiB")
		return def
	}
	return n
}

// Bool returns key as a boolean.
func (p *Params) Bool(key string, def bool) bool {
	v, ok := p.lookup(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(key, v, "true or false")
		return def
	}
	return b
}

// Duration returns key as a time.Duration such as "2ms".
func (p *Params) Duration(key string, def time.Duration) time.Duration {
	v, ok := p.lookup(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		p.fail(key, v, "a duration such as 500us or 1s")
		return def
	}
	return d
}

// Err returns the first malformed value, or an error naming every key that
// was never read (an unknown key), or nil.
func (p *Params) Err() error {
	if p.err != nil {
		return p.err
	}
	var unknown []string
	for k := range p.values {
		if !p.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return &ParamError{Backend: p.backend, Key: strings.Join(unknown, ", "), Reason: unknownParam}
}

// ParseSize parses a byte count with an optional KiB, MiB or GiB suffix.
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// ParamChecker is implemented by drivers that can check their Config.Params
// without touching the disk, so that a caller can refuse a bad param before
// Open creates the directory. A driver offers one by implementing it on its
// Driver or with RegisterParamChecker.
type ParamChecker interface {
	// CheckParams returns the error Open would return for cfg.Params,
	// reading nothing but cfg.
	CheckParams(cfg Config) error
}

// ParamCheckerFunc adapts a function to a ParamChecker.
type ParamCheckerFunc func(cfg Config) error

// CheckParams calls f.
func (f ParamCheckerFunc) CheckParams(cfg Config) error { return f(cfg) }

// paramCheckers holds the ParamCheckers registered by name (guarded by extrasMu).
var paramCheckers = map[string]ParamChecker{}

// RegisterParamChecker makes c the ParamChecker of the driver registered as
// name. It is meant to be called from init and panics if name is empty, c is
// nil, or name already has one.
func RegisterParamChecker(name string, c ParamChecker) {
	registerExtra("RegisterParamChecker", paramCheckers, name, c)
}

// CheckParams returns the error Open would return for cfg.Params, touching
// nothing on disk: the shared layer's params are checked here, the rest by
// the driver's ParamChecker (a driver without one has them checked by Open
// only). An unknown cfg.Backend is an error.
func CheckParams(cfg Config) error {
	c, ok, err := extra(paramCheckers, cfg.Backend)
	if err != nil {
		return err
	}
	_, driverCfg, err := readSharedParams(cfg)
	if err != nil || !ok {
		return err
	}
	return c.CheckParams(driverCfg)
}
