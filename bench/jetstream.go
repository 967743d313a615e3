package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/jetstream"
	"github.com/nautilus-go/nautilus/backend/jetstream/jstest"
)

// JetStreamR3 is the jetstream backend on a stream of 3 replicas, in a
// 3-node cluster walbench runs in its own process on loopback.
const JetStreamR3 = "jetstream-r3"

// jsClusterNodes is the size of JetStreamR3's cluster and its replicas.
const jsClusterNodes = 3

// serverSubjects are the subjects whose rows run a NATS server (the
// jetstream backend's embedded one, or JetStreamR3's cluster). The default
// run leaves them out: each Append is a round trip to a server, ~1.7 ms
// under SyncAlways, so filling the replay log alone takes minutes, and
// what they measure is the server rather than this machine's disk.
var serverSubjects = []string{jetstream.Name, JetStreamR3}

// clusterStarted is called with each cluster a run starts; tests use it to
// check that the run stops it.
var clusterStarted = func(*jstest.Cluster) {}

// jsCluster is a run's JetStreamR3 cluster, started when its first row
// opens and kept until the run ends, so that a row's WAL reopened (as the
// replay workload does) finds its stream.
type jsCluster struct {
	parent     string // the run's directory; the cluster's store goes under it
	syncAlways bool   // the nodes run with sync_interval: always

	mu      sync.Mutex
	c       *jstest.Cluster
	dir     string
	streams map[string]string // a row's directory → its stream
}

// newJSCluster returns the cluster of a run whose directories are under
// parent. The nodes fsync every write (sync_interval: always, the
// durability the WAL contract means) unless every row of the run is
// SyncNone: the setting is the servers', no client can change it per row.
func newJSCluster(parent string, modes []backend.SyncMode) *jsCluster {
	syncAlways := false
	for _, m := range modes {
		syncAlways = syncAlways || m == backend.SyncAlways
	}
	return &jsCluster{parent: parent, syncAlways: syncAlways, streams: map[string]string{}}
}

// params returns the jetstream params of the row in dir: the cluster's URL
// and a stream of the row's own, the same each time the row opens.
func (j *jsCluster) params(dir string) (map[string]string, error) {
	if j == nil {
		return nil, errors.New(JetStreamR3 + ": no cluster for this run")
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.c == nil {
		d, err := os.MkdirTemp(j.parent, JetStreamR3+"-cluster-")
		if err != nil {
			return nil, fmt.Errorf("%s: cluster directory: %w", JetStreamR3, err)
		}
		c, err := jstest.Start(jsClusterNodes, jstest.Options{Dir: d, SyncAlways: j.syncAlways})
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%s: start cluster: %w", JetStreamR3, err), os.RemoveAll(d))
		}
		j.c, j.dir = c, d
		clusterStarted(c)
	}
	stream, ok := j.streams[dir]
	if !ok {
		stream = "walbench_" + strconv.Itoa(len(j.streams)+1)
		j.streams[dir] = stream
	}
	return map[string]string{
		jetstream.ParamURL:      j.c.URL(),
		jetstream.ParamStream:   stream,
		jetstream.ParamReplicas: strconv.Itoa(jsClusterNodes),
	}, nil
}

// close stops the cluster, if it started, and removes its store.
func (j *jsCluster) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.c == nil {
		return nil
	}
	j.c.Close()
	err := os.RemoveAll(j.dir)
	j.c, j.dir, j.streams = nil, "", map[string]string{}
	if err != nil {
		return fmt.Errorf("%s: remove the cluster's store: %w", JetStreamR3, err)
	}
	return nil
}

// openJSClusterRow opens a framework WAL on the row's stream in js.
func openJSClusterRow(ctx context.Context, js *jsCluster, o storeOptions) (store, error) {
	params, err := js.params(o.dir)
	if err != nil {
		return nil, err
	}
	return openFramework(ctx, backend.Config{Backend: jetstream.Name, Dir: o.dir, Sync: o.sync, Params: params})
}
