package fakegithub

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
)

// searchNumbers runs q and returns "repo#number" of every hit on the first page.
func searchNumbers(t *testing.T, c *github.Client, q string, opts *github.SearchOptions) ([]string, int) {
	t.Helper()
	res, _, err := c.Search.Issues(context.Background(), q, opts)
	if err != nil {
		t.Fatalf("search %q: %v", q, err)
	}
	var out []string
	for _, is := range res.Issues {
		repo := strings.TrimPrefix(is.GetRepositoryURL(), strings.TrimSuffix(c.BaseURL.String(), "/")+"/repos/")
		out = append(out, fmt.Sprintf("%s#%d", repo, is.GetNumber()))
	}
	return out, res.GetTotal()
}

func TestSearchIssues(t *testing.T) {
	s := newFake(t, Options{})
	clk := newFakeClock(s)
	s.AddRepo("acme/other")
	seed := func(repo string, is Issue) {
		clk.Advance(time.Second)
		s.SeedIssue(repo, is)
	}
	seed(testRepo, Issue{Title: "[dispatch] Disk full on db-1", Body: "alarm a-1", Labels: []string{"alarm", "needs triage"}})              // 1
	seed(testRepo, Issue{Title: "[dispatch] CPU high on web-2", Body: "disk full soon", Labels: []string{"alarm"}})                         // 2
	seed(testRepo, Issue{Title: "[dispatch] Disk full on db-1", Body: "old one", State: "closed", Labels: []string{"alarm"}})               // 3
	seed(testRepo, Issue{Title: "unrelated", Body: "nothing", Comments: []Comment{{Body: "seen disk full here"}}})                          // 4
	seed("acme/other", Issue{Title: "[dispatch] Disk full on db-1", Body: "other repo", Labels: []string{"alarm"}})                         // other#1
	seed(testRepo, Issue{Title: "full disk", Body: "words in another order", Labels: []string{"Needs Triage"}, Assignees: []string{"ann"}}) // 5

	tests := []struct {
		q    string
		want []string
	}{
		{`repo:acme/alarms is:issue is:open in:title "disk full on db-1"`, []string{"acme/alarms#1"}},
		{`"Disk Full" repo:acme/alarms in:title`, []string{"acme/alarms#3", "acme/alarms#1"}},
		{`"disk full" repo:acme/alarms is:open`, []string{"acme/alarms#4", "acme/alarms#2", "acme/alarms#1"}},
		{`"disk full" is:open in:title`, []string{"acme/other#1", "acme/alarms#1"}},
		{`disk full repo:acme/alarms state:open`, []string{"acme/alarms#5", "acme/alarms#4", "acme/alarms#2", "acme/alarms#1"}},
		{`repo:acme/alarms is:closed`, []string{"acme/alarms#3"}},
		{`repo:acme/alarms label:"needs triage"`, []string{"acme/alarms#5", "acme/alarms#1"}},
		{`repo:acme/alarms label:alarm -label:"needs triage" is:open`, []string{"acme/alarms#2"}},
		{`repo:acme/alarms repo:acme/other in:title db-1 is:open`, []string{"acme/other#1", "acme/alarms#1"}},
		{`repo:acme/alarms assignee:ann`, []string{"acme/alarms#5"}},
		{`repo:acme/alarms disk -full`, nil},
		{`repo:acme/alarms is:pr`, nil},
	}
	c := newClient(t, s, "ghp_testtoken")
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			got, total := searchNumbers(t, c, tt.q, nil)
			if !slices.Equal(got, tt.want) || total != len(tt.want) {
				t.Errorf("got %v (total %d), want %v", got, total, tt.want)
			}
		})
	}
}

func TestSearchLag(t *testing.T) {
	s := newFake(t, Options{})
	clk := newFakeClock(s)
	s.SetSearchLag(30 * time.Second)
	c := newClient(t, s, "ghp_testtoken")
	mustCreate(t, c, "[dispatch] alarm a-7", "")
	q := `repo:acme/alarms is:open in:title "alarm a-7"`
	if got, _ := searchNumbers(t, c, q, nil); len(got) != 0 {
		t.Errorf("just created issue visible to search: %v", got)
	}
	clk.Advance(29 * time.Second)
	if got, _ := searchNumbers(t, c, q, nil); len(got) != 0 {
		t.Errorf("issue visible after 29s of a 30s lag: %v", got)
	}
	clk.Advance(time.Second)
	if got, _ := searchNumbers(t, c, q, nil); !slices.Equal(got, []string{"acme/alarms#1"}) {
		t.Errorf("after the lag: %v", got)
	}
	// The issue itself is readable at once; only search lags.
	s.SetSearchLag(time.Hour)
	if _, _, err := c.Issues.Get(context.Background(), "acme", "alarms", 1); err != nil {
		t.Errorf("get during lag: %v", err)
	}
}

func TestSearchPaginationAndLimits(t *testing.T) {
	s := newFake(t, Options{})
	for i := range 45 {
		s.SeedIssue(testRepo, Issue{Title: fmt.Sprintf("alarm %d", i+1)})
	}
	c := newClient(t, s, "ghp_testtoken")
	ctx := context.Background()
	opts := &github.SearchOptions{Sort: "created", Order: "asc", ListOptions: github.ListOptions{PerPage: 20}}
	var all []int
	for {
		res, resp, err := c.Search.Issues(ctx, "repo:acme/alarms alarm", opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.GetTotal() != 45 || res.GetIncompleteResults() {
			t.Errorf("total = %d incomplete = %v", res.GetTotal(), res.GetIncompleteResults())
		}
		for _, is := range res.Issues {
			all = append(all, is.GetNumber())
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if len(all) != 45 || !slices.IsSorted(all) {
		t.Errorf("paged through %d results: %v", len(all), all)
	}
	if got := s.Calls()["GET /search/issues"]; got != 3 {
		t.Errorf("search calls = %d, want 3", got)
	}

	for name, q := range map[string]string{
		"empty query":    "",
		"text too long":  "repo:acme/alarms " + strings.Repeat("a", 257),
		"past 1000 hits": "alarm",
		"unknown repo":   "repo:acme/nope disk",
	} {
		o := &github.SearchOptions{}
		if name == "past 1000 hits" {
			o.ListOptions = github.ListOptions{PerPage: 100, Page: 11}
		}
		if _, _, err := c.Search.Issues(ctx, q, o); statusOf(err) != http.StatusUnprocessableEntity {
			t.Errorf("%s: %v, want 422", name, err)
		}
	}
}
