package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nautilus-go/nautilus/backend/walmetrics"
	"github.com/nautilus-go/nautilus/broker"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func init() {
	register("serve", "run the broker's HTTP API", func(args []string) int {
		return serve(args, os.Stderr)
	})
}

// shutdownTimeout bounds how long in-flight requests may take to finish
// after SIGTERM or SIGINT.
const shutdownTimeout = 30 * time.Second

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "the nautilus.yaml `file` (required)")
	bind := fs.String("bind", "127.0.0.1:8000", "the `address` to listen on (port 0: any free port; the log says which)")
	walEnabled := fs.Bool("wal-enabled", false, "override persistence.wal_enabled")
	walPath := fs.String("wal-path", "", "override persistence.wal_path (`dir`, relative to the working directory)")
	walBackend := fs.String("wal-backend", "", "override persistence.wal_backend (a registered `name`)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: nautilus serve --config FILE [--bind 127.0.0.1:8000] [--wal-enabled[=true|false]] [--wal-path DIR] [--wal-backend NAME]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "nautilus serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "nautilus serve: --config is required")
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	cfg, err := broker.LoadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "nautilus serve: %s: %v\n", *configPath, err)
		return 2
	}
	fs.Visit(func(f *flag.Flag) { // flags given on the command line override the file
		switch f.Name {
		case "wal-enabled":
			cfg.Persistence.WALEnabled = *walEnabled
		case "wal-path":
			cfg.Persistence.WALPath = *walPath
		case "wal-backend":
			cfg.Persistence.WALBackend = *walBackend
		}
	})
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "nautilus serve: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	handler := broker.NewHandler(&broker.HandlerOptions{Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})})

	ln, err := net.Listen("tcp", *bind)
	if err != nil {
		fmt.Fprintf(stderr, "nautilus serve: listen on %s: %v\n", *bind, err)
		return 1
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// /healthz answers, /readyz says 503, until replay is done.
	log.Info("listening", "addr", ln.Addr().String(), "mode", cfg.Persistence.Mode,
		"wal_enabled", cfg.Persistence.WALEnabled, "wal_backend", cfg.Persistence.WALBackend)

	opts := &broker.Options{Logger: log, Registerer: reg}
	if cfg.Persistence.WALEnabled {
		m := walmetrics.New(reg, prometheus.Labels{"backend": cfg.Persistence.WALBackend})
		m.SyncAlways = cfg.Persistence.WALSync != "none"
		opts.WALObserver, opts.WrapWAL = m, m.Wrap
	}
	b, err := broker.New(ctx, cfg, opts)
	if err != nil {
		srv.Close()
		fmt.Fprintf(stderr, "nautilus serve: %v\n", err)
		var ce *broker.ConfigError
		if errors.As(err, &ce) {
			return 2
		}
		return 1
	}
	handler.Serve(b)
	log.Info("ready")

	status := 0
	select {
	case <-ctx.Done():
		log.Info("shutting down: finishing requests in flight")
	case err := <-served:
		log.Error("server stopped", "err", err)
		status = 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		status = 1
	}
	if err := b.Close(); err != nil {
		log.Error("close broker", "err", err)
		status = 1
	}
	log.Info("stopped")
	return status
}
