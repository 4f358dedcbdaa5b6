// Package githubapi keeps dispatch's audit trail as GitHub issues, through go-github. It implements
// handlers.Issues: it paces content-creating requests below GitHub's secondary limits, answers
// lookups from an index of dispatch's issues kept fresh with conditional requests (no search per
// alarm), classifies failures and retries the transient ones through package retry.
package githubapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
)

// Options configure a Client.
type Options struct {
	BaseURL string // REST base, e.g. https://api.github.com/ (a GitHub Enterprise /api/v3/ too)
	// HTTPClient carries authentication (a token or GitHub App transport) and instrumentation.
	HTTPClient *http.Client
	// Pace lists the windows content-creating requests are held within; nil means SecondaryLimits.
	Pace []pace.Window
	// Points lists the windows every request's points (a read 1, a write 5) are held within; nil
	// means PointLimits.
	Points []pace.Window
	Retry  retry.Policy
	// Label marks dispatch's issues (for people, and for the search that finds what the index
	// dropped). The index lists the issues dispatch's identity opened, whatever their labels.
	Label string
	// App, when dispatch authenticates as a GitHub App, names its identity: the app's bot account
	// (GET /app with the app's JWT gives the slug). Without it the identity is the token's user
	// (GET /user).
	App *AppAuth
	// IndexMaxAge bounds how stale the index of dispatch's issues may be when it answers a lookup
	// (default DefaultIndexMaxAge); IndexLimit bounds the issues it keeps per repository (default
	// DefaultIndexLimit).
	IndexMaxAge time.Duration
	IndexLimit  int
	// Replicas is how many replicas share the credential (DISPATCH_REPLICAS): they take turns in
	// the primary limit's reserve (PrimaryReserve). OnPrimary, when set, is told the primary limit
	// and what is left of it after each answer that reports them (a metric).
	Replicas  int
	OnPrimary func(limit, remaining int)
}

// Client is a handlers.Issues over GitHub's REST API. It is safe for concurrent use.
type Client struct {
	gh      *github.Client
	pace    *pace.Pacer
	points  *pace.Pacer    // every request, in the transport (pacePoints)
	primary *primaryBudget // every request, in the transport (pacePrimary)
	retry   retry.Policy
	label   string
	app     *AppAuth

	idMu  sync.Mutex
	login string // dispatch's identity once known

	maxAge     time.Duration
	indexLimit int
	imu        sync.Mutex
	indexes    map[string]*index // by lower-cased owner/name, at most maxIndexes of them
	uses       uint64            // indexFor calls, to find the least recently used index
	watchNew   func(repo string) // set by WatchAll: starts watching a repository dispatch filed into
	watched    int               // repositories watched (claimWatch)
}

var _ handlers.Issues = (*Client)(nil)

// SecondaryLimits are GitHub's documented limits on content-creating requests (POST, PATCH, PUT,
// DELETE): 80 a minute and 500 an hour. Exceeding them gets the token blocked for a while.
var SecondaryLimits = []pace.Window{{Limit: 80, Span: time.Minute}, {Limit: 500, Span: time.Hour}}

// New makes a Client. It fails only on a malformed BaseURL.
func New(opts Options) (*Client, error) {
	hc := &http.Client{}
	if opts.HTTPClient != nil {
		c := *opts.HTTPClient
		hc = &c
	}
	if opts.Points == nil {
		opts.Points = PointLimits
	}
	points := pace.New(opts.Points...)
	primary := &primaryBudget{replicas: opts.Replicas, observe: opts.OnPrimary, now: time.Now}
	hc.Transport = pacePrimary{b: primary, next: pacePoints{p: points, next: drainBodies{next: hc.Transport}}}
	gh := github.NewClient(hc)
	if opts.BaseURL != "" {
		base := opts.BaseURL
		if !strings.HasSuffix(base, "/") {
			base += "/"
		}
		u, err := url.Parse(base)
		if err != nil {
			return nil, fmt.Errorf("github base url: %w", err)
		}
		// Used as given: https://api.github.com/, a GitHub Enterprise https://host/api/v3/, a test server.
		gh.BaseURL, gh.UploadURL = u, u
	}
	if opts.Pace == nil {
		opts.Pace = SecondaryLimits
	}
	if opts.Retry.Attempts == 0 {
		opts.Retry = retry.Default
	}
	if opts.Label == "" {
		opts.Label = handlers.LabelDispatch
	}
	if opts.IndexMaxAge <= 0 {
		opts.IndexMaxAge = DefaultIndexMaxAge
	}
	if opts.IndexLimit <= 0 {
		opts.IndexLimit = DefaultIndexLimit
	}
	return &Client{gh: gh, pace: pace.New(opts.Pace...), points: points, primary: primary, retry: opts.Retry, label: opts.Label, app: opts.App,
		maxAge: opts.IndexMaxAge, indexLimit: opts.IndexLimit, indexes: map[string]*index{}}, nil
}

func splitRepo(repo string) (string, string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" {
		return "", "", retry.Permanent(fmt.Errorf("repository %q is not owner/name", repo))
	}
	return owner, name, nil
}

// do runs one GitHub call under the retry policy; creating calls wait for the pacer first.
func (c *Client) do(ctx context.Context, what string, creating bool, fn func(context.Context) error) error {
	return c.retry.Do(ctx, *zerolog.Ctx(ctx), "github "+what, func(ctx context.Context) error {
		if creating {
			done, err := c.pace.Wait(ctx)
			if errors.Is(err, pace.ErrWouldWait) {
				return retry.Permanent(err) // the caller asked not to wait that long: not a failure to retry
			}
			if err != nil {
				return err
			}
			defer done()
		}
		err := fn(ctx)
		if errors.Is(err, pace.ErrWouldWait) {
			return retry.Permanent(err) // the points pacing, in the transport, under the same bound
		}
		return classify(err)
	})
}

// CreateDelay is how long a Create made now would wait for the pacing of content-creating requests,
// of points and of the primary limit's reserve.
func (c *Client) CreateDelay() time.Duration {
	return max(c.pace.Delay(), c.points.DelayN(pointsOf(http.MethodPost)), c.primary.delay())
}

// Create opens an issue.
func (c *Client) Create(ctx context.Context, repo string, ni handlers.NewIssue) (handlers.Issue, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return handlers.Issue{}, err
	}
	var out handlers.Issue
	err = c.do(ctx, "create issue", true, func(ctx context.Context) error {
		is, _, err := c.gh.Issues.Create(ctx, owner, name, &github.IssueRequest{Title: &ni.Title, Body: &ni.Body, Labels: &ni.Labels})
		if err == nil {
			out = convert(repo, is)
			c.applyOwn(repo, is, true)
			c.imu.Lock()
			watch := c.watchNew
			c.imu.Unlock()
			if watch != nil {
				watch(repo)
			}
		}
		return err
	})
	return out, err
}

// Get fetches one issue, whole (its body too), from GitHub.
func (c *Client) Get(ctx context.Context, repo string, number int) (handlers.Issue, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return handlers.Issue{}, err
	}
	var out handlers.Issue
	err = c.do(ctx, "get issue", false, func(ctx context.Context) error {
		is, _, err := c.gh.Issues.Get(ctx, owner, name, number)
		if err == nil {
			out = convert(repo, is)
		}
		return err
	})
	return out, err
}

// Comment adds a comment.
func (c *Client) Comment(ctx context.Context, repo string, number int, body string) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	return c.do(ctx, "comment", true, func(ctx context.Context) error {
		_, _, err := c.gh.Issues.CreateComment(ctx, owner, name, number, &github.IssueComment{Body: &body})
		return err
	})
}

// maxCommentPages bounds Comments: dispatch looks for its own comments, and an issue with
// thousands of comments is not one it needs to read whole.
const maxCommentPages = 5

// Comments lists an issue's comments with their authors, oldest first: all of them up to 500, else
// the first page and the newest four (GitHub lists them oldest first, with no other order). The
// newest are read because dispatch's own comments (answers, reminders, escalations) come after the
// issue's first comments: a commenter who floods an issue can't push them out of sight by
// commenting before them.
func (c *Client) Comments(ctx context.Context, repo string, number int) ([]handlers.Comment, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	var out []handlers.Comment
	read := func(page int) (last int, err error) {
		opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100, Page: page}}
		err = c.do(ctx, "list comments", false, func(ctx context.Context) error {
			list, resp, err := c.gh.Issues.ListComments(ctx, owner, name, number, opts)
			if err != nil {
				return err
			}
			for _, cm := range list {
				out = append(out, handlers.Comment{ID: cm.GetID(), Author: cm.GetUser().GetLogin(), Body: cm.GetBody()})
			}
			last = resp.LastPage
			return nil
		})
		return last, err
	}
	last, err := read(1)
	if err != nil {
		return nil, err
	}
	for page := max(2, last-maxCommentPages+2); page <= last; page++ {
		if _, err := read(page); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Close closes an issue as completed.
func (c *Client) Close(ctx context.Context, repo string, number int) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	closed, reason := "closed", "completed"
	return c.do(ctx, "close issue", true, func(ctx context.Context) error {
		is, _, err := c.gh.Issues.Edit(ctx, owner, name, number, &github.IssueRequest{State: &closed, StateReason: &reason})
		if err == nil {
			c.applyOwn(repo, is, false)
		}
		return err
	})
}

// AddLabels adds labels to an issue.
func (c *Client) AddLabels(ctx context.Context, repo string, number int, labels ...string) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	return c.do(ctx, "label issue", true, func(ctx context.Context) error {
		now, _, err := c.gh.Issues.AddLabelsToIssue(ctx, owner, name, number, labels)
		if err == nil {
			c.applyLabels(repo, number, now)
		}
		return err
	})
}

func convert(repo string, is *github.Issue) handlers.Issue {
	out := handlers.Issue{
		Repo: repo, Number: is.GetNumber(), Title: is.GetTitle(), Body: is.GetBody(),
		URL: is.GetHTMLURL(), Open: is.GetState() == "open", Author: is.GetUser().GetLogin(),
	}
	for _, l := range is.Labels {
		out.Labels = append(out.Labels, l.GetName())
	}
	return out
}

// CheckRepo verifies the repository exists, has issues turned on and that the credentials may write
// to it (create, comment on and close issues). It returns a short description.
func (c *Client) CheckRepo(ctx context.Context, repo string) (string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	r, _, err := c.gh.Repositories.Get(ctx, owner, name)
	if err != nil {
		return "", classify(err)
	}
	if !r.GetHasIssues() {
		return "", fmt.Errorf("issues are turned off in %s", repo)
	}
	if p := r.GetPermissions(); p != nil && !p["push"] && !p["triage"] && !p["admin"] && !p["maintain"] {
		return "", fmt.Errorf("the credentials can read %s but not write issues (need triage or write access)", repo)
	}
	return fmt.Sprintf("%s reachable, issues on, write access", r.GetFullName()), nil
}

// drainBodies reads what is left of a response body (up to 256 KiB) before closing it: go-github
// decodes a response and closes it without reading to the end, so net/http can't reuse the
// connection, and every alarm paid for a new TCP and TLS handshake to GitHub.
type drainBodies struct{ next http.RoundTripper }

func (d drainBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	next := d.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(r)
	if err == nil && resp.Body != nil {
		resp.Body = drainingBody{resp.Body}
	}
	return resp, err
}

type drainingBody struct{ io.ReadCloser }

func (b drainingBody) Close() error {
	_, _ = io.Copy(io.Discard, io.LimitReader(b.ReadCloser, 256<<10))
	return b.ReadCloser.Close()
}
