package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nautilus-go/nautilus/broker/store"
	"github.com/nautilus-go/nautilus/broker/store/memory"
	"github.com/stretchr/testify/require"
)

// heldStore holds its first Save until released, so requests pile up
// behind the async writer.
type heldStore struct {
	*memory.Store
	entered chan struct{}
	release chan struct{}
	first   bool
}

func (g *heldStore) Save(ctx context.Context, states []store.Entry, checkpoint uint64) error {
	if !g.first {
		g.first = true // only the writer goroutine saves in async mode
		close(g.entered)
		<-g.release
	}
	return g.Store.Save(ctx, states, checkpoint)
}

// A backlog longer than one writer batch is stored without waiting for a
// later request: Flush returns once every answered request is in the store.
func TestAsyncWriterStoresABacklogLongerThanABatch(t *testing.T) {
	store := &heldStore{Store: memory.New(), entered: make(chan struct{}), release: make(chan struct{})}
	cfg := memoryConfig(registryA())
	cfg.Persistence = PersistenceConfig{Mode: ModeAsync, WALEnabled: true, WALBackend: "memory", WALPath: t.TempDir()}
	b := newBroker(t, cfg, &Options{Store: store, WriterBatch: 2})

	ask(t, b, "s0", "agent-a", "employee pii")
	<-store.entered // the writer holds request 1 inside Save
	for i := 1; i <= 6; i++ {
		ask(t, b, fmt.Sprintf("s%d", i), "agent-a", "employee pii")
	}
	close(store.release)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, b.Flush(ctx), "Flush must not wait for a request that never comes")
	for i := 0; i <= 6; i++ {
		_, ok, err := store.Store.Load(ctx, fmt.Sprintf("s%d", i))
		require.NoError(t, err)
		require.True(t, ok, "session s%d stored", i)
	}
}
