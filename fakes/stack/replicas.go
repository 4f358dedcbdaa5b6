package stack

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/pace"
)

// Replica is dispatch running in this process.
type Replica struct {
	Bot     *bot.Bot
	cancel  context.CancelFunc
	done    chan error
	stopped atomic.Bool
}

// StartBot starts one dispatch replica in process and waits until it serves and Slack sees its
// connection.
func (e *Env) StartBot() *Replica {
	e.T.Helper()
	var w io.Writer = e.Logs
	var secrets *bot.Secrets
	if !e.noRedact {
		secrets = bot.NewSecrets(e.Config.Secrets()...)
		w = secrets.Filter(e.Logs)
	}
	log := bot.NewLogger(w, e.Config.LogLevel, "json")
	awsCfg := e.AWS.AWSConfig()
	if e.awsCfg != nil {
		awsCfg = e.awsCfg.Copy()
	}
	r, err := e.RunBot(awsCfg, e.timeScale, log, secrets, Wait)
	if err != nil {
		e.T.Fatal(err)
	}
	e.mu.Lock()
	e.bots = append(e.bots, r)
	e.mu.Unlock()
	e.waitConnections()
	return r
}

// Stop stops a replica gracefully and returns what Run returned.
func (r *Replica) Stop(t interface {
	Helper()
	Fatal(...any)
}) error {
	t.Helper()
	err, ok := r.halt(30 * time.Second)
	if !ok {
		t.Fatal("dispatch did not stop within 30s")
	}
	return err
}

// Process is dispatch running as its own binary, as in production.
type Process struct {
	cmd    *exec.Cmd
	done   chan struct{}
	exit   atomic.Int32
	killed atomic.Bool
}

// StartProcess starts the dispatch binary with the stack's configuration in its environment and
// waits until Slack sees its connection.
func (e *Env) StartProcess() *Process {
	e.T.Helper()
	return e.StartProcessWith()
}

// StartProcessWith is StartProcess with more environment variables ("KEY=value"), for settings the
// Config does not carry; a later one wins over the stack's.
func (e *Env) StartProcessWith(extraEnv ...string) *Process {
	e.T.Helper()
	p := e.startProcess(extraEnv)
	e.waitConnections()
	return p
}

// StartProcessUnwaited is StartProcess without waiting for its Socket Mode connection: a restart
// in the middle of a Slack outage connects only once Slack lets it.
func (e *Env) StartProcessUnwaited() *Process {
	e.T.Helper()
	return e.startProcess(nil)
}

func (e *Env) startProcess(extraEnv []string) *Process {
	e.T.Helper()
	cmd := exec.Command(Binary(e.T), "run")
	cmd.Env = append(append(e.Environ(), "PATH="+os.Getenv("PATH"), "HOME="+os.TempDir()), extraEnv...)
	cmd.Stdout, cmd.Stderr = e.Logs, e.Logs
	if err := cmd.Start(); err != nil {
		e.T.Fatalf("start dispatch: %v", err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			code = -1
		}
		p.exit.Store(int32(code))
		close(p.done)
	}()
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	return p
}

// PID is the operating system's id of the process, e.g. to read /proc/PID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Kill sends SIGKILL and waits for the process to die: no clean-up of any kind.
func (p *Process) Kill() {
	p.killed.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Terminate sends SIGTERM and returns the exit code, or -1 if it did not exit within bound.
func (p *Process) Terminate(bound time.Duration) int {
	p.killed.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return int(p.exit.Load())
	case <-time.After(bound):
		return -1
	}
}

func (p *Process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return !p.killed.Load()
	}
}

// live counts the replicas and processes that should be connected.
func (e *Env) live() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, r := range e.bots {
		if !r.stopped.Load() {
			n++
		}
	}
	for _, p := range e.procs {
		if p.running() {
			n++
		}
	}
	return n
}

func (e *Env) waitConnections() {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := e.Slack.WaitConnected(ctx, e.live()); err != nil {
		e.T.Fatalf("socket mode never connected: %v", err)
	}
}

// StopAll stops every replica and process.
func (e *Env) StopAll() {
	e.mu.Lock()
	bots, procs := e.bots, e.procs
	e.mu.Unlock()
	for _, r := range bots {
		r.Stop(e.T)
	}
	for _, p := range procs {
		if p.running() {
			p.Kill()
		}
	}
}

// HTTPGet fetches a path of a replica's health server.
func (e *Env) HTTPGet(r *Replica, path string) (int, string) {
	e.T.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s%s", r.Bot.HTTPAddr(), path))
	if err != nil {
		e.T.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Environ is the stack's configuration as the environment variables the binary reads, plus the
// AWS SDK's settings for goaws.
func (e *Env) Environ() []string {
	c := e.Config
	var keys []string
	for id, k := range c.ServiceKeys {
		keys = append(keys, id+"="+k)
	}
	sort.Strings(keys)
	windows := func(ws []pace.Window) string {
		var out []string
		for _, w := range ws {
			out = append(out, strconv.Itoa(w.Limit)+"/"+w.Span.String())
		}
		return strings.Join(out, ",")
	}
	env := map[string]string{
		"SLACK_BOT_TOKEN": c.SlackBotToken, "SLACK_APP_TOKEN": c.SlackAppToken, "DISPATCH_QUEUE_URL": c.QueueURL,
		"GITHUB_TOKEN": c.GitHubToken, "GITHUB_REPO": c.GitHubRepo, "PAGERDUTY_ROUTING_KEY": c.PagerDutyKey,
		"SLACK_FALLBACK_CHANNEL": c.FallbackChannel, "GITHUB_DEFAULT_USER": c.GitHubDefault,
		"PAGERDUTY_SERVICE_KEYS": strings.Join(keys, ","), "GITHUB_CONTENT_LIMITS": windows(c.GitHubLimits),
		"GITHUB_POINTS_LIMITS": windows(c.GitHubPoints),
		"DISPATCH_HTTP_ADDR":   c.HTTPAddr, "LOG_LEVEL": c.LogLevel, "LOG_FORMAT": "json",
		"SLACK_API_URL": c.SlackAPIURL, "GITHUB_API_URL": c.GitHubAPIURL, "PAGERDUTY_EVENTS_URL": c.PagerDutyURL,
		"DISPATCH_CONCURRENCY": strconv.Itoa(c.Concurrency), "DISPATCH_SHUTDOWN_TIMEOUT": c.ShutdownTimeout.String(),
		"DISPATCH_VISIBILITY_TIMEOUT": c.Visibility.String(), "GITHUB_ALLOWED_REPOS": strings.Join(c.AllowedRepos, ","),
		"GITHUB_WATCH_INTERVAL": c.GitHubWatch.String(), "DISPATCH_TASK_KEYS": strings.Join(c.TaskKeys, ","),
		"AWS_ENDPOINT_URL": e.AWS.URL(), "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
	}
	env["PAGERDUTY_EVENTS_QUEUE_URL"], env["PAGERDUTY_API_TOKEN"], env["PAGERDUTY_API_URL"] = c.PagerDutyEventsQueueURL, c.PagerDutyAPIToken, c.PagerDutyAPIURL
	if c.PagerDutyPoll > 0 {
		env["PAGERDUTY_POLL_INTERVAL"] = c.PagerDutyPoll.String()
	}
	if c.Pprof {
		env[bot.PprofEnv] = "true"
	}
	if c.SlackLimitScale > 0 && c.SlackLimitScale != 1 {
		env["SLACK_LIMIT_SCALE"] = strconv.FormatFloat(c.SlackLimitScale, 'g', -1, 64)
	}
	if c.Replicas > 1 {
		env["DISPATCH_REPLICAS"] = strconv.Itoa(c.Replicas)
	}
	if c.RemindAfter > 0 {
		env["DISPATCH_REMIND_AFTER"] = c.RemindAfter.String()
	}
	if c.EscalateAfter > 0 {
		env["DISPATCH_ESCALATE_AFTER"] = c.EscalateAfter.String()
	}
	var out []string
	for k, v := range env {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds the dispatch command once per test process and returns its path.
func Binary(t interface {
	Helper()
	Fatalf(string, ...any)
}) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dispatch-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "dispatch")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/dispatch-oss/dispatch").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return binPath
}
