package fakegithub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
)

func TestIssueLifecycle(t *testing.T) {
	s := newFake(t, Options{})
	clk := newFakeClock(s)
	c := newClient(t, s, "ghp_testtoken")
	ctx := context.Background()

	title, body := "disk full on db-1", "alarm id: a-1"
	created, resp, err := c.Issues.Create(ctx, "acme", "alarms", &github.IssueRequest{
		Title: &title, Body: &body,
		Labels:    &[]string{"alarm", "sev1"},
		Assignees: &[]string{"oncall"},
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("create status = %d, want 201", resp.StatusCode)
	}
	if created.GetNumber() != 1 || created.GetState() != "open" || created.GetUser().GetLogin() != "dispatch-bot" {
		t.Errorf("created = #%d %s by %s", created.GetNumber(), created.GetState(), created.GetUser().GetLogin())
	}
	if got, want := created.GetHTMLURL(), "https://github.com/acme/alarms/issues/1"; got != want {
		t.Errorf("html_url = %q, want %q", got, want)
	}
	if got := labelNames(created.Labels); !slices.Equal(got, []string{"alarm", "sev1"}) {
		t.Errorf("labels = %v", got)
	}
	if created.IsPullRequest() || created.ClosedAt != nil || created.StateReason != nil {
		t.Errorf("new issue: pr=%v closed_at=%v state_reason=%v", created.IsPullRequest(), created.ClosedAt, created.StateReason)
	}
	if len(created.Assignees) != 1 || created.Assignees[0].GetLogin() != "oncall" {
		t.Errorf("assignees = %v", created.Assignees)
	}

	got, _, err := c.Issues.Get(ctx, "acme", "alarms", 1)
	if err != nil || got.GetTitle() != title || got.GetBody() != body {
		t.Fatalf("get = %q %q, %v", got.GetTitle(), got.GetBody(), err)
	}

	clk.Advance(time.Minute)
	newTitle := "disk full on db-1 (acknowledged)"
	edited, _, err := c.Issues.Edit(ctx, "acme", "alarms", 1, &github.IssueRequest{Title: &newTitle})
	if err != nil {
		t.Fatalf("edit: %v", err)
	}
	if edited.GetTitle() != newTitle || edited.GetBody() != body {
		t.Errorf("edited = %q %q, body must be kept", edited.GetTitle(), edited.GetBody())
	}
	if !edited.GetUpdatedAt().After(created.GetUpdatedAt().Time) {
		t.Errorf("updated_at %v not after %v", edited.GetUpdatedAt(), created.GetUpdatedAt())
	}

	clk.Advance(time.Minute)
	closed, reason := "closed", "not_planned"
	cl, _, err := c.Issues.Edit(ctx, "acme", "alarms", 1, &github.IssueRequest{State: &closed, StateReason: &reason})
	if err != nil {
		t.Fatalf("close: %v", err)
	}
	if cl.GetState() != "closed" || cl.GetStateReason() != "not_planned" || cl.ClosedAt == nil || cl.GetClosedBy().GetLogin() != "dispatch-bot" {
		t.Errorf("closed = %s/%s closed_at=%v by %q", cl.GetState(), cl.GetStateReason(), cl.ClosedAt, cl.GetClosedBy().GetLogin())
	}

	open := "open"
	re, _, err := c.Issues.Edit(ctx, "acme", "alarms", 1, &github.IssueRequest{State: &open})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if re.GetState() != "open" || re.GetStateReason() != "reopened" || re.ClosedAt != nil {
		t.Errorf("reopened = %s/%s closed_at=%v", re.GetState(), re.GetStateReason(), re.ClosedAt)
	}

	stored, ok := s.Issue(testRepo, 1)
	if !ok || stored.Title != newTitle || stored.State != "open" || stored.Author != "dispatch-bot" ||
		!stored.UpdatedAt.Equal(clk.Now()) || !slices.Equal(stored.Assignees, []string{"oncall"}) {
		t.Errorf("stored = %+v", stored)
	}
	calls := s.Calls()
	if calls["POST /repos/{owner}/{repo}/issues"] != 1 || calls["PATCH /repos/{owner}/{repo}/issues/{issue_number}"] != 3 ||
		calls["GET /repos/{owner}/{repo}/issues/{issue_number}"] != 1 {
		t.Errorf("calls = %v", calls)
	}
	if n := s.ContentCreatingCalls(); n != 4 {
		t.Errorf("content-creating calls = %d, want 4", n)
	}
}

func TestIssueValidation(t *testing.T) {
	s := newFake(t, Options{})
	c := newClient(t, s, "ghp_testtoken")
	empty, long := "", strings.Repeat("x", maxBodyChars+1)
	title, bad := "t", "merged"
	tests := []struct {
		name string
		do   func() error
	}{
		{"missing title", func() error {
			_, _, err := c.Issues.Create(context.Background(), "acme", "alarms", &github.IssueRequest{Body: &title})
			return err
		}},
		{"empty title", func() error {
			_, _, err := c.Issues.Create(context.Background(), "acme", "alarms", &github.IssueRequest{Title: &empty})
			return err
		}},
		{"body too long", func() error {
			_, _, err := c.Issues.Create(context.Background(), "acme", "alarms", &github.IssueRequest{Title: &title, Body: &long})
			return err
		}},
		{"bad state", func() error {
			mustCreate(t, c, "t", "b")
			_, _, err := c.Issues.Edit(context.Background(), "acme", "alarms", 1, &github.IssueRequest{State: &bad})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); statusOf(err) != http.StatusUnprocessableEntity {
				t.Errorf("err = %v, want 422", err)
			}
		})
	}
}

func TestListIssues(t *testing.T) {
	s := newFake(t, Options{})
	clk := newFakeClock(s)
	c := newClient(t, s, "ghp_testtoken")
	ctx := context.Background()
	mustCreate(t, c, "one", "", "alarm", "sev1") // #1
	clk.Advance(time.Second)
	mustCreate(t, c, "two", "", "alarm") // #2
	clk.Advance(time.Second)
	mustCreate(t, c, "three", "", "Alarm", "sev2") // #3
	clk.Advance(time.Second)
	s.SeedIssue(testRepo, Issue{Title: "old", State: "closed", Labels: []string{"alarm", "sev1"}}) // #4
	clk.Advance(time.Second)
	since := clk.Now()
	if _, _, err := c.Issues.AddLabelsToIssue(ctx, "acme", "alarms", 2, []string{"sev3"}); err != nil { // touches #2
		t.Fatal(err)
	}

	tests := []struct {
		name string
		opts github.IssueListByRepoOptions
		want []int
	}{
		{"default open newest first", github.IssueListByRepoOptions{}, []int{3, 2, 1}},
		{"closed", github.IssueListByRepoOptions{State: "closed"}, []int{4}},
		{"all asc", github.IssueListByRepoOptions{State: "all", Direction: "asc"}, []int{1, 2, 3, 4}},
		{"labels all must match", github.IssueListByRepoOptions{State: "all", Labels: []string{"alarm", "sev1"}}, []int{4, 1}},
		{"label case-insensitive", github.IssueListByRepoOptions{Labels: []string{"ALARM"}}, []int{3, 2, 1}},
		{"sort updated", github.IssueListByRepoOptions{Sort: "updated"}, []int{2, 3, 1}},
		{"since", github.IssueListByRepoOptions{Since: since}, []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := c.Issues.ListByRepo(ctx, "acme", "alarms", &tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var nums []int
			for _, is := range got {
				nums = append(nums, is.GetNumber())
			}
			if !slices.Equal(nums, tt.want) {
				t.Errorf("numbers = %v, want %v", nums, tt.want)
			}
		})
	}
}

func TestListIssuesPagination(t *testing.T) {
	s := newFake(t, Options{})
	for i := range 75 {
		s.SeedIssue(testRepo, Issue{Title: fmt.Sprintf("issue %d", i+1)})
	}
	c := newClient(t, s, "ghp_testtoken")
	opts := &github.IssueListByRepoOptions{Direction: "asc", ListOptions: github.ListOptions{PerPage: 30}}
	var nums []int
	pages := 0
	for {
		got, resp, err := c.Issues.ListByRepo(context.Background(), "acme", "alarms", opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if pages == 1 && (resp.NextPage != 2 || resp.LastPage != 3) {
			t.Errorf("first page: next=%d last=%d, want 2 and 3", resp.NextPage, resp.LastPage)
		}
		for _, is := range got {
			nums = append(nums, is.GetNumber())
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if pages != 3 || len(nums) != 75 || nums[0] != 1 || nums[74] != 75 || !slices.IsSorted(nums) {
		t.Errorf("pages = %d, got %d issues %v…", pages, len(nums), nums[:min(len(nums), 5)])
	}
}

func TestComments(t *testing.T) {
	s := newFake(t, Options{})
	clk := newFakeClock(s)
	c := newClient(t, s, "ghp_testtoken")
	ctx := context.Background()
	is := mustCreate(t, c, "alarm", "")
	for i := range 3 {
		clk.Advance(time.Second)
		body := fmt.Sprintf("update %d", i+1)
		cm, resp, err := c.Issues.CreateComment(ctx, "acme", "alarms", 1, &github.IssueComment{Body: &body})
		if err != nil || resp.StatusCode != http.StatusCreated || cm.GetBody() != body || cm.GetID() == 0 {
			t.Fatalf("comment %d: %v %v", i, cm, err)
		}
	}
	first, resp, err := c.Issues.ListComments(ctx, "acme", "alarms", 1, &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || first[0].GetBody() != "update 1" || resp.NextPage != 2 {
		t.Errorf("page 1: %d comments, next %d", len(first), resp.NextPage)
	}
	second, resp, err := c.Issues.ListComments(ctx, "acme", "alarms", 1, &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 2, Page: 2}})
	if err != nil || len(second) != 1 || second[0].GetBody() != "update 3" || resp.NextPage != 0 {
		t.Errorf("page 2: %v, next %d, %v", second, resp.NextPage, err)
	}
	got, _, err := c.Issues.Get(ctx, "acme", "alarms", 1)
	if err != nil || got.GetComments() != 3 || !got.GetUpdatedAt().After(is.GetUpdatedAt().Time) {
		t.Errorf("issue after comments: comments=%d updated=%v, %v", got.GetComments(), got.GetUpdatedAt(), err)
	}
	if stored, _ := s.Issue(testRepo, 1); len(stored.Comments) != 3 || stored.Comments[2].Author != "dispatch-bot" {
		t.Errorf("stored comments = %+v", stored.Comments)
	}
}

func TestLabels(t *testing.T) {
	s := newFake(t, Options{})
	c := newClient(t, s, "ghp_testtoken")
	ctx := context.Background()
	mustCreate(t, c, "alarm", "", "alarm")
	got, _, err := c.Issues.AddLabelsToIssue(ctx, "acme", "alarms", 1, []string{"needs triage", "ALARM", "sev1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"alarm", "needs triage", "sev1"}; !slices.Equal(labelNames(got), want) {
		t.Errorf("after add = %v, want %v", labelNames(got), want)
	}
	// go-github v60 puts the label name into the path unescaped; a space still works.
	if _, err := c.Issues.RemoveLabelForIssue(ctx, "acme", "alarms", 1, "needs triage"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if stored, _ := s.Issue(testRepo, 1); !slices.Equal(stored.Labels, []string{"alarm", "sev1"}) {
		t.Errorf("stored labels = %v", stored.Labels)
	}
	if _, err := c.Issues.RemoveLabelForIssue(ctx, "acme", "alarms", 1, "absent"); statusOf(err) != http.StatusNotFound {
		t.Errorf("remove absent label: %v, want 404", err)
	}
}

func TestAuthAndNotFound(t *testing.T) {
	s := newFake(t, Options{Token: "ghp_right", Login: "robot"})
	ctx := context.Background()

	_, _, err := newClient(t, s, "ghp_wrong").Issues.Get(ctx, "acme", "alarms", 1)
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnauthorized || er.Message != "Bad credentials" {
		t.Errorf("bad token: %v, want 401 Bad credentials", err)
	}

	c := newClient(t, s, "ghp_right")
	u, _, err := c.Users.Get(ctx, "")
	if err != nil || u.GetLogin() != "robot" {
		t.Errorf("GET /user = %q, %v", u.GetLogin(), err)
	}
	repo, _, err := c.Repositories.Get(ctx, "acme", "alarms")
	if err != nil || repo.GetFullName() != testRepo || !repo.GetPermissions()["push"] || !repo.GetHasIssues() {
		t.Errorf("GET repo = %v, %v", repo, err)
	}
	for name, do := range map[string]func() error{
		"unknown repo":  func() error { _, _, err := c.Issues.Get(ctx, "acme", "nope", 1); return err },
		"unknown issue": func() error { _, _, err := c.Issues.Get(ctx, "acme", "alarms", 99); return err },
		"create in unknown repo": func() error {
			_, _, err := c.Issues.Create(ctx, "acme", "nope", &github.IssueRequest{Title: github.String("x")})
			return err
		},
	} {
		err := do()
		if !errors.As(err, &er) || er.Response.StatusCode != http.StatusNotFound || er.Message != "Not Found" {
			t.Errorf("%s: %v, want *github.ErrorResponse 404 Not Found", name, err)
		}
	}

	// The "token X" scheme is accepted as well as "Bearer X".
	req, _ := http.NewRequest("GET", s.URL()+"repos/acme/alarms", nil)
	req.Header.Set("Authorization", "token ghp_right")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("token scheme: status %d", resp.StatusCode)
	}
	s.AddToken("ghp_second")
	if _, _, err := newClient(t, s, "ghp_second").Issues.ListByRepo(ctx, "acme", "alarms", nil); err != nil {
		t.Errorf("added token refused: %v", err)
	}
}

func TestConcurrentCreates(t *testing.T) {
	s := newFake(t, Options{})
	c := newClient(t, s, "ghp_testtoken")
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			title := fmt.Sprintf("alarm %d", i)
			_, _, err := c.Issues.Create(context.Background(), "acme", "alarms", &github.IssueRequest{Title: &title})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	issues := s.Issues(testRepo)
	if len(issues) != n || issues[0].Number != 1 || issues[n-1].Number != n {
		t.Errorf("got %d issues, numbers %d..%d", len(issues), issues[0].Number, issues[len(issues)-1].Number)
	}
}
