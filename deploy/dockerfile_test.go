package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct{ cmd, args string }

func dockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(string(src), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if s, more := strings.CutSuffix(trimmed, `\`); more {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// pinned is a fully qualified image reference (a registry host) with a tag and an index digest.
var pinned = regexp.MustCompile(`^[a-z0-9-]+(\.[a-z0-9-]+)+(:[0-9]+)?/[a-z0-9._/-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$`)

func TestDockerfile(t *testing.T) {
	ins := dockerfile(t, "../Dockerfile")
	globals := map[string]string{}
	stage := -1
	stageArgs := map[int]map[string]bool{}
	var froms, labels []string
	var buildRun, healthcheck, entrypoint, user string
	var buildPlatform bool
	for _, in := range ins {
		switch in.cmd {
		case "ARG":
			name, def, _ := strings.Cut(in.args, "=")
			if stage < 0 {
				globals[name] = def
			} else {
				stageArgs[stage][name] = true
			}
		case "FROM":
			stage++
			stageArgs[stage] = map[string]bool{}
			f := strings.Fields(in.args)
			if strings.HasPrefix(f[0], "--platform=") {
				buildPlatform = buildPlatform || (stage == 0 && f[0] == "--platform=$BUILDPLATFORM")
				f = f[1:]
			}
			image := os.Expand(f[0], func(k string) string { return globals[k] })
			froms = append(froms, image)
		case "RUN":
			if strings.Contains(in.args, "go build") {
				buildRun = in.args
			}
		case "LABEL":
			labels = append(labels, in.args)
		case "HEALTHCHECK":
			healthcheck = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "USER":
			user = in.args
		}
	}
	if len(froms) != 2 {
		t.Fatalf("stages: %v, want a build stage and a runtime stage", froms)
	}
	for _, image := range froms {
		if !pinned.MatchString(image) {
			t.Errorf("base image %q must be fully qualified (registry/name:tag) and pinned by @sha256 digest", image)
		}
	}

	// The builder's Go is go.mod's.
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (1\.[0-9]+)`).FindSubmatch(mod)
	if goLine == nil || !strings.Contains(froms[0], "/golang:"+string(goLine[1])) {
		t.Errorf("the build image %q is not Go %s of go.mod", froms[0], goLine)
	}

	// Multi-arch: the builder runs natively and cross-compiles for the target platform.
	if !buildPlatform || !stageArgs[0]["TARGETOS"] || !stageArgs[0]["TARGETARCH"] ||
		!strings.Contains(buildRun, "GOOS=${TARGETOS}") || !strings.Contains(buildRun, "GOARCH=${TARGETARCH}") || !strings.Contains(buildRun, "CGO_ENABLED=0") {
		t.Errorf("the build must run on $BUILDPLATFORM and cross-compile with TARGETOS/TARGETARCH: %q", buildRun)
	}

	all := strings.Join(labels, " ")
	for _, label := range []string{"source", "version", "revision"} {
		m := regexp.MustCompile(`org\.opencontainers\.image\.` + label + `="\$\{([A-Z]+)\}"`).FindStringSubmatch(all)
		if m == nil || !stageArgs[1][m[1]] {
			t.Errorf("no org.opencontainers.image.%s label set from a build argument of the runtime stage", label)
		}
	}

	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || len(ep) != 1 {
		t.Fatalf("ENTRYPOINT %q: want the exec form of the binary", entrypoint)
	}
	hc := regexp.MustCompile(`CMD (\[.*\])$`).FindStringSubmatch(healthcheck)
	var cmd []string
	if hc == nil || json.Unmarshal([]byte(hc[1]), &cmd) != nil || len(cmd) != 2 || cmd[0] != ep[0] || cmd[1] != "healthcheck" {
		t.Errorf("HEALTHCHECK %q: want the exec form [%q, \"healthcheck\"] (the image has no shell)", healthcheck, ep[0])
	}
	if m := regexp.MustCompile(`--timeout=([0-9]+)s`).FindStringSubmatch(healthcheck); m == nil {
		t.Errorf("HEALTHCHECK %q has no timeout", healthcheck)
	} else if n, _ := strconv.Atoi(m[1]); n <= 3 {
		t.Errorf("HEALTHCHECK timeout %ss must exceed dispatch healthcheck's own 3 s bound, so the check reports rather than being killed", m[1])
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a numeric non-root user (Kubernetes' runAsNonRoot can only verify a number)", user)
	}
}
