package main

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// manifestSchemaPath is Slack's published JSON schema for app manifests (slackapi/manifest-schema),
// copied into testdata/ (see testdata/README.md) so that a clone of the repository alone tests it.
const manifestSchemaPath = "testdata/slack-manifest.schema.1.0.0.json"

// slackScopes maps each slack-go call dispatch makes to the bot scopes it needs (nil: none). A call
// missing here fails TestManifestScopesAreExactlyWhatTheCodeUses, so a new Slack call can't ship
// without deciding its scope. Entries the code no longer makes are harmless.
var slackScopes = map[string][]string{
	"AuthTestContext":               nil, // auth.test
	"StartSocketModeContext":        nil, // apps.connections.open: the app-level token's connections:write
	"RunContext":                    nil, // the Socket Mode connection itself
	"Ack":                           nil, // Socket Mode envelope acks
	"PostWebhookCustomHTTPContext":  nil, // response_url replies
	"PublishViewContext":            nil, // views.publish (App Home)
	"OpenViewContext":               nil, // views.open (the reason modal, issue 19)
	"GetPermalinkContext":           nil, // chat.getPermalink
	"PostMessageContext":            {"chat:write"},
	"UpdateMessageContext":          {"chat:write"},
	"PostEphemeralContext":          {"chat:write"},
	"OpenConversationContext":       {"im:write"},
	"GetConversationHistoryContext": {"im:history", "channels:history", "groups:history"}, // DMs and the fallback channel
	"GetConversationRepliesContext": {"im:history"},                                       // a prompt's thread, in a DM
	"GetUsersPaginated":             {"users:read"},
	"GetUserInfoContext":            {"users:read"},
	"GetUserByEmailContext":         {"users:read.email"},
}

// slashCommandScope is what handling Socket Mode slash commands needs.
const slashCommandScope = "commands"

// manifest is the part of manifest.yaml this test reads.
type manifest struct {
	Features struct {
		SlashCommands []slashCommand `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuthConfig struct {
		Scopes struct {
			Bot  []string `yaml:"bot"`
			User []string `yaml:"user"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		Interactivity struct {
			IsEnabled bool `yaml:"is_enabled"`
		} `yaml:"interactivity"`
		SocketModeEnabled bool `yaml:"socket_mode_enabled"`
	} `yaml:"settings"`
}

type slashCommand struct {
	Command string `yaml:"command"`
}

func loadManifest(t *testing.T) manifest {
	t.Helper()
	src, err := os.ReadFile("manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.Unmarshal(src, &m); err != nil {
		t.Fatalf("manifest.yaml: %v", err)
	}
	return m
}

// manifestJSON reads manifest.yaml and returns it as JSON, the form the schema validates.
func manifestJSON(t *testing.T) []byte {
	t.Helper()
	src, err := os.ReadFile("manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		t.Fatalf("manifest.yaml: %v", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("manifest.yaml as JSON: %v", err)
	}
	return b
}

type ecmaRegexp regexp2.Regexp

func (re *ecmaRegexp) MatchString(s string) bool {
	ok, err := (*regexp2.Regexp)(re).MatchString(s)
	return err == nil && ok
}

func (re *ecmaRegexp) String() string { return (*regexp2.Regexp)(re).String() }

// compileManifestSchema compiles Slack's schema. Its patterns use lookahead, which Go's regexp
// lacks, so patterns go through an ECMAScript engine, as JSON Schema specifies.
func compileManifestSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(manifestSchemaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", manifestSchemaPath, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.UseRegexpEngine(func(s string) (jsonschema.Regexp, error) {
		re, err := regexp2.Compile(s, regexp2.ECMAScript)
		if err != nil {
			return nil, err
		}
		return (*ecmaRegexp)(re), nil
	})
	if err := c.AddResource("slack-manifest.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("slack-manifest.schema.json")
	if err != nil {
		t.Fatalf("compile %s: %v", manifestSchemaPath, err)
	}
	return sch
}

func validateManifest(sch *jsonschema.Schema, b []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

func TestManifestMatchesSlackSchema(t *testing.T) {
	sch := compileManifestSchema(t)
	b := manifestJSON(t)
	if err := validateManifest(sch, b); err != nil {
		t.Fatalf("manifest.yaml is not a valid Slack app manifest:\n%v", err)
	}

	// The validator must be able to say no: each of these is a manifest Slack refuses.
	for _, c := range []struct{ name, key, value, at string }{
		{"unknown top-level key", "colour", `"blue"`, "colour"},
		{"slash command without its slash", "features", `{"slash_commands":[{"command":"dispatch","description":"d"}]}`, "/features/slash_commands/0/command"},
		{"domain starting with a dash (a lookahead pattern)", "features", `{"unfurl_domains":["-example.com"]}`, "/features/unfurl_domains/0"},
	} {
		t.Run("rejects "+c.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal([]byte(c.value), &v); err != nil {
				t.Fatal(err)
			}
			m[c.key] = v
			broken, _ := json.Marshal(m)
			err := validateManifest(sch, broken)
			if err == nil {
				t.Fatalf("the schema accepted a manifest with %s = %s", c.key, c.value)
			}
			if !strings.Contains(err.Error(), c.at) {
				t.Errorf("rejected, but not at %s: %v", c.at, err)
			}
		})
	}
}

func TestManifestTurnsOnSocketModeInteractivityAndTheCommand(t *testing.T) {
	m := loadManifest(t)
	if !m.Settings.SocketModeEnabled {
		t.Error("settings.socket_mode_enabled must be true: dispatch has no public endpoint")
	}
	if !m.Settings.Interactivity.IsEnabled {
		t.Error("settings.interactivity.is_enabled must be true: the Yes/No buttons are interactions")
	}
	if !slices.Contains(m.Features.SlashCommands, slashCommand{Command: "/dispatch"}) {
		t.Errorf("features.slash_commands lacks /dispatch: %+v", m.Features.SlashCommands)
	}
}

func TestManifestScopesAreExactlyWhatTheCodeUses(t *testing.T) {
	m := loadManifest(t)
	calls, slash := slackCalls(t, "slackapi", "bot")
	need := map[string]string{} // scope → a call that needs it
	for call, where := range calls {
		scopes, ok := slackScopes[call]
		if !ok {
			t.Errorf("%s calls slack-go's %s: add it to slackScopes with the bot scopes it needs (nil for none)", where, call)
		}
		for _, s := range scopes {
			need[s] = call
		}
	}
	if slash != "" {
		need[slashCommandScope] = "slash commands (" + slash + ")"
	}
	for s, why := range need {
		if !slices.Contains(m.OAuthConfig.Scopes.Bot, s) {
			t.Errorf("manifest.yaml lacks the bot scope %s, needed by %s", s, why)
		}
	}
	for _, s := range m.OAuthConfig.Scopes.Bot {
		if _, ok := need[s]; !ok {
			t.Errorf("manifest.yaml asks for the bot scope %s, which no call dispatch makes needs: remove it", s)
		}
	}
	if len(m.OAuthConfig.Scopes.User) > 0 {
		t.Errorf("manifest.yaml asks for user scopes %v: dispatch acts only as its bot", m.OAuthConfig.Scopes.User)
	}
}

// slackCalls scans the non-test Go files of dirs for slack-go calls: methods called on a value
// declared as a *slack.Client or *socketmode.Client (a struct field, parameter or variable), and
// slack's package-level API functions (those ending in Context). It returns each call with where
// it is first made, and where Socket Mode slash commands are handled ("" if nowhere).
func slackCalls(t *testing.T, dirs ...string) (calls map[string]string, slash string) {
	t.Helper()
	calls = map[string]string{}
	fset := token.NewFileSet()
	for _, dir := range dirs {
		names, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(names) == 0 {
			t.Fatalf("no Go files in %s (%v)", dir, err)
		}
		var files []*ast.File
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		// Names declared with a slack-go client type anywhere in the package (a field declared in
		// one file is used in others).
		clients := map[string]bool{}
		for _, f := range files {
			slackPkg, socketPkg := goImportName(f, "github.com/slack-go/slack"), goImportName(f, "github.com/slack-go/slack/socketmode")
			isClient := func(typ ast.Expr) bool {
				if star, ok := typ.(*ast.StarExpr); ok {
					typ = star.X
				}
				sel, ok := typ.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "Client" {
					return false
				}
				pkg, ok := sel.X.(*ast.Ident)
				return ok && (pkg.Name == slackPkg || pkg.Name == socketPkg)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				var names []*ast.Ident
				switch n := n.(type) {
				case *ast.Field:
					if isClient(n.Type) {
						names = n.Names
					}
				case *ast.ValueSpec:
					if n.Type != nil && isClient(n.Type) {
						names = n.Names
					}
				}
				for _, id := range names {
					clients[id.Name] = true
				}
				return true
			})
		}
		for _, f := range files {
			slackPkg, socketPkg := goImportName(f, "github.com/slack-go/slack"), goImportName(f, "github.com/slack-go/slack/socketmode")
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.SelectorExpr:
					if id, ok := n.X.(*ast.Ident); ok && socketPkg != "" && id.Name == socketPkg && n.Sel.Name == "EventTypeSlashCommand" && slash == "" {
						slash = fset.Position(n.Pos()).String()
					}
				case *ast.CallExpr:
					sel, ok := n.Fun.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					var recv string
					switch x := sel.X.(type) {
					case *ast.Ident:
						recv = x.Name
					case *ast.SelectorExpr:
						recv = x.Sel.Name
					}
					pkgAPI := slackPkg != "" && recv == slackPkg && strings.HasSuffix(sel.Sel.Name, "Context")
					if pkgAPI || clients[recv] {
						if _, seen := calls[sel.Sel.Name]; !seen {
							calls[sel.Sel.Name] = fset.Position(n.Pos()).String()
						}
					}
				}
				return true
			})
		}
	}
	if len(calls) == 0 {
		t.Fatalf("found no slack-go calls in %v: has the code moved? Update slackCalls", dirs)
	}
	return calls, slash
}

// importName is the name a file uses for an imported package ("" if it doesn't import it).
func goImportName(f *ast.File, path string) string {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == path {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return path[strings.LastIndex(path, "/")+1:]
		}
	}
	return ""
}
