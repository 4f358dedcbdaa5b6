package slackapi

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
)

// person is what the directory keeps of a Slack user: the fields identity needs, not the whole
// slack.User (a profile with a dozen image URLs, several kilobytes). Four short strings, two flags
// and a time: about 400 bytes a user with the index entries, so 50,000 users take about 18 MB
// (measured in BenchmarkSlackDirectory50k; docs/PERFORMANCE.md). shown, the name as people see
// it, adds a string header, and its text only when it differs from the folded form.
type person struct {
	id, name, display, real string
	shown                   string // the name people know the user by, as written (Name)
	deleted, bot            bool
	seen                    time.Time // when Slack last told us about this user
}

func personOf(u *slack.User) *person {
	p := &person{
		id:      u.ID,
		name:    strings.ToLower(strings.TrimSpace(u.Name)),
		display: fold(u.Profile.DisplayName),
		real:    fold(firstNonEmpty(u.RealName, u.Profile.RealName)),
		deleted: u.Deleted,
		bot:     u.IsBot || u.ID == "USLACKBOT",
		seen:    time.Now(),
	}
	// Slack shows the display name, else the real name; the username only when neither is set.
	p.shown = strings.TrimSpace(firstNonEmpty(strings.TrimSpace(u.Profile.DisplayName), strings.TrimSpace(u.RealName), strings.TrimSpace(u.Profile.RealName), u.Name))
	for _, same := range []string{p.display, p.real, p.name} {
		if p.shown == same {
			p.shown = same // share the text already kept
		}
	}
	return p
}

// fold is the form names are compared in: trimmed and lower-cased.
func fold(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// index is one complete (or, during the first load, growing) view of the workspace.
type index struct {
	byID    map[string]*person
	byName  map[string]*person   // username; Slack keeps these unique
	byLabel map[string][]*person // display and real names; anyone can pick any, so many may share one
}

func newIndex() *index {
	return &index{byID: map[string]*person{}, byName: map[string]*person{}, byLabel: map[string][]*person{}}
}

func (ix *index) add(p *person) {
	ix.byID[p.id] = p
	if p.name != "" {
		ix.byName[p.name] = p
	}
	if p.display != "" {
		ix.byLabel[p.display] = append(ix.byLabel[p.display], p)
	}
	if p.real != "" && p.real != p.display {
		ix.byLabel[p.real] = append(ix.byLabel[p.real], p)
	}
}

// directory is the workspace's users, read with users.list (Tier 2: about 20 pages a minute, 200
// users a page) in the background. Lookups by ID and email never wait for it; a username is found
// as soon as its page has arrived; a display or real name needs the whole list, since only then can
// dispatch tell one user with that name from several.
type directory struct {
	mu       sync.Mutex
	cur      *index    // the last complete list, or the first one as it grows
	complete bool      // cur holds a whole list
	loaded   time.Time // when cur was completed
	loading  bool
	progress chan struct{} // closed and replaced whenever a page arrives or a load ends
	lastErr  error         // of the last load that failed
	byEmail  map[string]emailEntry

	ttl       time.Duration // reload (in the background) a list older than this
	minReload time.Duration // a name nobody has reloads the list no sooner than this after the last one
	wait      time.Duration // how long a lookup waits for the list before it is retried later
}

type emailEntry struct {
	id   string
	seen time.Time
}

func newDirectory(ttl, wait time.Duration) directory {
	return directory{cur: newIndex(), progress: make(chan struct{}), byEmail: map[string]emailEntry{},
		ttl: ttl, minReload: time.Minute, wait: wait}
}

// signalLocked wakes every waiter.
func (d *directory) signalLocked() {
	close(d.progress)
	d.progress = make(chan struct{})
}

// refreshLocked starts a background load unless one is running. Called with c.dir.mu held.
func (c *Client) refreshLocked(ctx context.Context) {
	d := &c.dir
	if d.loading {
		return
	}
	d.loading = true
	log := zerolog.Ctx(ctx).With().Str("component", "slack directory").Logger()
	go c.load(log.WithContext(c.life))
}

// Preload starts reading the user directory in the background, so the first alarm that names a
// user by display name finds it ready. It returns at once.
func (c *Client) Preload(ctx context.Context) {
	c.dir.mu.Lock()
	defer c.dir.mu.Unlock()
	c.refreshLocked(ctx)
}

// load reads users.list page by page. The first load grows the live index as pages arrive (a
// username is unique, so a partial list already answers it); a reload builds a new index and swaps
// it in whole, so a display name is never judged on half a list.
func (c *Client) load(ctx context.Context) {
	d := &c.dir
	d.mu.Lock()
	first := !d.complete
	next := d.cur
	if !first {
		next = newIndex()
	}
	d.mu.Unlock()

	start := time.Now()
	err := c.eachUserPage(ctx, func(users []slack.User) {
		d.mu.Lock()
		for i := range users {
			next.add(personOf(&users[i]))
		}
		if first {
			d.signalLocked()
		}
		d.mu.Unlock()
	})

	d.mu.Lock()
	defer d.mu.Unlock()
	d.loading = false
	d.lastErr = err
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("slack user directory not loaded; lookups by display name will be retried")
		if first {
			d.cur = newIndex() // keep no half list: the next load starts over
		}
	} else {
		d.cur, d.complete, d.loaded = next, true, time.Now()
		zerolog.Ctx(ctx).Info().Int("users", len(next.byID)).Dur("took", time.Since(start)).Msg("slack user directory loaded")
	}
	d.signalLocked()
}

// eachUserPage calls fn with every page of users.list, paced at users.list's tier.
func (c *Client) eachUserPage(ctx context.Context, fn func([]slack.User)) error {
	p := c.api.GetUsersPaginated(slack.GetUsersOptionLimit(usersPage))
	for {
		done := false
		err := c.call(ctx, "users.list", func(ctx context.Context) error {
			next, err := p.Next(ctx)
			if p.Done(err) {
				done = true
				return nil
			}
			if err == nil {
				p = next
			}
			return err
		})
		if err != nil {
			return wrap("users.list", err)
		}
		if done {
			return nil
		}
		fn(p.Users)
	}
}

// usersPage is how many users one users.list page asks for: Slack recommends no more than 200.
const usersPage = 200

// DirectorySize reports how many users the directory holds and whether it holds the whole list.
func (c *Client) DirectorySize() (users int, complete bool) {
	c.dir.mu.Lock()
	defer c.dir.mu.Unlock()
	return len(c.dir.cur.byID), c.dir.complete
}
