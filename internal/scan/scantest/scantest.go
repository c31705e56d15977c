// Package scantest builds the offline fixtures of the scanning tests: a
// tiny Trivy DB v2 layer (made with bbolt, in Trivy's layout) and image
// layers holding package databases, with whiteouts.
package scantest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// DB describes a database fixture.
type DB struct {
	// Advisories: platform bucket → package → vulnerability id → advisory.
	Advisories      map[string]map[string]map[string]vulndb.Advisory
	Vulnerabilities map[string]vulndb.Vulnerability
	DataSources     map[string]vulndb.DataSource
	// RedHat: the "Red Hat" bucket, package → advisory id → the value as
	// trivy-db stores it (JSON text: {"Entries":[{"FixedVersion":…,
	// "Affected":[cpe indices],"Cves":[{"ID":…,"Severity":n}],…}]}),
	// written as given so that the fixture is Trivy's layout, not ours.
	RedHat map[string]map[string]string
	// RedHatRepositories and RedHatNVRs: the "Red Hat CPE" bucket's
	// "repository" and "nvr" sub-buckets (key → CPE indices);
	// RedHatCPEs its "cpe" sub-bucket (index → CPE name).
	RedHatRepositories map[string][]int
	RedHatNVRs         map[string][]int
	RedHatCPEs         []string
	Version            int // metadata.json Version; 0 means 2
	UpdatedAt          time.Time
}

// DBLayer returns the tar.gz layer Aqua publishes (trivy.db and
// metadata.json) for f.
func DBLayer(t testing.TB, f DB) []byte {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "trivy.db")
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	put := func(tx *bolt.Tx, bucket string, key string, v any) {
		bk, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(v)
		if err := bk.Put([]byte(key), j); err != nil {
			t.Fatal(err)
		}
	}
	err = b.Update(func(tx *bolt.Tx) error {
		for plat, pkgs := range f.Advisories {
			root, err := tx.CreateBucketIfNotExists([]byte(plat))
			if err != nil {
				return err
			}
			for pkg, advs := range pkgs {
				pb, err := root.CreateBucketIfNotExists([]byte(pkg))
				if err != nil {
					return err
				}
				for id, a := range advs {
					j, _ := json.Marshal(a)
					if err := pb.Put([]byte(id), j); err != nil {
						return err
					}
				}
			}
		}
		for id, v := range f.Vulnerabilities {
			put(tx, "vulnerability", id, v)
		}
		if err := putRedHat(tx, f); err != nil {
			return err
		}
		for plat, ds := range f.DataSources {
			put(tx, "data-source", plat, ds)
		}
		_, err := tx.CreateBucketIfNotExists([]byte("data-source"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	dbBytes, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version == 0 {
		f.Version = vulndb.SchemaVersion
	}
	if f.UpdatedAt.IsZero() {
		f.UpdatedAt = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	meta, _ := json.Marshal(vulndb.Metadata{Version: f.Version, UpdatedAt: f.UpdatedAt, NextUpdate: f.UpdatedAt.Add(24 * time.Hour)})
	return Layer(t, File{Path: "trivy.db", Body: dbBytes}, File{Path: "metadata.json", Body: meta})
}

// putRedHat writes the Red Hat buckets of f in trivy-db's layout
// (pkg/db/redhat_cpe.go, pkg/vulnsrc/redhat-oval).
func putRedHat(tx *bolt.Tx, f DB) error {
	if len(f.RedHat) > 0 {
		root, err := tx.CreateBucketIfNotExists([]byte("Red Hat"))
		if err != nil {
			return err
		}
		for pkg, advs := range f.RedHat {
			pb, err := root.CreateBucketIfNotExists([]byte(pkg))
			if err != nil {
				return err
			}
			for id, raw := range advs {
				if !json.Valid([]byte(raw)) {
					return fmt.Errorf("fixture: Red Hat advisory %s/%s: invalid JSON", pkg, id)
				}
				if err := pb.Put([]byte(id), []byte(raw)); err != nil {
					return err
				}
			}
		}
	}
	if len(f.RedHatRepositories)+len(f.RedHatNVRs)+len(f.RedHatCPEs) == 0 {
		return nil
	}
	root, err := tx.CreateBucketIfNotExists([]byte("Red Hat CPE"))
	if err != nil {
		return err
	}
	sub := func(name string, kv map[string]any) error {
		b, err := root.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		for k, v := range kv {
			j, _ := json.Marshal(v)
			if err := b.Put([]byte(k), j); err != nil {
				return err
			}
		}
		return nil
	}
	repos, nvrs, cpes := map[string]any{}, map[string]any{}, map[string]any{}
	for k, v := range f.RedHatRepositories {
		repos[k] = v
	}
	for k, v := range f.RedHatNVRs {
		nvrs[k] = v
	}
	for i, c := range f.RedHatCPEs {
		cpes[fmt.Sprint(i)] = c
	}
	if err := sub("repository", repos); err != nil {
		return err
	}
	if err := sub("nvr", nvrs); err != nil {
		return err
	}
	return sub("cpe", cpes)
}

// File is an entry of a fixture layer. Whiteout entries are files named
// .wh.NAME (or .wh..wh..opq) with no body.
type File struct {
	Path string
	Body []byte
	Mode int64 // 0: 0644
	Link string
}

// Layer returns a tar.gz layer of files.
func Layer(t testing.TB, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: f.Path, Mode: mode, Size: int64(len(f.Body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if f.Link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.Link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.Body); err != nil && f.Link == "" {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// GoBinary builds testdata/gobin (once per test process) and returns
// it: a static Go binary whose build information lists
// github.com/Masterminds/semver/v3 at the version of berth's go.mod.
func GoBinary(t testing.TB) []byte {
	t.Helper()
	gobinOnce.Do(func() {
		_, self, _, _ := runtime.Caller(0)
		dir, err := os.MkdirTemp("", "berth-gobin-")
		if err != nil {
			gobinErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "gobin")
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./testdata/gobin")
		cmd.Dir = filepath.Dir(self)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			gobinErr = fmt.Errorf("go build: %v: %s", err, b)
			return
		}
		gobin, gobinErr = os.ReadFile(out)
	})
	if gobinErr != nil {
		t.Fatal(gobinErr)
	}
	return gobin
}

var (
	gobinOnce sync.Once
	gobin     []byte
	gobinErr  error
)

// RPMDB returns an rpm database of go-rpmdb's own test data (never
// copied into berth's repository): "centos7-plain/Packages" (BerkeleyDB),
// "sle15-bci/Packages.db" (NDB), "fedora35/rpmdb.sqlite" (SQLite).
func RPMDB(t testing.TB, name string) []byte {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/knqyf263/go-rpmdb").Output()
	if err != nil {
		t.Fatalf("locating go-rpmdb: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "pkg", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
