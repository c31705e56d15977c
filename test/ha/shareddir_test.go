package ha

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/test/berthproc"
)

// refusesEmptyDir starts one more replica on the cluster's database but
// on an empty blob directory (a shared filesystem that failed to mount):
// it must not become ready, and /readyz must say why.
func refusesEmptyDir(t *testing.T, c *cluster) {
	t.Helper()
	flags := slices.Clone(c.flags)
	flags[slices.Index(flags, "--blob-dir")+1] = t.TempDir()
	s := berthproc.StartEnv(t, t.TempDir(), c.env, flags...)
	defer s.Kill()
	res, err := http.Get("http://" + s.Addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	const want = "is empty, but the database records blobs"
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), want) {
		t.Errorf("a replica on an empty blob directory: /readyz = %s %q, want 503 saying %q", res.Status, b, want)
		return
	}
	t.Logf("a replica on an empty blob directory: /readyz %s: %s", res.Status, strings.TrimSpace(string(b)))
}
