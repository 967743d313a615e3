package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// The nats-server binary, built once from the module the tests embed, so a
// node can be a process of its own and be killed with SIGKILL.
var (
	natsOnce sync.Once
	natsPath string
	natsErr  error
)

func natsServerBinary(t *testing.T) string {
	t.Helper()
	natsOnce.Do(func() { natsPath, natsErr = goBuild(t, "nats-server", "github.com/nats-io/nats-server/v2") })
	require.NoError(t, natsErr)
	return natsPath
}

// natsCluster is a JetStream cluster of nats-server processes on loopback,
// each storing under its own directory and fsyncing every write
// (sync_interval: always), so a node killed with SIGKILL loses nothing it
// acknowledged.
type natsCluster struct {
	t     *testing.T
	nodes []*natsNode
}

type natsNode struct {
	config string
	port   int
	cmd    *exec.Cmd
	done   chan struct{}
}

func startNATSCluster(t *testing.T, n int) *natsCluster {
	t.Helper()
	bin := natsServerBinary(t)
	ports, routes := make([]int, n), make([]int, n)
	for i := range n {
		ports[i], routes[i] = freePort(t), freePort(t)
	}
	var routeURLs []string
	for _, p := range routes {
		routeURLs = append(routeURLs, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	c := &natsCluster{t: t}
	for i := range n {
		dir := t.TempDir()
		config := filepath.Join(dir, "nats.conf")
		text := fmt.Sprintf(`server_name: n%d
listen: 127.0.0.1:%d
jetstream { store_dir: %q, sync_interval: always }
cluster { name: nautilus, listen: 127.0.0.1:%d, routes: [%s] }
`, i, ports[i], filepath.Join(dir, "js"), routes[i], strings.Join(routeURLs, ", "))
		require.NoError(t, os.WriteFile(config, []byte(text), 0o600))
		node := &natsNode{config: config, port: ports[i]}
		c.nodes = append(c.nodes, node)
		c.start(node, bin)
	}
	t.Cleanup(func() {
		for _, node := range c.nodes {
			node.cmd.Process.Kill()
			<-node.done
		}
	})
	for _, node := range c.nodes {
		c.waitJetStream(node)
	}
	return c
}

func (c *natsCluster) start(node *natsNode, bin string) {
	node.cmd = exec.Command(bin, "-c", node.config)
	node.done = make(chan struct{})
	require.NoError(c.t, node.cmd.Start())
	go func() {
		node.cmd.Wait()
		close(node.done)
	}()
}

// waitJetStream waits until the node answers JetStream requests, which
// needs the cluster's meta leader elected.
func (c *natsCluster) waitJetStream(node *natsNode) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		last = func() error {
			nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", node.port), nats.Timeout(time.Second))
			if err != nil {
				return err
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err = js.AccountInfo(ctx)
			return err
		}()
		if last == nil {
			return
		}
		time.Sleep(50 * time.Millisecond) // polling interval of a deadline-bounded wait
	}
	c.t.Fatalf("NATS node %s not ready: %v", node.config, last)
}

// URLs is the client URL list of every node.
func (c *natsCluster) URLs() string {
	var urls []string
	for _, node := range c.nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", node.port))
	}
	return strings.Join(urls, ",")
}

// kill ends node i with SIGKILL.
func (c *natsCluster) kill(i int) {
	node := c.nodes[i]
	require.NoError(c.t, node.cmd.Process.Kill())
	<-node.done
}

// restart starts node i again on its own store and waits for it.
func (c *natsCluster) restart(i int) {
	c.start(c.nodes[i], natsPath)
	c.waitJetStream(c.nodes[i])
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
