package broker

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the broker's Prometheus metrics.
type metrics struct {
	request    *prometheus.HistogramVec
	walAppend  prometheus.Histogram
	storeBatch prometheus.Histogram
	replayed   prometheus.Counter
}

// latencyBuckets span 25µs to about 3s.
var latencyBuckets = prometheus.ExponentialBuckets(25e-6, 2, 18)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		request: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "nautilus_broker_request_duration_seconds",
			Help:    "Time to handle a request, from admission to answer, by outcome (ok or error).",
			Buckets: latencyBuckets,
		}, []string{"outcome"}),
		walAppend: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "nautilus_broker_wal_append_duration_seconds",
			Help:    "Time for a request's WAL record to become durable.",
			Buckets: latencyBuckets,
		}),
		storeBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "nautilus_broker_store_batch_requests",
			Help:    "Requests whose states one committed session store transaction holds (group commit, or the async writer's batch).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 9),
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nautilus_broker_wal_records_replayed_total",
			Help: "WAL records replayed into the session store at startup.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.request, m.walAppend, m.storeBatch, m.replayed} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("broker: metrics already registered (one broker per registry): %w", err)
			}
			return nil, fmt.Errorf("broker: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observeRequest(start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.request.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
}
