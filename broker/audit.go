package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/nautilus-go/nautilus/audit"
	"github.com/nautilus-go/nautilus/backend"
)

// AuditConfig turns on the audit trail: one hash-chained event per request
// (package audit, docs/broker.md), appended before the answer leaves.
type AuditConfig struct {
	Enabled bool              `yaml:"enabled"`
	Path    string            `yaml:"path"`    // default ./.nautilus/audit
	Backend string            `yaml:"backend"` // default jsonl
	Sync    string            `yaml:"sync"`    // "always" (default): fsync'd before the answer; "none"
	Params  map[string]string `yaml:"params"`  // the backend's, as persistence.wal_params
}

// DefaultAuditPath is where the audit trail lives unless audit.path says.
const DefaultAuditPath = "./.nautilus/audit"

func (a AuditConfig) withDefaults() AuditConfig {
	if a.Path == "" {
		a.Path = DefaultAuditPath
	}
	if a.Backend == "" {
		a.Backend = DefaultWALBackend
	}
	if a.Sync == "" {
		a.Sync = "always"
	}
	return a
}

// validate checks the audit settings without creating anything.
func (a AuditConfig) validate(p PersistenceConfig) error {
	if _, err := backend.ParseSyncMode(a.Sync); err != nil {
		return configErr("audit.sync", "unknown value %q (want always or none)", a.Sync)
	}
	if !a.Enabled {
		return nil
	}
	if !contains(backend.Drivers(), a.Backend) {
		return configErr("audit.backend", "unknown backend %q (registered: %s)", a.Backend, strings.Join(backend.Drivers(), ", "))
	}
	if err := backend.CheckParams(backend.Config{Backend: a.Backend, Params: a.Params}); err != nil {
		key := "audit.params"
		var perr *backend.ParamError
		if errors.As(err, &perr) && perr.Key != "" && !strings.Contains(perr.Key, ",") {
			key += "." + perr.Key
		}
		return &ConfigError{Key: key, Err: err}
	}
	if p.WALEnabled && filepath.Clean(a.Path) == filepath.Clean(p.WALPath) {
		return configErr("audit.path", "%s is persistence.wal_path too: each log needs a directory of its own", a.Path)
	}
	return nil
}

func (b *Broker) openAudit(ctx context.Context) error {
	a := b.cfg.Audit
	if err := writableDir(a.Path); err != nil {
		return &ConfigError{Key: "audit.path", Err: err}
	}
	sync, _ := backend.ParseSyncMode(a.Sync) // checked by validate
	t, err := audit.Open(ctx, backend.Config{Backend: a.Backend, Dir: a.Path, Sync: sync, Params: a.Params, Logger: b.log})
	if err != nil {
		return fmt.Errorf("broker: %w (run `nautilus audit verify --path %s --backend %s`)", err, a.Path, a.Backend)
	}
	b.audit = t
	return nil
}

// decided is what a request's audit event says of the decision, filled in
// as Handle makes it.
type decided struct {
	types   []string
	routed  []string
	denials []Denial
}

// recordAudit appends the request's event once its answer (resp or err) is
// known, before it leaves. If the append fails the answer becomes that
// error: no data leaves without its event in the trail.
func (b *Broker) recordAudit(ctx context.Context, requestID string, req Request, d *decided, resp Response, err error) (Response, error) {
	if b.audit == nil {
		return resp, err
	}
	ev := audit.Event{RequestID: requestID, Time: timestamp(b.opts.Now()), AgentID: req.AgentID,
		SessionID: req.Context.SessionID, DataTypes: d.types, Routed: d.routed, Status: statusOf(err)}
	for _, dn := range d.denials {
		ev.Denied = append(ev.Denied, audit.Denial{Source: dn.SourceID, Rule: dn.RuleName, Reason: dn.Reason})
	}
	switch {
	case ev.Status == http.StatusForbidden, err == nil && len(d.routed) == 0 && len(d.denials) > 0:
		ev.Outcome = audit.OutcomeDenied
	case err == nil:
		ev.Outcome = audit.OutcomeOK
	default:
		ev.Outcome = audit.OutcomeError
	}
	if _, aerr := b.audit.Append(ctx, ev); aerr != nil {
		b.log.Error("broker: audit trail append failed; the request is refused", "request_id", requestID, "err", aerr)
		return Response{}, fmt.Errorf("broker: request %s: audit trail: %w", requestID, aerr)
	}
	failpoint("after-audit-append")
	return resp, err
}

// closeAudit closes the trail and logs its head, an anchor for
// `nautilus audit verify --anchor`.
func (b *Broker) closeAudit() error {
	if b.audit == nil {
		return nil
	}
	seq, hash := b.audit.Head()
	b.log.Info("broker: audit trail closed", "path", b.cfg.Audit.Path, "anchor", audit.Anchor{Seq: seq, Hash: hash}.String())
	return b.audit.Close()
}

// statusOf is the HTTP status of Handle's answer: 200 for no error.
func statusOf(err error) int {
	var bad *RequestError
	var forbidden *ForbiddenError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &bad):
		return http.StatusBadRequest
	case errors.As(err, &forbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
