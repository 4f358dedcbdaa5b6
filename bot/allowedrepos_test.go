package bot

import (
	"slices"
	"strings"
	"testing"
)

func TestGitHubAllowedRepos(t *testing.T) {
	for _, tc := range []struct {
		value   string
		want    []string
		problem string
	}{
		{value: "", want: []string{"acme/*"}},
		{value: " acme/alarms , Team-2/* ", want: []string{"acme/alarms", "Team-2/*"}},
		{value: "acme/alarms,not a repo,*/*", problem: `"not a repo" is not owner/name or owner/*, "*/*" is not owner/name or owner/*`},
		{value: "other/alarms", problem: `GITHUB_ALLOWED_REPOS must include GITHUB_REPO "acme/alarms"`},
		{value: " , ", problem: "names no repository"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			m := valid()
			m["GITHUB_ALLOWED_REPOS"] = tc.value
			c, err := LoadConfig(env(m))
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("error %v, want it to say %s", err, tc.problem)
				}
				return
			}
			if err != nil || !slices.Equal(c.AllowedRepos, tc.want) {
				t.Errorf("AllowedRepos = %q, %v; want %q", c.AllowedRepos, err, tc.want)
			}
		})
	}
}
