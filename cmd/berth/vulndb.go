package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// vulndbCmd is `berth vulndb import FILE`: the air-gapped way to give
// berth a vulnerability database. FILE is Aqua's db.tar.gz (the layer of
// mirror.gcr.io/aquasec/trivy-db:2, as oras pull writes it). It is
// validated here (schema 2, opens, sanity counts), then pushed to a
// running berth as the OCI artifact Aqua publishes, at --vulndb-ref;
// berth validates it again and swaps it in within seconds.
func vulndbCmd(c *cli, cmd *command, args []string) int {
	fs := quiet(flag.NewFlagSet("berth vulndb", flag.ContinueOnError))
	target := fs.String("url", strings.TrimSuffix(healthURL(os.Getenv("BERTH_ADDR")), "/readyz"), "URL of the running berth")
	ref := fs.String("vulndb-ref", envOr("BERTH_VULNDB_REF", "berth-system/trivy-db:2"), "REPO:TAG the database is pushed to (berth serve's --vulndb-ref)")
	user := fs.String("username", envOr("BERTH_USERNAME", "admin"), "user pushing it (a system administrator or a developer of the project); the password is read from BERTH_PASSWORD")
	if len(args) > 0 && args[0] == "import" {
		args = args[1:]
	} else if len(args) == 0 || (args[0] != "--help" && args[0] != "-h") {
		return c.fail("berth vulndb", "want: berth vulndb import [flags] FILE", "", "berth vulndb --help")
	}
	if st, ok := c.parse(cmd, fs, args, 1); !ok {
		return st
	}
	if fs.NArg() != 1 {
		return c.fail("berth vulndb", "want: berth vulndb import [flags] FILE", "", "berth vulndb --help")
	}
	file := fs.Arg(0)
	layer, err := os.ReadFile(file)
	if err == nil {
		err = validateDB(layer)
	}
	if err == nil {
		err = pushDB(*target, *ref, *user, os.Getenv("BERTH_PASSWORD"), layer)
	}
	if err != nil {
		fmt.Fprintln(c.stderr, "berth vulndb import:", err)
		return 1
	}
	fmt.Fprintf(c.stdout, "pushed %s to %s; berth swaps it in within seconds\n", file, *ref)
	return 0
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// validateDB checks the layer as berth will before pushing it.
func validateDB(layer []byte) error {
	dir, err := os.MkdirTemp("", "berth-vulndb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := vulndb.Extract(bytes.NewReader(layer), dir); err != nil {
		return err
	}
	db, err := vulndb.Open(dir, "")
	if err != nil {
		return err
	}
	defer db.Close()
	return nil
}

// pushDB pushes the layer, an empty config and Aqua's manifest with
// HTTP Basic authentication.
func pushDB(base, ref, user, password string, layer []byte) error {
	i := strings.LastIndexByte(ref, ':')
	if i < 0 {
		return fmt.Errorf("vulndb-ref %q: want REPO:TAG", ref)
	}
	repo, tag := ref[:i], ref[i+1:]
	hc := &http.Client{Timeout: 10 * time.Minute}
	do := func(method, u, ctype string, body []byte) (*http.Response, error) {
		req, err := http.NewRequest(method, u, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.SetBasicAuth(user, password)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		res, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		if res.StatusCode >= 300 {
			b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
			res.Body.Close()
			return nil, fmt.Errorf("%s %s: %s %s", method, u, res.Status, strings.TrimSpace(string(b)))
		}
		return res, nil
	}
	blob := func(b []byte) (string, error) {
		sum := sha256.Sum256(b)
		d := "sha256:" + hex.EncodeToString(sum[:])
		res, err := do(http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", "", nil)
		if err != nil {
			return "", err
		}
		res.Body.Close()
		loc, err := res.Location()
		if err != nil {
			return "", err
		}
		q := loc.Query()
		q.Set("digest", d)
		loc.RawQuery = q.Encode()
		res, err = do(http.MethodPut, loc.String(), "application/octet-stream", b)
		if err != nil {
			return "", err
		}
		res.Body.Close()
		return d, nil
	}
	cfg := []byte("{}")
	cd, err := blob(cfg)
	if err != nil {
		return err
	}
	ld, err := blob(layer)
	if err != nil {
		return err
	}
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": vulndb.ConfigMediaType, "digest": cd, "size": len(cfg)},
		"layers": []map[string]any{{"mediaType": vulndb.LayerMediaType, "digest": ld, "size": len(layer),
			"annotations": map[string]string{"org.opencontainers.image.title": "db.tar.gz"}}}})
	res, err := do(http.MethodPut, base+"/v2/"+repo+"/manifests/"+url.PathEscape(tag), "application/vnd.oci.image.manifest.v1+json", m)
	if err != nil {
		return err
	}
	return res.Body.Close()
}
