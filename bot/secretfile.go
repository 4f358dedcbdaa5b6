package bot

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// secretNames are the settings that hold a secret. Each NAME may instead be given as NAME_FILE, the
// path of a file holding the value, as Docker and Kubernetes mount secrets (so the value never sits
// in the process environment, `docker inspect` or a pod spec). A new secret setting is one more name
// here.
var secretNames = []string{
	"SLACK_BOT_TOKEN",
	"SLACK_APP_TOKEN",
	"GITHUB_TOKEN",
	"GITHUB_APP_PRIVATE_KEY",
	"PAGERDUTY_ROUTING_KEY",
	"PAGERDUTY_SERVICE_KEYS",
	"PAGERDUTY_API_TOKEN",
	"DISPATCH_TASK_KEYS",
	"DUO_SKEY",
}

// SecretNames returns the settings that hold a secret, each of which also accepts NAME_FILE.
func SecretNames() []string { return slices.Clone(secretNames) }

// maxSecretFile bounds what a NAME_FILE may hold: a PEM key is a few kilobytes, and a path pointing
// at something huge (or endless, like /dev/zero) must not take the process down.
const maxSecretFile = 64 << 10

// secretFiles returns a getenv that answers each of names from NAME_FILE when that is set, and the
// problems it found: NAME and NAME_FILE both set (ambiguous: which one wins would be a guess), or a
// file that can't be read. A file's trailing newline (what `echo` and most editors leave) is dropped;
// the messages name the variables and the path, never the content.
func secretFiles(getenv func(string) string, names []string) (func(string) string, []string) {
	values := map[string]string{}
	var problems []string
	for _, name := range names {
		path := strings.TrimSpace(getenv(name + "_FILE"))
		if path == "" {
			continue
		}
		if strings.TrimSpace(getenv(name)) != "" {
			problems = append(problems, fmt.Sprintf("%s and %s_FILE are both set: set only one", name, name))
			continue
		}
		v, err := readSecretFile(path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s_FILE: %v", name, err))
			continue
		}
		values[name] = v
	}
	return func(name string) string {
		if v, ok := values[name]; ok {
			return v
		}
		return getenv(name)
	}, problems
}

// readSecretFile reads a secret from path, without its trailing line break.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read the secret file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("read the secret file %s: %w", path, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("the secret file %s is larger than %d KiB", path, maxSecretFile>>10)
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if strings.TrimSpace(v) == "" {
		return "", fmt.Errorf("the secret file %s is empty", path)
	}
	return v, nil
}
