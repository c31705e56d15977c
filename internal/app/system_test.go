package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/meta/sqlstore"
)

// TestReadOnlyMode: read_only stored in the database applies from the
// start: pushes are refused with 403 DENIED, pulls work; switching it off
// through the API lets pushes in again at once.
func TestReadOnlyMode(t *testing.T) {
	base := authServer(t, nil)
	man := seedImage(t, base, "library/app")
	admin := &creds{"admin", adminPassword}
	setRO := func(on bool) {
		t.Helper()
		body, _ := json.Marshal(map[string]bool{"read_only": on})
		if st, _, b := call(t, "PUT", base+"/api/v2.0/configurations", admin, "", body); st != 200 {
			t.Fatalf("PUT configurations: %d %s", st, b)
		}
	}
	setRO(true)
	st, _, body := call(t, "PUT", base+"/v2/library/app/manifests/v2", admin, "", man, "Content-Type", manifestType)
	if st != 403 || !strings.Contains(string(body), `"code":"DENIED"`) {
		t.Fatalf("push in read-only mode: %d %s", st, body)
	}
	if st, _, body := call(t, "POST", base+"/api/v2.0/projects", admin, "", []byte(`{"project_name":"dev"}`)); st != 403 {
		t.Fatalf("API write in read-only mode: %d %s", st, body)
	}
	if st, _, _ := call(t, "GET", base+"/v2/library/app/manifests/base", nil, "", nil); st != 200 {
		t.Fatalf("anonymous pull from the public library in read-only mode: %d", st)
	}
	setRO(false)
	if st, _, body := call(t, "PUT", base+"/v2/library/app/manifests/v2", admin, "", man, "Content-Type", manifestType); st != 201 {
		t.Fatalf("push after read-only mode: %d %s", st, body)
	}
}

// TestSettingsReadAtStart: settings stored before berth starts (by
// another replica) apply from the first request.
func TestSettingsReadAtStart(t *testing.T) {
	base := authServer(t, func(ctx context.Context, s *sqlstore.Store) {
		if err := s.PutSettings(ctx, map[string]string{"read_only": "true", "banner_message": `"hello"`}); err != nil {
			t.Fatal(err)
		}
	})
	admin := &creds{"admin", adminPassword}
	seedBlob := []byte("x")
	st, _, body := call(t, "POST", base+"/v2/library/app/blobs/uploads/", admin, "", seedBlob)
	if st != 403 || !strings.Contains(string(body), "read only mode") {
		t.Fatalf("upload with read_only stored: %d %s", st, body)
	}
	st, _, body = call(t, "GET", base+"/api/v2.0/systeminfo", admin, "", nil)
	var info struct {
		ReadOnly        bool   `json:"read_only"`
		Banner          string `json:"banner_message"`
		StorageProvider string `json:"registry_storage_provider_name"`
	}
	if st != 200 || json.Unmarshal(body, &info) != nil || !info.ReadOnly || info.Banner != "hello" || info.StorageProvider != "filesystem" {
		t.Fatalf("systeminfo: %d %s", st, body)
	}
	st, _, body = call(t, "GET", base+"/api/v2.0/systeminfo/volumes", admin, "", nil)
	var vol struct {
		Storage []struct{ Total, Free uint64 }
	}
	if st != 200 || json.Unmarshal(body, &vol) != nil || len(vol.Storage) != 1 || vol.Storage[0].Total == 0 {
		t.Fatalf("volumes: %d %s", st, body)
	}
	if st, _, _ := call(t, "GET", base+"/api/v2.0/systeminfo/getcert", nil, "", nil); st != 404 {
		t.Fatalf("getcert over plain HTTP: %d", st)
	}
}

// TestGetCertOverTLS: served with a certificate chain that includes its
// CA, berth hands out that CA, and a client that trusts only it connects.
func TestGetCertOverTLS(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "chain.pem"), filepath.Join(dir, "key.pem")
	leaf, key := ca.issue(t, 7)
	writeFile(t, certFile, slices.Concat(leaf, ca.pem))
	writeFile(t, keyFile, key)
	base := authServerWith(t, nil, func(cfg *config.Config) { cfg.TLSCert, cfg.TLSKey = certFile, keyFile })
	base = "https://" + strings.TrimPrefix(base, "http://")

	insecure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := insecure.Get(base + "/api/v2.0/systeminfo/getcert")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(got, ca.pem) || res.Header.Get("Content-Disposition") != "attachment; filename=ca.crt" {
		t.Fatalf("getcert: %d %v %s", res.StatusCode, res.Header, got)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(got) {
		t.Fatal("getcert: no certificate")
	}
	trusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err = trusting.Get(base + "/api/v2.0/ping")
	if err != nil {
		t.Fatalf("a client trusting the downloaded CA: %v", err)
	}
	res.Body.Close()
}
