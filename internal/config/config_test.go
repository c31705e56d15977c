package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	c := Default()
	fs := c.FlagSet("test")
	fs.SetOutput(new(strings.Builder))
	err := c.Load(fs, args, func(k string) string { return env[k] })
	return c, err
}

func TestDefaults(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":5000" || c.DataDir != "./data" || !c.DeleteEnabled || c.MaxManifestSize != 4<<20 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "berth.json")
	if err := os.WriteFile(file, []byte(`{"addr":"127.0.0.1:1","data-dir":"/from/file","log-level":"warn","max-blob-size":1024,"delete-enabled":false}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"BERTH_CONFIG": file, "BERTH_DATA_DIR": "/from/env", "BERTH_ADDR": "127.0.0.1:2", "BERTH_UPLOAD_TTL": "2h"}
	c, err := load(t, []string{"--addr", "127.0.0.1:3"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:3" {
		t.Errorf("flag must win: %q", c.Addr)
	}
	if c.DataDir != "/from/env" || c.UploadTTL != 2*time.Hour {
		t.Errorf("env must beat file: %q %s", c.DataDir, c.UploadTTL)
	}
	if c.LogLevel != "warn" || c.MaxBlobSize != 1024 || c.DeleteEnabled {
		t.Errorf("file values lost: %+v", c)
	}
}

func TestInvalidNamesTheField(t *testing.T) {
	cases := map[string]struct {
		args []string
		env  map[string]string
	}{
		"addr":              {[]string{"--addr", "nope"}, nil},
		"log-level":         {nil, map[string]string{"BERTH_LOG_LEVEL": "loud"}},
		"BERTH_UPLOAD_TTL":  {nil, map[string]string{"BERTH_UPLOAD_TTL": "soon"}},
		"max-manifest-size": {[]string{"--max-manifest-size", "10"}, nil},
		"max-blob-size":     {[]string{"--max-blob-size", "-1"}, nil},
		"upload-ttl":        {[]string{"--upload-ttl", "1s"}, nil},
		"log-format":        {[]string{"--log-format", "xml"}, nil},
	}
	for field, c := range cases {
		_, err := load(t, c.args, c.env)
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: err = %v, want it to name the field", field, err)
		}
	}
}

func TestUnknownFileSetting(t *testing.T) {
	file := filepath.Join(t.TempDir(), "berth.json")
	if err := os.WriteFile(file, []byte(`{"adr":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := load(t, []string{"--config", file}, nil); err == nil || !strings.Contains(err.Error(), `"adr"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("max-blob-size"); got != "BERTH_MAX_BLOB_SIZE" {
		t.Fatal(got)
	}
}
