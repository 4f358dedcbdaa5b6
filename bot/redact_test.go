package bot

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestRedactionCatchesEveryForm: a secret reaches a log line raw, JSON-escaped (a PEM key's
// newlines as \n, "/" as \/, "<" as \u003c), escaped twice (a JSON body quoted in an error), in
// part (one line of a PEM key), or minted after the logger was made: none of it gets through, in
// JSON or console format.
func TestRedactionCatchesEveryForm(t *testing.T) {
	var pemKey string
	var body []string
	// The \/ rows need a "/" in the key's base64: all but certain for one key, certain for a few.
	for !strings.Contains(strings.Join(body, ""), "/") {
		key, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		pemKey = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
		lines := strings.Split(strings.TrimSpace(pemKey), "\n")
		body = lines[1 : len(lines)-1]
	}
	const awsSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	const html = "tok<en>&with-html-chars"
	minted := "ghs_" + strings.Repeat("Z9", 18)
	for _, format := range []string{"json", "console"} {
		t.Run(format, func(t *testing.T) {
			var b strings.Builder
			secrets := NewSecrets(pemKey, awsSecret, html)
			log := NewLogger(secrets.Filter(&b), "debug", format)
			secrets.Add(minted)
			log.Info().Str("key", pemKey).Msg("a library logged the whole key")
			log.Info().Msg("one line of it: " + body[3])
			log.Info().RawJSON("body", []byte(`{"key":"`+strings.ReplaceAll(jsonEscape(pemKey, true), "/", `\/`)+`"}`)).Msg("slashes escaped")
			log.Info().Err(fmt.Errorf("github said: %w", errors.New(`{"message":"bad","key":"`+jsonEscape(pemKey, true)+`"}`))).Msg("escaped twice")
			log.Info().Interface("creds", map[string]string{"secret": awsSecret, "html": html}).Msg("through encoding/json")
			log.Info().Str("auth", "Bearer "+minted).Msg("a token minted at run time")
			out := b.String()
			if strings.Count(out, "[redacted]") < 6 {
				t.Errorf("too few redactions:\n%s", out)
			}
			leaks := append(append([]string{}, body...), awsSecret, minted, html, `tok\u003cen\u003e\u0026with`)
			for _, l := range body {
				leaks = append(leaks, strings.ReplaceAll(l, "/", `\/`))
			}
			leaks = append(leaks, strings.ReplaceAll(awsSecret, "/", `\/`))
			for _, leak := range leaks {
				if strings.Contains(out, leak) {
					t.Errorf("%.12q… reached the log:\n%s", leak, out)
				}
			}
		})
	}
}

// TestMintedSecretsAreBounded: credentials minted over months do not grow the filter forever.
func TestMintedSecretsAreBounded(t *testing.T) {
	s := NewSecrets("static-secret-value")
	for i := range 10 * maxMinted {
		s.Add(fmt.Sprintf("ghs_minted_token_%04d", i))
		s.Add(fmt.Sprintf("ghs_minted_token_%04d", i)) // twice: once on the list
	}
	var b strings.Builder
	w := s.Filter(&b)
	fmt.Fprintf(w, "static-secret-value ghs_minted_token_%04d", 10*maxMinted-1)
	if strings.Contains(b.String(), "static-secret") || strings.Contains(b.String(), "ghs_minted") {
		t.Errorf("log = %s", b.String())
	}
	if n := len(s.minted); n != maxMinted {
		t.Errorf("%d minted secrets kept, want %d", n, maxMinted)
	}
}
