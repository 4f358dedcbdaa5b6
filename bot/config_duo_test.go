package bot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDuoConfig: Duo is off unless all three are set, reads DUO_SKEY_FILE, and reports each bad
// setting without quoting the secret key.
func TestDuoConfig(t *testing.T) {
	c, err := LoadConfig(env(valid()))
	if err != nil || c.Duo.Enabled() {
		t.Fatalf("without DUO_*: enabled %v, err %v", c.Duo.Enabled(), err)
	}
	dir := t.TempDir()
	skey := filepath.Join(dir, "skey")
	if err := os.WriteFile(skey, []byte("duo-secret-key-value-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := valid()
	m["DUO_API_HOST"], m["DUO_IKEY"], m["DUO_SKEY_FILE"] = "api-1234.duosecurity.com", "DI123", skey
	m["DUO_REUSE_WINDOW"], m["DUO_USERNAME"], m["DISPATCH_MFA"] = "0", "email-local", "off"
	c, err = LoadConfig(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Duo.Enabled() || c.Duo.SKey != "duo-secret-key-value-0123456789" || c.Duo.ReuseWindow != 0 || !c.Duo.EmailLocal || c.Duo.MFADefault {
		t.Fatalf("duo config %+v", c.Duo)
	}
	if !strings.Contains(strings.Join(c.Secrets(), " "), c.Duo.SKey) {
		t.Error("DUO_SKEY is not among the secrets the logger filters")
	}
	m = valid()
	m["DUO_API_HOST"], m["DUO_SKEY"] = "https://api-1234.duosecurity.com", "duo-secret-key-value-0123456789"
	m["DUO_REUSE_WINDOW"], m["DUO_USERNAME"], m["DISPATCH_MFA"], m["DUO_CA_FILE"] = "soon", "upn", "maybe", filepath.Join(dir, "none.pem")
	_, err = LoadConfig(env(m))
	if err == nil {
		t.Fatal("bad Duo settings accepted")
	}
	for _, want := range []string{"all of DUO_API_HOST, DUO_IKEY and DUO_SKEY", "DUO_API_HOST", "DUO_REUSE_WINDOW", "DUO_USERNAME", "DISPATCH_MFA", "DUO_CA_FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error doesn't name %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "duo-secret-key-value") {
		t.Error("the error quotes DUO_SKEY")
	}
}
