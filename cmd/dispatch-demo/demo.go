package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/fakeduo"
	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// Services other than the stack's defaults that the example alarms name, so that each of them
// does what it says rather than ending in the fallback channel.
var (
	// extraUsers are the example alarms' people beyond stack.People (nag.json).
	extraUsers = []fakeslack.User{
		{ID: "U0DAVE", Name: "dave", RealName: "Dave Lister", DisplayName: "dave", Email: "dave@example.com"},
		{ID: "U0ERIN", Name: "erin", RealName: "Erin Hunt", DisplayName: "erin", Email: "erin@example.com"},
	}
	// extraRepos are the repositories the examples' githubRepo overrides resolve to.
	extraRepos = []string{"acme/security-alarms", "acme-infra/security-alarms"}
	// exampleService is the PagerDuty service id the examples name (pagerDutyServiceId), and
	// exampleServiceKey its routing key (32 characters, like PagerDuty's).
	exampleService    = "PSEC042"
	exampleServiceKey = "D0123456789abcdef0123456789abcde"
)

// Options shape a demo.
type Options struct {
	Addr     string    // where the page listens, e.g. "127.0.0.1:8642" or "127.0.0.1:0"
	Log      io.Writer // dispatch's own log
	LogLevel string    // dispatch's log level: debug, info, warn, error
}

// Demo is dispatch running in this process against goaws and the Slack, GitHub, PagerDuty and
// Duo fakes, with a web page that shows and drives them.
type Demo struct {
	svc     *stack.Services
	replica *stack.Replica
	srv     *http.Server
	ln      net.Listener
	served  chan error
	people  []fakeslack.User
	repos   []string
	duo     *fakeduo.Server
	duoDir  string     // holds the fake Duo's certificate (DUO_CA_FILE)
	duoMu   sync.Mutex // one answer to a push at a time: it must still wait when answered
}

// Start starts the services, dispatch and the page, and returns once dispatch is connected to
// the fake Slack and the page listens. On an error, whatever was started is stopped again.
func Start(ctx context.Context, opts Options) (d *Demo, err error) {
	// The page's address first: a taken port fails at once, before anything else starts.
	ln, err := listen(opts.Addr)
	if err != nil {
		return nil, err
	}
	d = &Demo{served: make(chan error, 1), ln: ln}
	defer func() {
		if err != nil {
			err = errors.Join(err, d.Close(ctx))
			d = nil
		}
	}()
	d.people = append(append([]fakeslack.User(nil), stack.People...), extraUsers...)
	var duo bot.DuoConfig
	if d.duo, duo, d.duoDir, err = startDuo(d.people); err != nil {
		return d, err
	}
	svc, err := stack.Start(ctx, "dispatch-demo", stack.Options{
		Users: extraUsers,
		Configure: func(c *bot.Config) {
			c.LogLevel = opts.LogLevel
			c.ServiceKeys[exampleService] = exampleServiceKey
			c.Duo = duo
		},
	})
	if err != nil {
		return d, fmt.Errorf("start the fakes: %w", err)
	}
	d.svc = svc
	d.repos = append([]string{stack.Repo, stack.OtherRepo}, extraRepos...)
	for _, r := range extraRepos {
		svc.GitHub.AddRepo(r)
	}
	svc.PD.AddRoutingKey(exampleServiceKey)

	log := bot.NewLogger(opts.Log, svc.Config.LogLevel, "console", svc.Config.Secrets()...)
	if d.replica, err = svc.RunBot(svc.AWS.AWSConfig(), 0, log, nil, time.Minute); err != nil {
		return d, err
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := svc.Slack.WaitConnected(wait, 1); err != nil {
		return d, err
	}

	d.srv = &http.Server{Handler: d.handler(log), ReadHeaderTimeout: 10 * time.Second}
	go func() { d.served <- d.srv.Serve(d.ln) }()
	return d, nil
}

// listen opens the page's address. A taken port says how to pick another: a second demo, or
// anything else on 8642, is the usual cause.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listen for the page: %s is taken (another dispatch-demo?): stop that one, or pick a free address with -addr, e.g. -addr 127.0.0.1:0 for any free port: %w", addr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("listen for the page on %s (set another with -addr): %w", addr, err)
	}
	return ln, nil
}

// URL is the page's address.
func (d *Demo) URL() string { return "http://" + d.ln.Addr().String() + "/" }

// Done receives the page server's error if it stops serving before Close.
func (d *Demo) Done() <-chan error { return d.served }

// Close stops the page, then dispatch (gracefully, finishing what it has in hand), then the
// fakes and the queue, and returns every failure. It stops whatever a failed Start started.
func (d *Demo) Close(ctx context.Context) error {
	var errs []error
	if d.srv != nil {
		errs = append(errs, d.srv.Shutdown(ctx))
	} else if d.ln != nil {
		errs = append(errs, d.ln.Close()) // never served: Shutdown would not close it
	}
	if d.replica != nil {
		errs = append(errs, d.replica.Shutdown(30*time.Second))
	}
	if d.svc != nil {
		errs = append(errs, d.svc.Close(ctx))
	}
	if d.duo != nil {
		d.duo.Close()
		errs = append(errs, os.RemoveAll(d.duoDir))
	}
	return errors.Join(errs...)
}
