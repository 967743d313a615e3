package main

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/nautilus-go/nautilus/broker"
)

// checkUnauthenticated refuses to serve with no API keys on an address
// other hosts can reach, unless api.allow_unauthenticated says so, in
// which case it logs a warning: with no keys any client acts as any agent.
func checkUnauthenticated(bind string, cfg broker.Config, log *slog.Logger) error {
	if len(cfg.API.Keys) > 0 {
		return nil
	}
	host, _, _ := net.SplitHostPort(bind) // checked by the caller
	if isLoopback(host) {
		return nil
	}
	if !cfg.API.AllowUnauthenticated {
		return fmt.Errorf("--bind %s is reachable from other hosts and api.keys is empty: configure api.keys, bind a loopback address, or set api.allow_unauthenticated: true", bind)
	}
	log.Warn("serving without authentication on a non-loopback address: any client can act as any agent and read any session",
		"addr", bind, "api.allow_unauthenticated", true)
	return nil
}

// isLoopback reports whether host names only this machine. A host name
// other than localhost may resolve anywhere, so it does not.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
