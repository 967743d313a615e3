package jetstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"github.com/nautilus-go/nautilus/backend"
)

// Name is the name the backend is registered under.
const Name = "jetstream"

// Params; see the package documentation.
const (
	ParamURL           = "url"
	ParamStream        = "stream"
	ParamReplicas      = "replicas"
	ParamCredsFile     = "creds_file"
	ParamTLSCert       = "tls_cert"
	ParamTLSKey        = "tls_key"
	ParamTLSCA         = "tls_ca"
	ParamEmbeddedDir   = "embedded_dir"
	ParamAppendTimeout = "append_timeout"
)

const (
	defaultStream        = "nautilus_wal"
	defaultReplicas      = 3
	defaultAppendTimeout = 30 * time.Second
	// subjectPrefix + stream is the one subject a WAL's stream captures.
	subjectPrefix = "nautilus.wal."
	// maxReplicas is JetStream's limit on a stream's replicas.
	maxReplicas = 5
)

func init() {
	backend.Register(Name, backend.DriverFunc(Open))
	backend.RegisterParamChecker(Name, backend.ParamCheckerFunc(func(cfg backend.Config) error {
		_, err := readSettings(cfg)
		return err
	}))
}

// settings are the params after parsing.
type settings struct {
	url                    string // "" means embedded
	embeddedDir            string
	stream                 string
	replicas               int
	credsFile              string
	tlsCert, tlsKey, tlsCA string
	appendTimeout          time.Duration
	syncAlways             bool
}

// readSettings parses cfg.Params, reading nothing but cfg.
func readSettings(cfg backend.Config) (settings, error) {
	p := backend.NewParams(cfg)
	s := settings{
		url:           p.String(ParamURL, ""),
		embeddedDir:   p.String(ParamEmbeddedDir, ""),
		stream:        p.String(ParamStream, defaultStream),
		credsFile:     p.String(ParamCredsFile, ""),
		tlsCert:       p.String(ParamTLSCert, ""),
		tlsKey:        p.String(ParamTLSKey, ""),
		tlsCA:         p.String(ParamTLSCA, ""),
		appendTimeout: p.Duration(ParamAppendTimeout, defaultAppendTimeout),
		syncAlways:    cfg.Sync == backend.SyncAlways,
	}
	replicas := p.String(ParamReplicas, "")
	if err := p.Err(); err != nil {
		return s, err
	}
	bad := func(key, value, reason string) (settings, error) {
		return s, &backend.ParamError{Backend: cfg.Backend, Key: key, Value: value, Reason: reason}
	}
	if s.url != "" && s.embeddedDir != "" {
		return bad(ParamEmbeddedDir, s.embeddedDir, "not with url: the WAL uses either an existing cluster (url) or a server of its own (embedded_dir)")
	}
	if s.url == "" && s.embeddedDir == "" {
		s.embeddedDir = cfg.Dir
	}
	if s.stream == "" || strings.ContainsAny(s.stream, ".*> \t\r\n/\\") {
		return bad(ParamStream, s.stream, "want a JetStream stream name: not empty, without '.', '*', '>', '/', '\\' or white space")
	}
	switch n, err := strconv.Atoi(replicas); {
	case replicas == "" && s.url == "":
		s.replicas = 1
	case replicas == "":
		s.replicas = defaultReplicas
	case err != nil || n < 1 || n > maxReplicas:
		return bad(ParamReplicas, replicas, fmt.Sprintf("want a number of replicas from 1 to %d", maxReplicas))
	case s.url == "" && n != 1:
		return bad(ParamReplicas, replicas, "want 1 (or none) with the embedded server, which is a single node; give url for a cluster")
	default:
		s.replicas = n
	}
	if (s.tlsCert == "") != (s.tlsKey == "") {
		if s.tlsCert == "" {
			return bad(ParamTLSCert, "", "missing: tls_key is set, and a client certificate needs both")
		}
		return bad(ParamTLSKey, "", "missing: tls_cert is set, and a client certificate needs both")
	}
	if s.url == "" {
		for key, v := range map[string]string{ParamCredsFile: s.credsFile, ParamTLSCert: s.tlsCert, ParamTLSKey: s.tlsKey, ParamTLSCA: s.tlsCA} {
			if v != "" {
				return bad(key, v, "only with url: the embedded server is reached in process, with no network and no credentials")
			}
		}
	}
	if s.appendTimeout == 0 {
		return bad(ParamAppendTimeout, "0s", "want a duration above zero such as 30s")
	}
	return s, nil
}

// connOptions are the client options for a remote cluster. Secrets come
// from files only: the creds file and the TLS key are read by the client.
func (s settings) connOptions() []nats.Option {
	opts := []nats.Option{nats.Name("nautilus-wal " + s.stream), nats.MaxReconnects(-1)}
	if s.credsFile != "" {
		opts = append(opts, nats.UserCredentials(s.credsFile))
	}
	if s.tlsCert != "" {
		opts = append(opts, nats.ClientCert(s.tlsCert, s.tlsKey))
	}
	if s.tlsCA != "" {
		opts = append(opts, nats.RootCAs(s.tlsCA))
	}
	return opts
}

// Open opens the WAL on the stream the params name, creating the stream if
// missing. backend.Open calls it through the registry and wraps it; call
// backend.Open rather than this.
func Open(ctx context.Context, cfg backend.Config) (backend.WAL, error) {
	s, err := readSettings(cfg)
	if err != nil {
		return nil, err
	}
	owned := func(string) bool { return false }
	if s.url == "" && s.embeddedDir == cfg.Dir {
		owned = func(name string) bool { return name == storeSubdir }
	}
	if err := backend.CheckDir(cfg.FileSystem(), cfg.Dir, owned); err != nil {
		return nil, err
	}

	w := &wal{stream: s.stream, subject: subjectPrefix + s.stream, timeout: s.appendTimeout}
	if s.url == "" {
		w.server, err = startEmbedded(s.embeddedDir, s.syncAlways, cfg)
		if err != nil {
			return nil, err
		}
		w.nc, err = nats.Connect("", nats.InProcessServer(w.server), nats.Name("nautilus-wal "+s.stream))
	} else {
		w.nc, err = nats.Connect(s.url, s.connOptions()...)
	}
	if err != nil {
		w.shutdown()
		return nil, fmt.Errorf("backend %s: connect: %w", Name, err)
	}
	if err := w.open(ctx, s); err != nil {
		w.shutdown()
		return nil, err
	}
	return w, nil
}

// open creates or finds the stream and reads its bounds.
func (w *wal) open(ctx context.Context, s settings) error {
	var err error
	if w.js, err = js.New(w.nc); err != nil {
		return fmt.Errorf("backend %s: %w", Name, err)
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	w.writer = hex.EncodeToString(id[:])

	// The duplicate window must outlast every retry of one publish.
	dupWindow := max(2*time.Minute, 2*s.appendTimeout)
	cfg := js.StreamConfig{
		Name:       s.stream,
		Subjects:   []string{w.subject},
		Storage:    js.FileStorage,
		Replicas:   s.replicas,
		Retention:  js.LimitsPolicy,
		Discard:    js.DiscardOld,
		Duplicates: dupWindow,
		DenyDelete: true, // a deleted message would be a gap in the log
	}
	// Electing the stream's leader may take several tries on a loaded cluster.
	err = retry(ctx, s.appendTimeout, func(ctx context.Context) error {
		w.st, err = w.js.Stream(ctx, s.stream)
		if errors.Is(err, js.ErrStreamNotFound) {
			w.st, err = w.js.CreateStream(ctx, cfg)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("backend %s: open stream %s: %w", Name, s.stream, err)
	}
	info := w.st.CachedInfo()
	if got := info.Config.Replicas; got != s.replicas {
		return &backend.ParamError{Backend: Name, Key: ParamReplicas, Value: strconv.Itoa(s.replicas),
			Reason: fmt.Sprintf("stream %s exists with %d replicas", s.stream, got)}
	}
	if len(info.Config.Subjects) != 1 || info.Config.Subjects[0] != w.subject {
		return fmt.Errorf("backend %s: stream %s captures subjects %v, not only %s: it is not a WAL's stream",
			Name, s.stream, info.Config.Subjects, w.subject)
	}
	first, last, err := w.readBounds(ctx)
	if err != nil {
		return err
	}
	w.first, w.last = first, last
	return nil
}

// retry calls f until it succeeds, ctx is done, or timeout passes, giving
// each try a share of the time so that one lost request is not the end.
func retry(ctx context.Context, timeout time.Duration, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		try, cancelTry := context.WithTimeout(ctx, tryTimeout(timeout))
		err := f(try)
		cancelTry()
		if err == nil || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last try: %w)", ctx.Err(), err)
		case <-time.After(retryDelay): // back off before asking a cluster mid-election again
		}
	}
}

// errCodeDuplicateInProcess is the stream's answer to a publish whose
// Nats-Msg-Id an earlier, unfinished try of it holds (JSStreamDuplicateMessageConflict).
const errCodeDuplicateInProcess js.ErrorCode = 10158

// retryDelay is the pause between tries of a request that failed for want of
// a stream leader.
const retryDelay = 50 * time.Millisecond

// tryTimeout is how long one request may wait for its answer before it is
// sent again: an answer lost with a connection never comes.
func tryTimeout(total time.Duration) time.Duration {
	return min(total, 5*time.Second)
}

// transient reports whether err may go away by itself: no answer, no
// responders while a leader is elected, a connection being re-established.
func transient(err error) bool {
	var apiErr *js.APIError
	if errors.As(err, &apiErr) {
		// 503 is JetStream's "temporarily unavailable", e.g. no quorum yet;
		// a publish whose Nats-Msg-Id is still being proposed by an
		// earlier try is answered when that try is settled.
		return apiErr.Code == 503 || apiErr.ErrorCode == errCodeDuplicateInProcess
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, js.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected)
}
