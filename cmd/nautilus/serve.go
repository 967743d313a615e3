package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"syscall"
	"time"

	"github.com/nautilus-go/nautilus/broker"
)

func init() {
	register("serve", "run the broker's HTTP API", serve)
}

// shutdownTimeout bounds how long in-flight requests may take to finish
// after SIGTERM or SIGINT.
const shutdownTimeout = 30 * time.Second

// serve runs the broker until SIGTERM or SIGINT; it writes only to stderr
// but for its -h usage.
func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	configPath := fs.String("config", "", "the nautilus.yaml `file` (required)")
	bind := fs.String("bind", "127.0.0.1:8000", "the `address` to listen on (port 0: any free port; the log says which)")
	walEnabled := fs.Bool("wal-enabled", false, "override persistence.wal_enabled")
	walPath := fs.String("wal-path", "", "override persistence.wal_path (`dir`, relative to the working directory)")
	walBackend := fs.String("wal-backend", "", "override persistence.wal_backend (a registered `name`)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: nautilus serve --config FILE [--bind 127.0.0.1:8000] [--wal-enabled[=true|false]] [--wal-path DIR] [--wal-backend NAME]")
		fmt.Fprintln(fs.Output())
		fs.PrintDefaults()
	}
	if status, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return status
	}
	if *configPath == "" {
		return usageError(fs, stderr, "--config is required")
	}
	if _, _, err := net.SplitHostPort(*bind); err != nil {
		return usageError(fs, stderr, "--bind: %v", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	overridden := map[string]string{} // config key → the flag that set it
	cfg, err := broker.LoadConfigWith(*configPath, func(cfg *broker.Config) {
		fs.Visit(func(f *flag.Flag) { // flags given on the command line override the file
			switch f.Name {
			case "wal-enabled":
				cfg.Persistence.WALEnabled = *walEnabled
				overridden["persistence.wal_enabled"] = f.Name
			case "wal-path":
				cfg.Persistence.WALPath = *walPath
				overridden["persistence.wal_path"] = f.Name
			case "wal-backend":
				cfg.Persistence.WALBackend = *walBackend
				overridden["persistence.wal_backend"] = f.Name
			}
		})
	})
	// configError reports a *broker.ConfigError as the flag's when a flag
	// set the key, else as the file's.
	configError := func(ce *broker.ConfigError) int {
		if name := overridden[ce.Key]; name != "" {
			ce.File, ce.Line = "", 0
			return usageError(fs, stderr, "--%s: %v", name, ce)
		}
		if ce.File == "" {
			ce.File = *configPath
		}
		fmt.Fprintf(stderr, "nautilus serve: %v\n", ce)
		return exitUsage
	}
	var ce *broker.ConfigError
	if errors.As(err, &ce) {
		return configError(ce)
	} else if err != nil {
		fmt.Fprintf(stderr, "nautilus serve: %v\n", err)
		return exitFailure
	}
	if err := checkUnauthenticated(*bind, cfg, log); err != nil {
		fmt.Fprintf(stderr, "nautilus serve: %v\n", err)
		return exitUsage
	}
	if len(cfg.Sources) == 0 {
		log.Warn("no sources configured: every request is answered with no data", "config", *configPath)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	stack, err := broker.NewServer(cfg, *bind, &broker.ServerOptions{Logger: log})
	if errors.As(err, &ce) {
		return configError(ce)
	} else if err != nil {
		fmt.Fprintf(stderr, "nautilus serve: %v\n", err)
		return exitFailure
	}
	srv, ln := stack.HTTP, stack.Listener
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// /healthz answers, /readyz says 503, until replay is done.
	log.Info("listening", "addr", ln.Addr().String(), "tls", cfg.API.TLS.CertFile != "",
		"mtls", cfg.API.TLS.ClientCAFile != "", "mode", cfg.Persistence.Mode,
		"wal_enabled", cfg.Persistence.WALEnabled, "wal_backend", cfg.Persistence.WALBackend)

	b, err := stack.OpenBroker(ctx)
	if err != nil {
		srv.Close()
		if errors.As(err, &ce) {
			return configError(ce)
		}
		fmt.Fprintf(stderr, "nautilus serve: %v\n", err)
		return exitFailure
	}
	log.Info("ready")

	status := exitOK
	select {
	case <-ctx.Done():
		log.Info("shutting down: finishing requests in flight")
	case err := <-served:
		log.Error("server stopped", "err", err)
		status = exitFailure
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		status = exitFailure
	}
	if err := b.Close(); err != nil {
		log.Error("close broker", "err", err)
		status = exitFailure
	}
	log.Info("stopped")
	return status
}
