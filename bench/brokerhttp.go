package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/nautilus-go/nautilus/broker"
)

// Defaults of the broker-http workload.
const (
	DefaultHTTPClients  = 16
	DefaultHTTPSessions = 1000
)

// memSampleInterval is how often a broker-http row reads the process's RSS.
const memSampleInterval = time.Second

// brokerHTTPRows plans the broker-http workload: per session store and
// client count, the broker without a WAL, synchronous and async, once; then
// each registered backend's WAL, synchronous and async (async only with a
// store of the broker's own: sqlite).
func brokerHTTPRows(o Options, subjects []subject, run int) []row {
	var rows []row
	for _, st := range o.Stores {
		for i, mode := range o.Sync {
			for _, c := range o.HTTPClients {
				r := row{workload: WorkloadBrokerHTTP, sync: mode, batch: 1, concurrency: c,
					ops: rowOps(o.Ops, c, o.Rounds), run: run, sessions: o.Sessions, duration: o.Duration,
					store: st, pgDSN: o.PGDSN}
				if i == 0 { // the no-WAL rows do not depend on the WAL's sync mode
					for _, m := range storeModes(st, BrokerSync, BrokerAsync) {
						noWAL := r
						noWAL.subject, noWAL.mode = subject{name: NoWAL}, m
						rows = append(rows, noWAL)
					}
				}
				rows = append(rows, walRows(r, subjects, storeModes(st, BrokerSyncWAL, BrokerAsyncWAL))...)
			}
		}
	}
	return rows
}

// runBrokerHTTP measures one broker-http row alone, so that the process's
// memory is the row's: it starts the broker as nautilus serve does, touches
// every session once over HTTP (unmeasured), then times r.ops requests, or
// as many as r.duration allows, from r.concurrency keep-alive clients,
// sampling RSS meanwhile. An async row's window ends with its last answer;
// storing the backlog (Broker.Flush) is timed as Drain.
func runBrokerHTTP(ctx context.Context, r row, dir string) (Result, error) {
	res := r.result()
	mem := &Memory{}
	mem.RSSBefore, mem.HeapBefore = settledMemory()

	h, err := startHTTPBroker(ctx, r, dir)
	if err != nil {
		return res, err
	}
	load := newHTTPLoad(h.url, r.concurrency, r.sessions)
	closeAll := func() error {
		load.close()
		return h.close()
	}
	if err := load.warmUp(ctx); err != nil {
		closeAll()
		return res, err
	}
	if err := h.b.Flush(ctx); err != nil {
		closeAll()
		return res, fmt.Errorf("flush after warm-up: %w", err)
	}
	before, err := h.walCounts(ctx)
	if err != nil {
		closeAll()
		return res, err
	}
	conns := h.ln.accepted.Load()

	sampler := startMemSampler(memSampleInterval)
	w := startWindow(noSyncs{})
	samples, err := load.run(ctx, r.ops, r.duration)
	w.stop(&res)
	sampler.stop(mem)
	if err != nil {
		closeAll()
		return res, err
	}
	res.Connections = h.ln.accepted.Load() - conns
	after, err := h.walCounts(ctx)
	if err != nil {
		closeAll()
		return res, err
	}
	res.Records = after.records - before.records
	if r.mode != BrokerSync && r.mode != BrokerAsync && commitsSync(r.subject.name, r.sync) {
		res.Syncs = after.fsyncs - before.fsyncs
	}
	if r.mode == BrokerAsync || r.mode == BrokerAsyncWAL {
		start := time.Now()
		if err := h.b.Flush(ctx); err != nil {
			closeAll()
			return res, fmt.Errorf("flush: %w", err)
		}
		res.Drain = time.Since(start)
	}
	res.Ops = int64(len(samples))
	res.Latency = Summarize(samples)
	samples = nil
	if err := closeAll(); err != nil {
		return res, fmt.Errorf("close: %w", err)
	}
	mem.RSSAfter, mem.HeapAfter = settledMemory()
	res.Memory = mem
	return res, nil
}

// noSyncs counts no fsyncs: a broker-http row reads them from the
// broker's metrics outside the window, so the scrape is not timed.
type noSyncs struct{}

func (noSyncs) syncs() int64 { return 0 }

// httpBroker is a broker behind its HTTP handler on a loopback port, built
// as nautilus serve builds it: the configuration loaded from a file and
// broker.NewServer's stack.
type httpBroker struct {
	b      *broker.Broker
	srv    *http.Server
	ln     *countingListener
	url    string
	scrape *http.Client
	served chan error
	// closeStore closes the session store walbench opened, after the broker.
	closeStore func() error
}

func startHTTPBroker(ctx context.Context, r row, dir string) (*httpBroker, error) {
	if err := os.MkdirAll(dir, vfs.DirMode); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "nautilus.yaml")
	// Paths relative to the file, as a deployment writes them.
	if err := writeConfigFile(path, brokerConfig(r, "")); err != nil {
		return nil, err
	}
	cfg, err := broker.LoadConfig(path)
	if err != nil {
		return nil, err
	}

	opts, closeStore, err := rowStoreOptions(ctx, r)
	if err != nil {
		return nil, err
	}
	stack, err := broker.NewServer(cfg, "127.0.0.1:0", &broker.ServerOptions{Logger: slog.New(slog.DiscardHandler), Broker: opts})
	if err != nil {
		return nil, errors.Join(err, closeStore())
	}
	h := &httpBroker{ln: &countingListener{Listener: stack.Listener}, url: "http://" + stack.Listener.Addr().String(),
		srv: stack.HTTP, served: make(chan error, 1), closeStore: closeStore,
		scrape: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
	go func() { h.served <- h.srv.Serve(h.ln) }()

	b, err := stack.OpenBroker(ctx)
	if err != nil {
		h.srv.Close()
		return nil, errors.Join(fmt.Errorf("start broker: %w", err), closeStore())
	}
	h.b = b
	return h, nil
}

// close stops the server, then the broker, then the store.
func (h *httpBroker) close() error {
	h.scrape.CloseIdleConnections()
	err := h.srv.Shutdown(context.Background())
	if serr := <-h.served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("serve: %w", serr)
	}
	if berr := h.b.Close(); err == nil {
		err = berr
	}
	return errors.Join(err, h.closeStore())
}

// writeConfigFile writes cfg's sources, session store and persistence
// settings as a nautilus.yaml, private like every file the project writes.
func writeConfigFile(path string, cfg broker.Config) error {
	p := cfg.Persistence
	persistence := map[string]any{"mode": p.Mode, "wal_enabled": p.WALEnabled}
	if p.WALEnabled {
		persistence["wal_path"], persistence["wal_backend"], persistence["wal_sync"] = p.WALPath, p.WALBackend, p.WALSync
	}
	data, err := yaml.Marshal(map[string]any{
		"sources":       cfg.Sources,
		"session_store": sessionStoreYAML(cfg.SessionStore),
		"persistence":   persistence,
	})
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	return os.WriteFile(path, data, vfs.FileMode)
}

// sessionStoreYAML is the session_store section: sqlite's file, or
// postgres's broker id and the environment variable holding the DSN.
func sessionStoreYAML(s broker.SessionStoreConfig) map[string]string {
	if s.Backend == broker.StorePostgres {
		return map[string]string{"backend": s.Backend, "broker_id": s.BrokerID, "dsn_env": s.DSNEnv}
	}
	return map[string]string{"backend": s.Backend, "sqlite_path": s.SQLitePath}
}

// walStats are the WAL's counters as /metrics shows them.
type walStats struct{ records, fsyncs int64 }

// walCounts scrapes GET /metrics, as a monitoring system would, for the
// records the WAL committed and its fsyncs (walmetrics' fsync_seconds
// histogram counts one per durable commit or Sync). Both are 0 with the WAL
// off, when the broker registers no WAL metrics.
func (h *httpBroker) walCounts(ctx context.Context) (walStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url+"/metrics", nil)
	if err != nil {
		return walStats{}, err
	}
	resp, err := h.scrape.Do(req)
	if err != nil {
		return walStats{}, fmt.Errorf("scrape /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return walStats{}, fmt.Errorf("scrape /metrics: %s", resp.Status)
	}
	var s walStats
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		var dst *int64
		switch {
		case strings.HasPrefix(line, "nautilus_wal_records_appended_total{"):
			dst = &s.records
		case strings.HasPrefix(line, "nautilus_wal_fsync_seconds_count{"):
			dst = &s.fsyncs
		default:
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return walStats{}, fmt.Errorf("scrape /metrics: line %q: %w", line, err)
		}
		*dst = int64(v)
	}
	if err := sc.Err(); err != nil {
		return walStats{}, fmt.Errorf("scrape /metrics: %w", err)
	}
	return s, nil
}

// countingListener counts the connections it accepts: with keep-alive
// clients a row accepts next to none after the warm-up.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// httpLoad is the row's clients: each its own http.Client and transport,
// so each keeps one connection alive, and its own share of the sessions.
type httpLoad struct {
	url     string
	clients []*httpClient
}

type httpClient struct {
	id       int
	sessions int // client-id-session-0 … sessions-1
	seq      int // requests issued, warm-up included: the next one's kind
	http     *http.Client
}

func newHTTPLoad(url string, clients, sessions int) *httpLoad {
	l := &httpLoad{url: url + "/v1/request", clients: make([]*httpClient, clients)}
	for c := range l.clients {
		n := sessions / clients
		if c < sessions%clients {
			n++
		}
		// One request at a time per client: one connection, kept alive, is
		// all it needs. MaxConnsPerHost makes the next request wait for it
		// rather than race its return to the idle pool with a new dial.
		t := &http.Transport{MaxIdleConns: 1, MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true}
		l.clients[c] = &httpClient{id: c, sessions: n, http: &http.Client{Transport: t}}
	}
	return l
}

func (l *httpLoad) close() {
	for _, c := range l.clients {
		c.http.CloseIdleConnections()
	}
}

// warmUp sends each client's first request to each of its sessions, all
// clients at once, and checks that every answer queried a source: a
// workload the broker refused would measure nothing.
func (l *httpLoad) warmUp(ctx context.Context) error {
	return l.each(func(c *httpClient) error {
		for range c.sessions {
			body, err := c.post(ctx, l.url)
			if err != nil {
				return fmt.Errorf("warm-up request: %w", err)
			}
			var resp broker.Response
			if err := json.Unmarshal(body, &resp); err != nil {
				return fmt.Errorf("warm-up answer: %w", err)
			}
			if len(resp.SourcesQueried) == 0 {
				return fmt.Errorf("warm-up answer queried no source: %s", body)
			}
		}
		return nil
	})
}

// run sends requests from every client until ops are sent in all, or, with
// duration > 0, until duration has passed, and returns each one's latency.
func (l *httpLoad) run(ctx context.Context, ops int, duration time.Duration) ([]int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		issued   atomic.Int64
		deadline = time.Now().Add(duration)
		lat      = make([][]int64, len(l.clients))
	)
	err := l.each(func(c *httpClient) error {
		mine := make([]int64, 0, ops/len(l.clients)+1)
		defer func() { lat[c.id] = mine }()
		for {
			if duration > 0 {
				if !time.Now().Before(deadline) {
					return nil
				}
			} else if issued.Add(1) > int64(ops) {
				return nil
			}
			begin := time.Now()
			if _, err := c.post(ctx, l.url); err != nil {
				cancel()
				return err
			}
			mine = append(mine, int64(time.Since(begin)))
		}
	})
	var all []int64
	for _, s := range lat {
		all = append(all, s...)
	}
	return all, err
}

// each runs fn for every client at once and returns the first error.
func (l *httpLoad) each(fn func(*httpClient) error) error {
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for _, c := range l.clients {
		wg.Go(func() {
			if err := fn(c); err != nil {
				errOnce.Do(func() { firstErr = err })
			}
		})
	}
	wg.Wait()
	return firstErr
}

// post sends the client's next request and returns the answer's body; an
// answer other than 200 is an error carrying the broker's message.
func (c *httpClient) post(ctx context.Context, url string) ([]byte, error) {
	payload, err := json.Marshal(brokerRequest(c.id, c.seq, c.sessions))
	if err != nil {
		return nil, err
	}
	c.seq++
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	// Read to the end, so the connection goes back to the idle pool.
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST /v1/request: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}
