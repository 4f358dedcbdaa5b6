package deploy

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// readRepoFile reads a file of the repository, relative to its root.
func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("../" + path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The README names the Go that go.mod asks for: a user installing an older one gets a toolchain
// download or a build error, not an answer.
func TestREADMEStatesTheGoVersion(t *testing.T) {
	m := regexp.MustCompile(`(?m)^go (1\.[0-9]+)`).FindStringSubmatch(readRepoFile(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	if want := "Go " + m[1] + " or later"; !strings.Contains(readRepoFile(t, "README.md"), want) {
		t.Errorf("README.md doesn't say %q (go.mod: go %s)", want, m[1])
	}
}

// The docs say how much of a rejected alarm the fallback channel shows: what the code shows.
func TestDocsStateTheRejectExcerpt(t *testing.T) {
	m := regexp.MustCompile(`(?m)^const maxRejectExcerpt = ([0-9]+)$`).FindStringSubmatch(readRepoFile(t, "handlers/deliver.go"))
	if m == nil {
		t.Fatal("handlers/deliver.go has no maxRejectExcerpt constant")
	}
	for path, want := range map[string]string{
		"docs/MESSAGE-SPEC.md": "at most the first " + m[1] + " characters",
		"README.md":            "at most a " + m[1] + "-character",
	} {
		if !strings.Contains(readRepoFile(t, path), want) {
			t.Errorf("%s doesn't say %q (handlers/deliver.go: maxRejectExcerpt = %s)", path, want, m[1])
		}
	}
}
