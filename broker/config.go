package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/broker/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Config is what nautilus.yaml holds; LoadConfig maps the file into it. A
// Config built in Go uses its paths as given (relative to the working
// directory); zero values take the defaults of the file format.
type Config struct {
	Sources      []Source           `yaml:"sources"`
	Escalation   []EscalationPack   `yaml:"escalation"`
	SessionStore SessionStoreConfig `yaml:"session_store"`
	Persistence  PersistenceConfig  `yaml:"persistence"`
	Limits       LimitsConfig       `yaml:"limits"`

	// Agents is the agent registry; with agents configured, a request's
	// agent must be one, and its clearance and purpose come from it.
	Agents        map[string]Agent    `yaml:"agents"`
	API           APIConfig           `yaml:"api"`
	SessionTokens SessionTokensConfig `yaml:"session_tokens"`
	PurposeTTL    PurposeTTLConfig    `yaml:"purpose_ttl"`
	Audit         AuditConfig         `yaml:"audit"`

	ids *identities // the secrets, once read (LoadConfig reads them)
}

// Source is a data source the broker routes to.
type Source struct {
	ID              string   `yaml:"id"`
	Type            string   `yaml:"type"` // "static": returns Rows
	Classification  string   `yaml:"classification"`
	DataTypes       []string `yaml:"data_types"`
	AllowedPurposes []string `yaml:"allowed_purposes"` // empty: any purpose
	// Compartments a request's agent must all hold (from the registry).
	Compartments []string         `yaml:"compartments"`
	Rows         []map[string]any `yaml:"rows"`
}

// EscalationPack raises a session's classification once every trigger data
// type has been seen in it, and flags the session with ID.
type EscalationPack struct {
	ID             string   `yaml:"id"`
	Trigger        []string `yaml:"trigger"`
	ResultingLevel string   `yaml:"resulting_level"`
}

// SessionStoreConfig selects the session store (see config_store.go).
type SessionStoreConfig struct {
	Backend    string `yaml:"backend"`     // "sqlite" (default), "memory" or "postgres"
	SQLitePath string `yaml:"sqlite_path"` // default ./.nautilus/sessions.db
	// BrokerID names this broker among those sharing a postgres store: its
	// WAL checkpoint is filed under it. Required with postgres.
	BrokerID string `yaml:"broker_id"`
	// DSN is the postgres connection string when it carries no password;
	// otherwise it comes from the environment variable DSNEnv names
	// (default NAUTILUS_PG_DSN).
	DSN    string `yaml:"dsn"`
	DSNEnv string `yaml:"dsn_env"`
}

// PersistenceConfig selects the persistence mode and the write-ahead log.
type PersistenceConfig struct {
	Mode       string            `yaml:"mode"` // "synchronous" (default) or "async"
	WALEnabled bool              `yaml:"wal_enabled"`
	WALPath    string            `yaml:"wal_path"`    // default ./.nautilus/wal
	WALBackend string            `yaml:"wal_backend"` // default jsonl
	WALSync    string            `yaml:"wal_sync"`    // "always" (default) or "none"
	WALParams  map[string]string `yaml:"wal_params"`
	// Encryption, when set, seals the WAL's records and the session store's
	// states; nil stores them as they are.
	Encryption *EncryptionConfig `yaml:"encryption"`
}

// Persistence modes.
const (
	ModeSynchronous = "synchronous"
	ModeAsync       = "async"
)

// Session store backends.
const (
	StoreSQLite   = "sqlite"
	StoreMemory   = "memory"
	StorePostgres = "postgres"
)

// Defaults of the file format.
const (
	DefaultSQLitePath = "./.nautilus/sessions.db"
	DefaultWALPath    = "./.nautilus/wal"
	DefaultWALBackend = "jsonl"
	DefaultDSNEnv     = "NAUTILUS_PG_DSN"
)

// ConfigError is a configuration mistake: "broker: config FILE:LINE: KEY:
// what is wrong", each part present when known.
type ConfigError struct {
	File string // the config file, when the mistake is in one
	Line int    // the line in File, 0 when not known
	Key  string // the setting as the file spells it ("persistence.wal_backend"); empty for the whole file
	Err  error
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("broker: config ")
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(key, format string, args ...any) error {
	return &ConfigError{Key: key, Err: fmt.Errorf(format, args...)}
}

// withDefaults fills zero values with the defaults.
func (c Config) withDefaults() Config {
	if c.SessionStore.Backend == "" {
		c.SessionStore.Backend = StoreSQLite
	}
	if c.SessionStore.Backend == StorePostgres && c.SessionStore.DSN == "" && c.SessionStore.DSNEnv == "" {
		c.SessionStore.DSNEnv = DefaultDSNEnv
	}
	if c.SessionStore.SQLitePath == "" {
		c.SessionStore.SQLitePath = DefaultSQLitePath
	}
	if c.Persistence.Mode == "" {
		c.Persistence.Mode = ModeSynchronous
	}
	if c.Persistence.WALPath == "" {
		c.Persistence.WALPath = DefaultWALPath
	}
	if c.Persistence.WALBackend == "" {
		c.Persistence.WALBackend = DefaultWALBackend
	}
	if c.Persistence.WALSync == "" {
		c.Persistence.WALSync = "always"
	}
	c.API = c.API.withDefaults()
	c.Audit = c.Audit.withDefaults()
	c.Limits = c.Limits.withDefaults()
	return c.identityDefaults()
}

// resolvePaths makes relative paths relative to dir.
func (c Config) resolvePaths(dir string) Config {
	paths := []*string{&c.SessionStore.SQLitePath, &c.Persistence.WALPath, &c.Audit.Path,
		&c.API.TLS.CertFile, &c.API.TLS.KeyFile, &c.API.TLS.ClientCAFile}
	c.Persistence.Encryption = c.Persistence.Encryption.clone() // resolved here, not in the caller's copy
	paths = append(paths, c.Persistence.Encryption.keyPaths()...)
	for _, p := range append(paths, c.secretPaths()...) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	return c
}

// Validate reports the first mistake in c (after defaults) as a
// *ConfigError. Unless LoadConfig has read them already, it reads the
// secrets the file names, from the environment and from files.
func (c Config) Validate() error {
	var lookup func(string) (string, bool)
	if c.ids == nil {
		lookup = os.LookupEnv
	}
	_, err := c.validate(lookup)
	return err
}

// validate is Validate reading secrets with lookup (nil: only check the
// settings) and returning them.
func (c Config) validate(lookup func(string) (string, bool)) (*identities, error) {
	if err := c.validateStorage(); err != nil {
		return nil, err
	}
	return c.validateIdentity(lookup)
}

func (c Config) validateStorage() error {
	c = c.withDefaults()
	ids := map[string]bool{}
	for i, s := range c.Sources {
		key := fmt.Sprintf("sources[%d]", i)
		if s.ID == "" {
			return configErr(key+".id", "missing")
		}
		if ids[s.ID] {
			return configErr(key+".id", "duplicate source id %q", s.ID)
		}
		ids[s.ID] = true
		if s.ID == denyAll {
			return configErr(key+".id", "%q is reserved", denyAll)
		}
		if s.Type != "static" {
			return configErr(key+".type", "unknown source type %q (want static)", s.Type)
		}
		if rank(s.Classification) < 0 && s.Classification != "pii" {
			return configErr(key+".classification", "unknown level %q (want one of %s, or pii)",
				s.Classification, strings.Join(ladder, ", "))
		}
		if len(s.DataTypes) == 0 {
			return configErr(key+".data_types", "empty: the source could never be routed")
		}
		for j, t := range s.DataTypes {
			if strings.TrimSpace(t) == "" {
				return configErr(fmt.Sprintf("%s.data_types[%d]", key, j), "empty data type")
			}
		}
		if err := checkCompartments(key+".compartments", s.Compartments); err != nil {
			return err
		}
	}
	packs := map[string]bool{}
	for i, p := range c.Escalation {
		key := fmt.Sprintf("escalation[%d]", i)
		if p.ID == "" {
			return configErr(key+".id", "missing")
		}
		if packs[p.ID] {
			return configErr(key+".id", "duplicate escalation id %q", p.ID)
		}
		packs[p.ID] = true
		if len(p.Trigger) == 0 {
			return configErr(key+".trigger", "empty: the pack would flag every session")
		}
		if rank(p.ResultingLevel) < 0 {
			return configErr(key+".resulting_level", "unknown level %q (want one of %s)",
				p.ResultingLevel, strings.Join(ladder, ", "))
		}
	}
	switch c.Persistence.Mode {
	case ModeSynchronous, ModeAsync:
	default:
		return configErr("persistence.mode", "unknown mode %q (want synchronous or async)", c.Persistence.Mode)
	}
	if err := c.SessionStore.validate(c.Persistence); err != nil {
		return err
	}
	if _, err := backend.ParseSyncMode(c.Persistence.WALSync); err != nil {
		return configErr("persistence.wal_sync", "unknown value %q (want always or none)", c.Persistence.WALSync)
	}
	if err := c.API.validate(); err != nil {
		return err
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	if err := c.Audit.validate(c.Persistence); err != nil {
		return err
	}
	if c.Persistence.WALEnabled {
		if !contains(backend.Drivers(), c.Persistence.WALBackend) {
			return configErr("persistence.wal_backend", "unknown backend %q (registered: %s)",
				c.Persistence.WALBackend, strings.Join(backend.Drivers(), ", "))
		}
		// Checked here, not by Open, so a bad param creates no WAL directory.
		err := backend.CheckParams(backend.Config{Backend: c.Persistence.WALBackend, Params: c.Persistence.WALParams})
		if err != nil {
			return walParamsError(err)
		}
	}
	return nil
}

// walParamsError names the wal_params key a backend refused, when it is one.
func walParamsError(err error) error {
	key := "persistence.wal_params"
	var perr *backend.ParamError
	if errors.As(err, &perr) && perr.Key != "" && !strings.Contains(perr.Key, ",") {
		key += "." + perr.Key
	}
	return &ConfigError{Key: key, Err: err}
}

// Options are the in-process settings that are not part of the config file.
// A nil *Options means the defaults.
type Options struct {
	// Logger receives warnings and errors (nil: slog.Default()).
	Logger *slog.Logger
	// Registerer, when set, receives the broker's metrics; other packages may
	// register theirs on the same registry.
	Registerer prometheus.Registerer
	// WALObserver is passed to the WAL (backend.Config.Observer).
	WALObserver backend.Observer
	// WrapWAL, when set, wraps the opened WAL, e.g. walmetrics.Metrics.Wrap.
	WrapWAL func(backend.WAL) backend.WAL
	// Store replaces the store that Config.SessionStore selects; the caller
	// keeps it and closes it after Close.
	Store store.Store
	// SharedStore says other brokers use Store too: each request then holds
	// its session's lock in the store (Store must be a store.Locker) and
	// reads the session from the store. A postgres session store is always
	// shared.
	SharedStore bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// IdleTimeout is how long a session stays in memory unused before it may
	// be evicted, once its updates are in the store (default 5 minutes).
	IdleTimeout time.Duration
	// WriterBatch bounds the records the async writer stores per transaction
	// (default 256).
	WriterBatch int
	// TruncateEvery is how far the checkpoint advances before the WAL is
	// truncated behind it (default 1024 records).
	TruncateEvery uint64
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.IdleTimeout <= 0 {
		r.IdleTimeout = 5 * time.Minute
	}
	if r.WriterBatch <= 0 {
		r.WriterBatch = 256
	}
	if r.TruncateEvery == 0 {
		r.TruncateEvery = 1024
	}
	return r
}
