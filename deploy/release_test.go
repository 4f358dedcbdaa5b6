package deploy

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// goreleaser is the part of .goreleaser.yaml these tests read.
type goreleaser struct {
	Version int
	Builds  []struct {
		ID      string
		Main    string
		Binary  string
		Env     []string
		Goos    []string
		Goarch  []string
		Ldflags []string
	}
	DockersV2 []struct {
		Dockerfile string
		Images     []string
		Platforms  []string
	} `yaml:"dockers_v2"`
}

// versionFlag is how a build stamps the version `dispatch version` prints (version.go).
const versionFlag = "-X github.com/dispatch-oss/dispatch/bot.Version="

// runtimeStage is the last stage of a Dockerfile: its base image (build arguments expanded) and
// the instructions that make the image's behaviour.
type runtimeStage struct {
	base                                string
	user, expose, health, entry, cmdArg string
	copies                              []string
}

func lastStage(ins []instruction) runtimeStage {
	globals := map[string]string{}
	var st runtimeStage
	stage := -1
	for _, in := range ins {
		switch in.cmd {
		case "ARG":
			if stage < 0 {
				name, def, _ := strings.Cut(in.args, "=")
				globals[name] = def
			}
		case "FROM":
			stage++
			f := strings.Fields(in.args)
			if strings.HasPrefix(f[0], "--platform=") {
				f = f[1:]
			}
			st = runtimeStage{base: os.Expand(f[0], func(k string) string { return globals[k] })}
		case "USER":
			st.user = in.args
		case "EXPOSE":
			st.expose = in.args
		case "HEALTHCHECK":
			st.health = in.args
		case "ENTRYPOINT":
			st.entry = in.args
		case "CMD":
			st.cmdArg = in.args
		case "COPY":
			st.copies = append(st.copies, in.args)
		}
	}
	return st
}

func loadGoreleaser(t *testing.T) goreleaser {
	t.Helper()
	src, err := os.ReadFile("../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var g goreleaser
	if err := yaml.Unmarshal(src, &g); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	return g
}

// The release builds what the README and the deployments promise: a static binary for each
// platform with the version stamped in the way the Dockerfile does it, and an image for both CPUs
// ECS and Kubernetes run, under the name the Helm chart pulls.
func TestReleaseConfig(t *testing.T) {
	g := loadGoreleaser(t)
	if g.Version != 2 || len(g.Builds) != 1 || len(g.DockersV2) != 1 {
		t.Fatalf(".goreleaser.yaml: version %d, %d builds, %d dockers_v2; want version 2, one of each", g.Version, len(g.Builds), len(g.DockersV2))
	}
	b := g.Builds[0]
	if b.Main != "." || b.Binary != "dispatch" || !slices.Contains(b.Env, "CGO_ENABLED=0") {
		t.Errorf("build: main %q, binary %q, env %v; want the static dispatch binary of the root package", b.Main, b.Binary, b.Env)
	}
	for _, want := range [][2][]string{{b.Goos, {"darwin", "linux", "windows"}}, {b.Goarch, {"amd64", "arm64"}}} {
		got := slices.Sorted(slices.Values(want[0]))
		if !slices.Equal(got, want[1]) {
			t.Errorf("build targets %v, want %v", got, want[1])
		}
	}
	if flags := strings.Join(b.Ldflags, " "); !strings.Contains(flags, versionFlag+"{{ .Version }}") {
		t.Errorf("ldflags %q don't stamp the version (%s{{ .Version }})", flags, versionFlag)
	}
	var build string
	for _, in := range dockerfile(t, "../Dockerfile") {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	if !strings.Contains(build, versionFlag+"${VERSION}") {
		t.Errorf("the Dockerfile's build %q stamps the version otherwise than the release (%s)", build, versionFlag)
	}

	d := g.DockersV2[0]
	values, err := os.ReadFile("helm/dispatch/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var chartValues struct{ Image struct{ Repository string } }
	if err := yaml.Unmarshal(values, &chartValues); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.Images, []string{chartValues.Image.Repository}) {
		t.Errorf("the release pushes %v; the chart pulls %s", d.Images, chartValues.Image.Repository)
	}
	if !reflect.DeepEqual(d.Platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("image platforms %v, want linux/amd64 and linux/arm64 (the template's CpuArchitecture offers both)", d.Platforms)
	}
	if d.Dockerfile != "deploy/Dockerfile.release" {
		t.Errorf("the release image is built from %q, want deploy/Dockerfile.release", d.Dockerfile)
	}
}

// The release image (the prebuilt binary) and the Dockerfile's image (built from source) behave
// alike: the same pinned base, user, port, health check and entrypoint.
func TestReleaseImageMatchesTheDockerfile(t *testing.T) {
	release := dockerfile(t, "Dockerfile.release")
	froms := 0
	for _, in := range release {
		if in.cmd == "FROM" {
			froms++
		}
		if in.cmd == "RUN" {
			t.Errorf("RUN %s: the release image only copies the binary (the base has no shell)", in.args)
		}
	}
	if froms != 1 {
		t.Errorf("Dockerfile.release has %d stages, want one", froms)
	}
	got, want := lastStage(release), lastStage(dockerfile(t, "../Dockerfile"))
	if !pinned.MatchString(got.base) {
		t.Errorf("base image %q is not pinned by digest", got.base)
	}
	if !slices.Equal(got.copies, []string{"${TARGETPLATFORM}/dispatch /dispatch"}) {
		t.Errorf("COPY %v: want the binary GoReleaser puts at $TARGETPLATFORM/dispatch", got.copies)
	}
	got.copies, want.copies = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the release image's runtime\n %+v\ndiffers from the Dockerfile's\n %+v", got, want)
	}
}
