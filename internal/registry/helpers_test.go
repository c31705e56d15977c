package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/opencontainers/go-digest"

	blobfs "github.com/berth-registry/berth/internal/blob/fs"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
	"github.com/berth-registry/berth/internal/oci"
)

// testEnv is a registry on real embedded stores in a temp directory.
type testEnv struct {
	t    testing.TB
	dir  string
	reg  *Registry
	srv  *httptest.Server
	meta *sqlstore.Store
}

func newEnv(t testing.TB, opt Options) *testEnv {
	t.Helper()
	return openEnv(t, t.TempDir(), opt)
}

func openEnv(t testing.TB, dir string, opt Options) *testEnv {
	t.Helper()
	return openEnvWith(t, dir, opt, sqlstore.SQLiteOptions{})
}

func openEnvWith(t testing.TB, dir string, opt Options, sqlOpt sqlstore.SQLiteOptions) *testEnv {
	t.Helper()
	m, err := sqlstore.OpenSQLiteWith(context.Background(), filepath.Join(dir, "meta.db"), sqlOpt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := blobfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	opt.DeleteEnabled = true
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := &testEnv{t: t, dir: dir, reg: New(m, b, opt), meta: m}
	e.srv = httptest.NewServer(e.reg)
	t.Cleanup(e.close)
	return e
}

func (e *testEnv) close() {
	if e.srv != nil {
		e.srv.Close()
		e.meta.Close()
		e.srv = nil
	}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) code() string {
	var eb errorBody
	if json.Unmarshal(r.body, &eb) != nil || len(eb.Errors) == 0 {
		return ""
	}
	return eb.Errors[0].Code
}

func (e *testEnv) do(method, path string, body io.Reader, hdr ...string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if b, ok := body.(*bytes.Reader); ok {
		req.ContentLength = int64(b.Len())
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, b}
}

func (e *testEnv) expect(r resp, status int, code string) {
	e.t.Helper()
	if r.status != status || r.code() != code {
		e.t.Fatalf("got %d %s (%s), want %d %s", r.status, r.code(), r.body, status, code)
	}
	if code != "" && r.header.Get("Content-Type") != "application/json" {
		e.t.Fatalf("error without JSON content type: %v", r.header)
	}
}

// pushBlob uploads content monolithically and returns its digest.
func (e *testEnv) pushBlob(repo string, content []byte) digest.Digest {
	e.t.Helper()
	d := digest.FromBytes(content)
	r := e.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+string(d), bytes.NewReader(content))
	e.expect(r, http.StatusCreated, "")
	return d
}

// pushImage pushes a config and one layer and an image manifest under tag.
func (e *testEnv) pushImage(repo, tag string, layer []byte) (digest.Digest, []byte) {
	e.t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	cd, ld := e.pushBlob(repo, cfg), e.pushBlob(repo, layer)
	man := imageManifest(cd, int64(len(cfg)), ld, int64(len(layer)))
	r := e.do("PUT", "/v2/"+repo+"/manifests/"+tag, bytes.NewReader(man), "Content-Type", oci.MediaTypeImageManifest)
	e.expect(r, http.StatusCreated, "")
	return digest.FromBytes(man), man
}

func imageManifest(cd digest.Digest, cs int64, ld digest.Digest, ls int64) []byte {
	return []byte(`{"schemaVersion":2,"mediaType":"` + oci.MediaTypeImageManifest + `",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + string(cd) + `","size":` + itoa(cs) + `},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + string(ld) + `","size":` + itoa(ls) + `}]}`)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// uploadFiles lists the names under uploads/.
func (e *testEnv) uploadFiles() []string {
	entries, err := os.ReadDir(filepath.Join(e.dir, "uploads"))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		out = append(out, en.Name())
	}
	return out
}
