package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/dispatch-oss/dispatch/bot"
)

// healthcheckTimeout bounds `dispatch healthcheck`: a container runtime runs it every few seconds
// and a hung bot must read as unhealthy, not as a probe that never returns.
const healthcheckTimeout = 3 * time.Second

// healthcheck GETs /healthz on the running bot's health server (DISPATCH_HTTP_ADDR, on loopback when
// it listens on every interface) and exits 0 when it answers 200, 1 otherwise. It exists because a
// distroless image has no shell, curl or wget for a Dockerfile HEALTHCHECK; it reads no other
// setting, so it needs none of the secrets.
func healthcheck(getenv func(string) string, stdout, stderr io.Writer, timeout time.Duration) int {
	url, err := healthzURL(strings.TrimSpace(getenv("DISPATCH_HTTP_ADDR")))
	if err != nil {
		fmt.Fprintln(stderr, "dispatch healthcheck:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintln(stderr, "dispatch healthcheck:", err)
		return 1
	}
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "dispatch healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "dispatch healthcheck: %s answered %s\n", url, resp.Status)
		return 1
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}

// healthzURL turns a listen address (":8080", "0.0.0.0:8080", "[::]:8080", "10.0.0.5:8080") into the
// URL of its /healthz: an address on every interface is reached on 127.0.0.1.
func healthzURL(addr string) (string, error) {
	if addr == "" {
		addr = bot.Defaults().HTTPAddr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return "", fmt.Errorf("DISPATCH_HTTP_ADDR %q is not HOST:PORT or :PORT", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}

var healthcheckCommand = &command{
	name:    "healthcheck",
	summary: "GET /healthz of the running bot: the container's health check",
	description: `GETs /healthz on DISPATCH_HTTP_ADDR (on 127.0.0.1 when the bot listens on every interface) and
exits 0 when it answers 200 within 3 s, else 1. It exists because a distroless image has no shell,
curl or wget for a Dockerfile HEALTHCHECK; it reads no other setting, so it needs none of the secrets.`,
	exits: "0 healthy, 1 unhealthy or unreachable, 2 usage error",
	flags: func(*flagSet) runner {
		return func(inv *invocation) int {
			if inv.fs.NArg() > 0 {
				return inv.usageError("healthcheck takes no arguments")
			}
			return healthcheck(os.Getenv, inv.stdout, inv.stderr, healthcheckTimeout)
		}
	},
}
