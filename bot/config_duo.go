package bot

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// DuoConfig is the Duo second factor (issue 19): off unless DUO_API_HOST, DUO_IKEY and DUO_SKEY are
// all set.
type DuoConfig struct {
	APIHost     string        // DUO_API_HOST
	IKey        string        // DUO_IKEY
	SKey        string        // DUO_SKEY (or DUO_SKEY_FILE); a secret
	ReuseWindow time.Duration // DUO_REUSE_WINDOW, default 1h; 0 always pushes
	CAFile      string        // DUO_CA_FILE: PEM of CAs trusted instead of Duo's pinned roots
	CAPEM       []byte        // its contents, read at start-up
	EmailLocal  bool          // DUO_USERNAME=email-local
	MFADefault  bool          // DISPATCH_MFA: on (the default with Duo) or off
}

// Enabled reports whether Duo is configured.
func (d DuoConfig) Enabled() bool { return d.APIHost != "" && d.IKey != "" && d.SKey != "" }

var duoHostPattern = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]{1,5})?$`)

// loadDuo reads the DUO_* settings and DISPATCH_MFA; getenv already resolves DUO_SKEY_FILE.
func loadDuo(getenv func(string) string, bad func(string, ...any)) DuoConfig {
	d := DuoConfig{ReuseWindow: time.Hour, MFADefault: true}
	d.APIHost = strings.TrimSpace(getenv("DUO_API_HOST"))
	d.IKey = strings.TrimSpace(getenv("DUO_IKEY"))
	d.SKey = strings.TrimSpace(getenv("DUO_SKEY"))
	set := 0
	for _, v := range []string{d.APIHost, d.IKey, d.SKey} {
		if v != "" {
			set++
		}
	}
	if set > 0 && set < 3 {
		bad("Duo needs all of DUO_API_HOST, DUO_IKEY and DUO_SKEY (or DUO_SKEY_FILE)")
	}
	if d.APIHost != "" && !duoHostPattern.MatchString(d.APIHost) {
		bad("DUO_API_HOST: %q is not a host name like api-XXXXXXXX.duosecurity.com (no https://)", d.APIHost)
	}
	if v := strings.TrimSpace(getenv("DUO_REUSE_WINDOW")); v != "" {
		w, err := time.ParseDuration(v)
		if v == "0" {
			w, err = 0, nil
		}
		if err != nil || w < 0 {
			bad("DUO_REUSE_WINDOW: %q is not a duration like 1h (0 always pushes)", v)
		} else {
			d.ReuseWindow = w
		}
	}
	switch v := strings.TrimSpace(getenv("DUO_USERNAME")); v {
	case "", "email":
	case "email-local":
		d.EmailLocal = true
	default:
		bad("DUO_USERNAME: %q is not email or email-local", v)
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("DISPATCH_MFA"))); v {
	case "", "on":
	case "off":
		d.MFADefault = false
	default:
		bad("DISPATCH_MFA: %q is not on or off", v)
	}
	if d.CAFile = strings.TrimSpace(getenv("DUO_CA_FILE")); d.CAFile != "" {
		b, err := os.ReadFile(d.CAFile)
		switch {
		case err != nil:
			bad("DUO_CA_FILE: %v", err)
		case !strings.Contains(string(b), "-----BEGIN CERTIFICATE-----"):
			bad("DUO_CA_FILE: %s holds no PEM certificate", d.CAFile)
		default:
			d.CAPEM = b
		}
	}
	return d
}

// String describes the Duo setting without its secret.
func (d DuoConfig) String() string {
	if !d.Enabled() {
		return "off"
	}
	return fmt.Sprintf("host %s, reuse %s, mfa default %v", d.APIHost, d.ReuseWindow, d.MFADefault)
}
