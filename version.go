package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/dispatch-oss/dispatch/bot"
)

var versionCommand = &command{
	name:    "version",
	summary: "print the version",
	description: `Prints the version stamped in at build time (-ldflags "-X .../bot.Version=…"), or else the
module version, VCS revision and dirty flag Go records in the binary.`,
	flags: func(*flagSet) runner {
		return func(inv *invocation) int {
			if inv.fs.NArg() > 0 {
				return inv.usageError("version takes no arguments")
			}
			info, _ := debug.ReadBuildInfo()
			fmt.Fprintln(inv.stdout, "dispatch", version(bot.Version, info))
			return exitOK
		}
	},
}

// version is the stamped version, or, when none was ("dev"), what the build information says: the
// module version and the VCS revision, "dirty" when the tree had uncommitted changes.
func version(stamped string, info *debug.BuildInfo) string {
	if stamped != "" && stamped != "dev" || info == nil {
		return stamped
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var revision, modified string // vcs.modified is "true" for a tree with uncommitted changes
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if strings.Contains(v, revision) {
		return v // a pseudo-version names the revision, and "+dirty", already
	}
	v += " revision " + revision
	if modified == "true" {
		v += " dirty"
	}
	return v
}
