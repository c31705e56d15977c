package app

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/test/pgserver"
)

func sharedDirConfig(dbURL, blobDir, dataDir string) config.Config {
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.Auth.Enabled = false
	cfg.Database.URL = dbURL
	cfg.Storage.BlobDir = blobDir
	return cfg
}

// TestSharedBlobDir: two berth processes, each with its own data
// directory, on one PostgreSQL database and one blob directory take turns
// at the chunks of one upload and both serve the blob. A third started
// later leaves a young upload without a session alone (another replica
// may be writing it). A replica on an empty directory, or on another
// store's directory, refuses readiness and says why.
func TestSharedBlobDir(t *testing.T) {
	pg := pgserver.ForTest(t)
	dbURL, err := pg.NewDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	shared := t.TempDir()
	var addrs []string
	for range 2 {
		addr, stop := startApp(t, sharedDirConfig(dbURL, shared, t.TempDir()))
		defer stop()
		addrs = append(addrs, addr)
	}
	data := bytes.Repeat([]byte("shared directory "), 400_000)
	d := pushChunked(t, addrs, "nfs/test", data, 1<<20, 1, 3<<20, 10)
	for _, addr := range addrs {
		if res, b := do(t, "GET", "http://"+addr+"/v2/nfs/test/blobs/"+d.String(), nil); res.StatusCode != 200 || !bytes.Equal(b, data) {
			t.Fatalf("GET via %s = %s, %d bytes", addr, res.Status, len(b))
		}
		if res, b := do(t, "GET", "http://"+addr+"/readyz", nil); res.StatusCode != 200 {
			t.Fatalf("/readyz via %s = %s %s", addr, res.Status, b)
		}
	}

	inFlight := filepath.Join(shared, "uploads", blob.NewUploadID())
	if err := os.WriteFile(inFlight, []byte("a monolithic upload on another replica"), 0o640); err != nil {
		t.Fatal(err)
	}
	addr, stop := startApp(t, sharedDirConfig(dbURL, shared, t.TempDir()))
	defer stop()
	if res, b := do(t, "GET", "http://"+addr+"/readyz", nil); res.StatusCode != 200 {
		t.Fatalf("/readyz of a third replica = %s %s", res.Status, b)
	}
	if _, err := os.Stat(inFlight); err != nil {
		t.Fatalf("a starting replica removed another's upload in flight: %v", err)
	}

	for name, c := range map[string]struct {
		dir  func() string
		want string
	}{
		"empty": {func() string { return t.TempDir() }, "is empty, but the database records blobs"},
		"foreign": {func() string {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "berth-store-id"), []byte("another-store\n"), 0o640); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "has mounted another filesystem than the other replicas"},
	} {
		addr, stop := startApp(t, sharedDirConfig(dbURL, c.dir(), t.TempDir()))
		res, b := do(t, "GET", "http://"+addr+"/readyz", nil)
		if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), c.want) {
			t.Errorf("%s directory: /readyz = %s %q, want 503 saying %q", name, res.Status, b, c.want)
		}
		stop()
	}

	// The shared directory unmounted under a running replica: not ready.
	marker := filepath.Join(shared, "berth-store-id")
	if err := os.Rename(marker, marker+".away"); err != nil {
		t.Fatal(err)
	}
	res, b := do(t, "GET", "http://"+addrs[0]+"/readyz", nil)
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "not mounted") {
		t.Errorf("/readyz without the marker = %s %q", res.Status, b)
	}
	if err := os.Rename(marker+".away", marker); err != nil {
		t.Fatal(err)
	}
	if res, b := do(t, "GET", "http://"+addrs[0]+"/readyz", nil); res.StatusCode != 200 {
		t.Errorf("/readyz with the marker back = %s %s", res.Status, b)
	}
}
