package config

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestFlagGroup(t *testing.T) {
	for name, want := range map[string]string{
		"addr": "General", "something-new": "General", "log-level": "Logging", "access-log": "Logging",
		"max-blob-size": "Registry behaviour and limits", "auth": "Access control", "token-ttl": "Access control",
		"login-lockout": "Access control", "tls-cert": "TLS and ACME", "acme-domain": "TLS and ACME",
		"database-url": "Database", "db-timeout": "Database", "storage": "Blob storage", "s3-bucket": "Blob storage",
		"authority": "General", // a prefix must end at a dash
	} {
		if got := FlagGroup(name); got != want {
			t.Errorf("FlagGroup(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestPrintFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("addr", ":5000", "listen address HOST:PORT")
	fs.Bool("auth", true, "require authentication")
	fs.Duration("token-ttl", 30*time.Minute, "lifetime of tokens")
	fs.String("widget-socket", "", "path of the widget `SOCKET`")
	fs.Int64("max-blob-size", 0, "largest blob (0: no limit)")
	var b strings.Builder
	PrintFlags(&b, fs, EnvName)
	want := `General:
  --addr HOST:PORT        listen address (default ":5000", env BERTH_ADDR)
  --widget-socket SOCKET  path of the widget SOCKET (env BERTH_WIDGET_SOCKET)

Registry behaviour and limits:
  --max-blob-size BYTES   largest blob (0: no limit; default 0, env BERTH_MAX_BLOB_SIZE)

Access control:
  --auth                  require authentication (default true, env BERTH_AUTH)
  --token-ttl DURATION    lifetime of tokens (default 30m, env BERTH_TOKEN_TTL)
`
	if b.String() != want {
		t.Errorf("PrintFlags wrote:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	PrintFlags(&b, fs, nil)
	if strings.Contains(b.String(), "env ") {
		t.Errorf("PrintFlags without env names variables:\n%s", b.String())
	}
}

func TestPrintFlagsWraps(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("data-dir", "./data", strings.Repeat("word ", 30))
	var b strings.Builder
	PrintFlags(&b, fs, EnvName)
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if len(line) > usageWidth {
			t.Errorf("line of %d characters: %q", len(line), line)
		}
	}
	if !strings.Contains(b.String(), `env BERTH_DATA_DIR`) {
		t.Errorf("env variable split across lines:\n%s", b.String())
	}
}
