// Package jstest runs NATS JetStream servers in the calling process, on
// free loopback ports, for tests and benchmarks: a single server or a
// cluster of N whose nodes can be stopped and restarted. Readiness is waited
// for through the server's own checks (ReadyForConnections, Healthz), never
// by sleeping.
package jstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure Start.
type Options struct {
	// Dir holds each node's store, in a subdirectory per node. Required.
	Dir string
	// SyncAlways makes every node fsync each write before acknowledging
	// it (the server's sync_interval: always); false keeps the server's
	// default, an fsync every 2 minutes.
	SyncAlways bool
	// ReadyTimeout bounds each wait for a node or the cluster to be ready
	// (zero: one minute, for elections on a loaded machine).
	ReadyTimeout time.Duration
}

// Cluster is a set of JetStream servers in this process. A Cluster of one
// node is a standalone server; of more, a cluster with routes between
// every pair. Its methods are safe for concurrent use.
type Cluster struct {
	timeout time.Duration

	mu    sync.Mutex
	opts  []*server.Options
	nodes []*server.Server // nil while stopped
}

// Start starts n servers with JetStream enabled and waits until every one
// accepts connections and, for a cluster, has a JetStream meta leader.
func Start(n int, o Options) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("jstest: %d nodes, want at least 1", n)
	}
	if o.Dir == "" {
		return nil, errors.New("jstest: Options.Dir is empty")
	}
	c := &Cluster{timeout: o.ReadyTimeout, nodes: make([]*server.Server, n)}
	if c.timeout == 0 {
		c.timeout = time.Minute
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	var routes []*url.URL
	if n > 1 {
		for i := range n {
			routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", ports[n+i])})
		}
	}
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("node-%d", i),
			Host:       "127.0.0.1",
			Port:       ports[i],
			JetStream:  true,
			StoreDir:   filepath.Join(o.Dir, fmt.Sprintf("node-%d", i)),
			MaxPayload: 8 << 20,
			SyncAlways: o.SyncAlways,
			NoLog:      true,
			NoSigs:     true,
			// Explicit limits, so that a small or odd file system does not
			// leave a node without room for streams.
			JetStreamMaxStore:  1 << 40,
			JetStreamMaxMemory: 1 << 30,
		}
		if n > 1 {
			opts.Cluster = server.ClusterOpts{Name: "jstest", Host: "127.0.0.1", Port: ports[n+i]}
			opts.Routes = routes
		}
		c.opts = append(c.opts, opts)
	}
	// Start the nodes together: each one's JetStream waits for its peers.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = c.start(i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.WaitHealthy(context.Background()); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// freePorts returns n distinct loopback ports free at the time of the call,
// holding them all open until all are chosen so that none repeats.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("jstest: find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// start starts node i from its options and waits until it accepts
// connections.
func (c *Cluster) start(i int) error {
	c.mu.Lock()
	opts := c.opts[i].Clone()
	running := c.nodes[i] != nil
	c.mu.Unlock()
	if running {
		return fmt.Errorf("jstest: node %d is running", i)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("jstest: node %d: %w", i, err)
	}
	s.Start()
	if !s.ReadyForConnections(c.timeout) {
		s.Shutdown()
		s.WaitForShutdown()
		return fmt.Errorf("jstest: node %d not ready for connections within %s (port %d taken?)", i, c.timeout, opts.Port)
	}
	c.mu.Lock()
	c.nodes[i] = s
	c.mu.Unlock()
	return nil
}

// N returns the number of nodes, running or not.
func (c *Cluster) N() int { return len(c.opts) }

// URL returns the client URLs of every node, comma-separated, as the nats
// client and the jetstream backend's url param take them.
func (c *Cluster) URL() string { return strings.Join(c.URLs(), ",") }

// URLs returns each node's client URL, running or not: a restarted node
// keeps its port.
func (c *Cluster) URLs() []string {
	urls := make([]string, len(c.opts))
	for i, o := range c.opts {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", o.Port)
	}
	return urls
}

// Server returns node i's server, or nil while it is stopped.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Stop shuts node i down and waits until it is gone. Stopping a stopped
// node does nothing.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	s := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Restart starts stopped node i again on its ports and store, and waits
// until it accepts connections. Call WaitHealthy to wait for it to catch up.
func (c *Cluster) Restart(i int) error { return c.start(i) }

// StreamLeader returns the node leading the stream in the global account,
// or -1 when no running node does (mid-election, or not clustered).
func (c *Cluster) StreamLeader(stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.nodes {
		if s != nil && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// WaitStreamLeader waits until a running node leads stream: nodes report
// healthy before the stream's own election ends, and a read before it
// times out inside the client.
func (c *Cluster) WaitStreamLeader(ctx context.Context, stream string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	for c.StreamLeader(stream) < 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("jstest: no leader for stream %s: %w", stream, ctx.Err())
		case <-time.After(20 * time.Millisecond): // poll again: the server offers no notification of an election
		}
	}
	return nil
}

// WaitHealthy waits until every running node reports healthy: JetStream
// enabled, the meta group with a leader, and every stream and consumer it
// holds current. It gives up after ReadyTimeout or when ctx is done.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	for {
		var unhealthy []string
		c.mu.Lock()
		for i, s := range c.nodes {
			if s == nil {
				continue
			}
			if h := s.Healthz(nil); h.Status != "ok" {
				unhealthy = append(unhealthy, fmt.Sprintf("node %d: %s", i, h.Error))
			}
		}
		c.mu.Unlock()
		if len(unhealthy) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("jstest: cluster not healthy: %s: %w", strings.Join(unhealthy, "; "), ctx.Err())
		case <-time.After(20 * time.Millisecond): // poll again: the server offers no notification of health
		}
	}
}

// Close stops every node.
func (c *Cluster) Close() {
	for i := range c.opts {
		c.Stop(i)
	}
}
