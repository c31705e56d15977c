package ha

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// The media types of the images the clients push.
const (
	mtManifest = oci.MediaTypeImageManifest
	mtConfig   = "application/vnd.oci.image.config.v1+json"
	mtLayer    = "application/vnd.oci.image.layer.v1.tar"
)

// record is one client request as the test saw it.
type record struct {
	start, end time.Time
	op         string // METHOD path-kind
	status     int    // 0: no response
	failed     bool   // no response, or not the expected status
	upstream   string // X-Upstream: the replica(s) nginx used
	err        string
}

// recorder keeps every client request, for the figures.
type recorder struct {
	mu    sync.Mutex
	recs  []record
	s3Get atomic.Int64 // blob GETs redirected to S3 and fetched there
}

func (r *recorder) add(rec record) {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
}

func (r *recorder) all() []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]record(nil), r.recs...)
}

// errUnavailable wraps failures a dying replica explains: no response, or
// a 5xx from nginx or berth. Anything else is a wrong answer.
var errUnavailable = errors.New("unavailable")

// client talks to a registry (nginx or one replica) with a bearer token,
// records every request, and fetches redirected blobs from S3 itself (so
// the token is never sent there).
type client struct {
	base  string
	token string
	rec   *recorder
	hc    *http.Client
	s3    *http.Client
}

func newClient(base, token string, rec *recorder) *client {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   128,
		ResponseHeaderTimeout: 20 * time.Second,
		DisableCompression:    true,
	}
	return &client{
		base: base, token: token, rec: rec,
		hc: &http.Client{Transport: tr, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		s3: &http.Client{Transport: tr, Timeout: 30 * time.Second},
	}
}

// on returns a client of the same kind for another base URL.
func (c *client) on(base string) *client {
	cc := *c
	cc.base = base
	return &cc
}

// wantBlob as want accepts a blob GET's answers: 200, or 307 to S3.
const wantBlob = -1

// do sends one request to base+path and reads the whole answer. A status
// other than want is an error (errUnavailable for 5xx).
func (c *client) do(method, path string, body []byte, want int, hdr ...string) (*http.Response, []byte, error) {
	u := path
	if !strings.HasPrefix(path, "http") {
		u = c.base + path
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	rec := record{start: time.Now(), op: method + " " + opKind(req.URL.Path)}
	res, err := c.hc.Do(req)
	var b []byte
	if err == nil {
		b, err = io.ReadAll(res.Body)
		res.Body.Close()
		rec.status, rec.upstream = res.StatusCode, res.Header.Get("X-Upstream")
	}
	rec.end = time.Now()
	switch {
	case err != nil:
		err = fmt.Errorf("%s %s: %w: %v", method, req.URL.Path, errUnavailable, err)
	case res.StatusCode >= 500:
		err = fmt.Errorf("%s %s: %w: %s %s", method, req.URL.Path, errUnavailable, res.Status, bytes.TrimSpace(b))
	case res.StatusCode != want && !(want == wantBlob && (res.StatusCode == 200 || res.StatusCode == 307)):
		err = fmt.Errorf("%s %s: %s, want %d: %s", method, req.URL.Path, res.Status, want, bytes.TrimSpace(b))
	}
	if err != nil {
		rec.failed, rec.err = true, err.Error()
	}
	c.rec.add(rec)
	return res, b, err
}

// opKind names the kind of registry path, for the figures.
func opKind(p string) string {
	for _, k := range []string{"/blobs/uploads/", "/blobs/", "/manifests/"} {
		if strings.Contains(p, k) {
			return strings.Trim(k, "/")
		}
	}
	return p
}

// login gets a token for scopes from the token service at c.base with
// the administrator's password.
func (c *client) login(scopes ...string) (string, error) {
	q := url.Values{"service": {"berth"}, "scope": scopes}
	req, err := http.NewRequest(http.MethodGet, c.base+"/service/token?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth("admin", adminPassword)
	res, err := c.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var tok struct{ Token string }
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != http.StatusOK || tok.Token == "" {
		return "", fmt.Errorf("GET /service/token: %s (%v)", res.Status, err)
	}
	return tok.Token, nil
}

// image is a pushed image: what an acknowledged push promises.
type image struct {
	repo, tag string
	manifest  digest.Digest
	blobs     []digest.Digest // config, then layers
}

// newBlobs makes a unique config and 1-2 small random layers.
func newBlobs(rnd *rand.Rand, id string) (config []byte, layers [][]byte) {
	for range 1 + rnd.IntN(2) {
		l := make([]byte, 1024+rnd.IntN(31*1024))
		for i := range l {
			l[i] = byte(rnd.Uint32())
		}
		layers = append(layers, l)
	}
	config, _ = json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "id": id,
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{}}})
	return config, layers
}

// manifestOf is the image manifest of config and layers.
func manifestOf(config []byte, layers [][]byte) []byte {
	desc := func(mt string, b []byte) map[string]any {
		return map[string]any{"mediaType": mt, "digest": digest.FromBytes(b), "size": len(b)}
	}
	var ls []any
	for _, l := range layers {
		ls = append(ls, desc(mtLayer, l))
	}
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mtManifest,
		"config": desc(mtConfig, config), "layers": ls})
	return m
}

// uploadMonolithic pushes a blob with one POST ?digest=.
func (c *client) uploadMonolithic(repo string, b []byte) error {
	d := digest.FromBytes(b)
	res, _, err := c.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), b, http.StatusCreated,
		"Content-Type", "application/octet-stream")
	if err == nil && res.Header.Get("Docker-Content-Digest") != d.String() {
		err = fmt.Errorf("POST blob %s: Docker-Content-Digest %q", d, res.Header.Get("Docker-Content-Digest"))
	}
	return err
}

// uploadPostPut pushes a blob with POST then PUT ?digest= (through nginx
// the two usually reach different replicas).
func (c *client) uploadPostPut(repo string, b []byte) error {
	res, _, err := c.do("POST", "/v2/"+repo+"/blobs/uploads/", nil, http.StatusAccepted)
	if err != nil {
		return err
	}
	d := digest.FromBytes(b)
	res, _, err = c.do("PUT", withDigest(res.Header.Get("Location"), d), b, http.StatusCreated,
		"Content-Type", "application/octet-stream")
	if err == nil && res.Header.Get("Docker-Content-Digest") != d.String() {
		err = fmt.Errorf("PUT blob %s: Docker-Content-Digest %q", d, res.Header.Get("Docker-Content-Digest"))
	}
	return err
}

// withDigest adds digest=d to an upload Location.
func withDigest(loc string, d digest.Digest) string {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return loc + sep + "digest=" + url.QueryEscape(d.String())
}

// putManifest pushes the manifest of config and layers under tag; the
// image is acknowledged when this returns nil.
func (c *client) putManifest(repo, tag string, config []byte, layers [][]byte) (image, error) {
	m := manifestOf(config, layers)
	md := digest.FromBytes(m)
	res, _, err := c.do("PUT", "/v2/"+repo+"/manifests/"+tag, m, http.StatusCreated, "Content-Type", mtManifest)
	if err != nil {
		return image{}, err
	}
	if got := res.Header.Get("Docker-Content-Digest"); got != md.String() {
		return image{}, fmt.Errorf("PUT manifest %s:%s: Docker-Content-Digest %q, want %s", repo, tag, got, md)
	}
	img := image{repo: repo, tag: tag, manifest: md, blobs: []digest.Digest{digest.FromBytes(config)}}
	for _, l := range layers {
		img.blobs = append(img.blobs, digest.FromBytes(l))
	}
	return img, nil
}

// push pushes a new image: the config monolithically, the layers with
// POST and PUT, then the manifest.
func (c *client) push(rnd *rand.Rand, repo, tag string) (image, error) {
	config, layers := newBlobs(rnd, repo+":"+tag)
	if err := c.uploadMonolithic(repo, config); err != nil {
		return image{}, err
	}
	for _, l := range layers {
		if err := c.uploadPostPut(repo, l); err != nil {
			return image{}, err
		}
	}
	return c.putManifest(repo, tag, config, layers)
}

// pull fetches img by tag and every blob it references, and checks every
// digest. Errors wrap errUnavailable when a replica or nginx failed to
// answer; any other error means the registry answered wrongly.
func (c *client) pull(img image) error {
	res, m, err := c.do("GET", "/v2/"+img.repo+"/manifests/"+img.tag, nil, http.StatusOK, "Accept", mtManifest)
	if err != nil {
		return err
	}
	if got := digest.FromBytes(m); got != img.manifest || res.Header.Get("Docker-Content-Digest") != img.manifest.String() {
		return fmt.Errorf("GET %s:%s: manifest %s (header %q), want %s", img.repo, img.tag, got,
			res.Header.Get("Docker-Content-Digest"), img.manifest)
	}
	for _, d := range img.blobs {
		if err := c.getBlob(img.repo, d); err != nil {
			return err
		}
	}
	return nil
}

// getBlob fetches a blob, following berth's redirect to S3 without the
// token, and verifies its digest.
func (c *client) getBlob(repo string, d digest.Digest) error {
	res, b, err := c.do("GET", "/v2/"+repo+"/blobs/"+d.String(), nil, wantBlob)
	if err != nil {
		return err
	}
	if res.StatusCode == http.StatusTemporaryRedirect {
		c.rec.s3Get.Add(1)
		sr, err := c.s3.Get(res.Header.Get("Location"))
		if err != nil {
			return fmt.Errorf("GET blob %s from S3: %w: %v", d, errUnavailable, err)
		}
		b, err = io.ReadAll(sr.Body)
		sr.Body.Close()
		if err != nil || sr.StatusCode != http.StatusOK {
			return fmt.Errorf("GET blob %s from S3: %w: %s %v", d, errUnavailable, sr.Status, err)
		}
	}
	if got := digest.FromBytes(b); got != d {
		return fmt.Errorf("GET blob %s in %s: got %d bytes with digest %s", d, repo, len(b), got)
	}
	return nil
}
