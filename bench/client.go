package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"
)

// client speaks the distribution API directly, identically for every
// target, so client overhead is the same on both sides.
type client struct {
	base string
	http *http.Client
	// authorization, if set, is sent on every request (Basic or Bearer).
	authorization string
}

func newClient(base string, conns int) *client {
	tr := &http.Transport{
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		MaxConnsPerHost:     0,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	return &client{base: base, http: &http.Client{Transport: tr, Timeout: 5 * time.Minute}}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// do sends a request, drains the body into a discard sink and checks the
// status. It returns the response headers and the number of body bytes.
func (c *client) do(ctx context.Context, method, path string, body io.Reader, size int64, want int, hdr ...string) (http.Header, int64, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, 0, err
	}
	if body != nil {
		req.ContentLength = size
	}
	if c.authorization != "" {
		req.Header.Set("Authorization", c.authorization)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	n, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil {
		return nil, n, err
	}
	if res.StatusCode != want {
		return res.Header, n, fmt.Errorf("%s %s: status %d, want %d", method, path, res.StatusCode, want)
	}
	return res.Header, n, nil
}

// get returns a 200 response's headers and body.
func (c *client) get(ctx context.Context, path string) (http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+path, nil)
	if err != nil {
		return nil, nil, err
	}
	if c.authorization != "" {
		req.Header.Set("Authorization", c.authorization)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: status %d", path, res.StatusCode)
	}
	return res.Header, body, err
}

// startUpload opens an upload session and returns its location.
func (c *client) startUpload(ctx context.Context, repo string) (string, error) {
	h, _, err := c.do(ctx, "POST", "/v2/"+repo+"/blobs/uploads/", nil, 0, http.StatusAccepted)
	if err != nil {
		return "", err
	}
	return h.Get("Location"), nil
}

// relative turns an absolute Location (the reference registry sends them)
// into a path on c.base.
func (c *client) relative(loc string) string {
	if len(loc) > len(c.base) && loc[:len(c.base)] == c.base {
		return loc[len(c.base):]
	}
	return loc
}

func withDigest(loc string, d digest.Digest) string {
	sep := "?"
	for i := 0; i < len(loc); i++ {
		if loc[i] == '?' {
			sep = "&"
		}
	}
	return loc + sep + "digest=" + string(d)
}

// pushBlob uploads a blob with POST then a single PUT carrying the body,
// the monolithic form every registry supports.
func (c *client) pushBlob(ctx context.Context, repo string, b []byte) (digest.Digest, error) {
	d := digest.FromBytes(b)
	loc, err := c.startUpload(ctx, repo)
	if err != nil {
		return "", err
	}
	_, _, err = c.do(ctx, "PUT", withDigest(c.relative(loc), d), bytes.NewReader(b), int64(len(b)), http.StatusCreated,
		"Content-Type", "application/octet-stream")
	return d, err
}

// pushStreamed sends r as one streamed PATCH (chunked transfer encoding).
func (c *client) pushStreamed(ctx context.Context, repo string, r io.Reader, d digest.Digest) error {
	loc, err := c.startUpload(ctx, repo)
	if err != nil {
		return err
	}
	h, _, err := c.do(ctx, "PATCH", c.relative(loc), r, -1, http.StatusAccepted, "Content-Type", "application/octet-stream")
	if err != nil {
		return err
	}
	_, _, err = c.do(ctx, "PUT", withDigest(c.relative(h.Get("Location")), d), nil, 0, http.StatusCreated)
	return err
}

// pushChunked sends b in chunks of chunk bytes with Content-Range.
func (c *client) pushChunked(ctx context.Context, repo string, b []byte, chunk int) error {
	loc, err := c.startUpload(ctx, repo)
	if err != nil {
		return err
	}
	for off := 0; off < len(b); off += chunk {
		end := min(off+chunk, len(b))
		h, _, err := c.do(ctx, "PATCH", c.relative(loc), bytes.NewReader(b[off:end]), int64(end-off), http.StatusAccepted,
			"Content-Type", "application/octet-stream", "Content-Range", strconv.Itoa(off)+"-"+strconv.Itoa(end-1))
		if err != nil {
			return err
		}
		loc = h.Get("Location")
	}
	_, _, err = c.do(ctx, "PUT", withDigest(c.relative(loc), digest.FromBytes(b)), nil, 0, http.StatusCreated)
	return err
}

const mtManifest = "application/vnd.oci.image.manifest.v1+json"

// manifest builds an image manifest body; note makes it unique.
func manifest(cfg digest.Digest, cfgSize int, layers []digest.Digest, layerSize int, note string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[`,
		mtManifest, cfg, cfgSize)
	for i, l := range layers {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}`, l, layerSize)
	}
	fmt.Fprintf(&b, `],"annotations":{"bench":%q}}`, note)
	return b.Bytes()
}

func (c *client) putManifest(ctx context.Context, repo, ref string, body []byte) error {
	_, _, err := c.do(ctx, "PUT", "/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body), int64(len(body)), http.StatusCreated,
		"Content-Type", mtManifest)
	return err
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// image is a pushed image for pull workloads.
type image struct {
	repo, tag string
	manifest  digest.Digest
	config    digest.Digest
	layers    []digest.Digest
}

// pushImage pushes a config, nLayers random layers of layerSize and a
// manifest tagged tag.
func (c *client) pushImage(ctx context.Context, repo, tag string, nLayers, layerSize int) (image, error) {
	img := image{repo: repo, tag: tag}
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","bench":%q}`, tag))
	var err error
	if img.config, err = c.pushBlob(ctx, repo, cfg); err != nil {
		return img, err
	}
	for i := 0; i < nLayers; i++ {
		d, err := c.pushBlob(ctx, repo, randomBytes(layerSize))
		if err != nil {
			return img, err
		}
		img.layers = append(img.layers, d)
	}
	body := manifest(img.config, len(cfg), img.layers, layerSize, tag)
	img.manifest = digest.FromBytes(body)
	return img, c.putManifest(ctx, repo, tag, body)
}

// pullImage does what a container runtime does: HEAD the manifest by tag,
// GET it by digest, GET the config and every layer.
func (c *client) pullImage(ctx context.Context, img image) error {
	accept := []string{"Accept", mtManifest}
	if _, _, err := c.do(ctx, "HEAD", "/v2/"+img.repo+"/manifests/"+img.tag, nil, 0, 200, accept...); err != nil {
		return err
	}
	if _, _, err := c.do(ctx, "GET", "/v2/"+img.repo+"/manifests/"+string(img.manifest), nil, 0, 200, accept...); err != nil {
		return err
	}
	for _, d := range append([]digest.Digest{img.config}, img.layers...) {
		if _, _, err := c.do(ctx, "GET", "/v2/"+img.repo+"/blobs/"+string(d), nil, 0, 200); err != nil {
			return err
		}
	}
	return nil
}
