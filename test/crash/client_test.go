package crash

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

const (
	mtManifest = "application/vnd.oci.image.manifest.v1+json"
	mtConfig   = "application/vnd.oci.image.config.v1+json"
	mtLayer    = "application/vnd.oci.image.layer.v1.tar"
)

// newClient returns a client with bounded timeouts for one server process.
func newClient() *http.Client {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   32,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// statusError is a response with an unexpected status: never caused by a
// crash (a killed server answers nothing), so always worth reporting.
type statusError struct {
	op     string
	status int
	body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: unexpected status %d: %s", e.op, e.status, e.body)
}

func isStatusError(err error) bool {
	var se *statusError
	return errors.As(err, &se)
}

// do sends req and checks the status; the body is drained and closed.
func do(c *http.Client, req *http.Request, want int) (*http.Response, error) {
	op := req.Method + " " + req.URL.Path
	res, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 4096))
	if err != nil {
		return nil, fmt.Errorf("%s: reading response: %w", op, err)
	}
	if res.StatusCode != want {
		return nil, &statusError{op: op, status: res.StatusCode, body: strings.TrimSpace(string(body))}
	}
	return res, nil
}

// location resolves res's Location header against base.
func location(base string, res *http.Response) (string, error) {
	loc := res.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("%s %s: no Location header", res.Request.Method, res.Request.URL.Path)
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	l, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(l).String(), nil
}

// withQuery adds params to the query of URL u.
func withQuery(u string, params url.Values) (string, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	q := pu.Query()
	for k, vs := range params {
		q[k] = vs
	}
	pu.RawQuery = q.Encode()
	return pu.String(), nil
}

func checkCreated(res *http.Response, d digest.Digest) error {
	if got := res.Header.Get("Docker-Content-Digest"); got != string(d) {
		return fmt.Errorf("%s %s: Docker-Content-Digest %q, want %s", res.Request.Method, res.Request.URL.Path, got, d)
	}
	return nil
}

// pushMonolithic uploads a blob with a single POST ?digest=.
func pushMonolithic(c *http.Client, base, repo string, data []byte, d digest.Digest) error {
	req, err := http.NewRequest(http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/?digest="+string(d), bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := do(c, req, http.StatusCreated)
	if err != nil {
		return err
	}
	return checkCreated(res, d)
}

// chunkStyle says how a chunked upload sends its bytes.
type chunkStyle int

const (
	chunksThenEmptyPut chunkStyle = iota // PATCHes with Content-Range, then PUT without body
	chunksThenFinalPut                   // PATCHes, the last chunk in the PUT body
	streamedPatch                        // one PATCH with chunked transfer encoding, then PUT
	numChunkStyles
)

// session is the client's view of an upload session: its Location (as the
// server sent it, to be resolved against a restarted server too) and how
// many bytes the server has acknowledged.
type session struct {
	location string
	acked    int
}

// pushChunked uploads a blob with POST, PATCH... and PUT ?digest=, keeping
// s up to date. nextChunk returns the size of the next chunk (at least 1).
func pushChunked(c *http.Client, base, repo string, data []byte, d digest.Digest, style chunkStyle, nextChunk func() int, s *session) error {
	req, err := http.NewRequest(http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", nil)
	if err != nil {
		return err
	}
	res, err := do(c, req, http.StatusAccepted)
	if err != nil {
		return err
	}
	s.location = res.Header.Get("Location")
	loc, err := location(base, res)
	if err != nil {
		return err
	}
	var final []byte
	rest := data
	if style == chunksThenFinalPut && len(rest) > 0 {
		n := min(nextChunk(), len(rest))
		rest, final = rest[:len(rest)-n], rest[len(rest)-n:]
	}
	off := 0
	for len(rest) > 0 {
		n := len(rest)
		var body io.Reader = bytes.NewReader(rest)
		if style != streamedPatch {
			n = min(nextChunk(), len(rest))
			body = bytes.NewReader(rest[:n])
		}
		req, err := http.NewRequest(http.MethodPatch, loc, body)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		if style == streamedPatch {
			// Hide the length: the body goes out with chunked encoding.
			req.Body = io.NopCloser(body)
			req.ContentLength = -1
		} else {
			req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, off+n-1))
		}
		res, err := do(c, req, http.StatusAccepted)
		if err != nil {
			return err
		}
		if got, want := res.Header.Get("Range"), fmt.Sprintf("0-%d", off+n-1); got != want {
			return fmt.Errorf("PATCH %s: Range %q, want %q", req.URL.Path, got, want)
		}
		if loc, err = location(base, res); err != nil {
			return err
		}
		s.location = res.Header.Get("Location")
		off += n
		s.acked = off
		rest = rest[n:]
	}
	return finishUpload(c, loc, off, final, d)
}

// finishUpload PUTs ?digest= to the session at loc (an absolute URL) whose
// offset is off, with final (possibly empty) as the last chunk.
func finishUpload(c *http.Client, loc string, off int, final []byte, d digest.Digest) error {
	put, err := withQuery(loc, url.Values{"digest": {string(d)}})
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPut, put, bytes.NewReader(final))
	if err != nil {
		return err
	}
	if len(final) > 0 {
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, off+len(final)-1))
	}
	res, err := do(c, req, http.StatusCreated)
	if err != nil {
		return err
	}
	return checkCreated(res, d)
}

// resumeOutcome says how resuming an interrupted upload ended.
type resumeOutcome int

const (
	resumedUpload   resumeOutcome = iota // finished from the server's offset
	alreadyComplete                      // the kill only swallowed the final 201
)

// resumeChunked finishes, on a restarted server at base, an upload that the
// kill interrupted: ask the session's offset, which must lie between what
// was acknowledged and what was sent, send the rest, PUT ?digest=.
func resumeChunked(c *http.Client, base, repo string, data []byte, d digest.Digest, s *session) (resumeOutcome, error) {
	b, _ := url.Parse(base)
	l, err := url.Parse(s.location)
	if err != nil {
		return 0, err
	}
	loc := b.ResolveReference(l).String()
	res, err := c.Get(loc)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	switch res.StatusCode {
	case http.StatusNoContent:
	case http.StatusNotFound:
		// Sessions end only by committing the blob (in the same
		// transaction), so the blob must now be there.
		if err := verifyBlob(c, base, repo, d, int64(len(data))); err != nil {
			return 0, fmt.Errorf("upload session %s is gone but its blob is not there: %w", s.location, err)
		}
		return alreadyComplete, nil
	default:
		return 0, fmt.Errorf("GET %s: status %d", l.Path, res.StatusCode)
	}
	rng := res.Header.Get("Range")
	start, end, ok := strings.Cut(rng, "-")
	last, err := strconv.Atoi(end)
	if !ok || start != "0" || err != nil {
		return 0, fmt.Errorf("GET %s: malformed Range %q", l.Path, rng)
	}
	off := last + 1
	if last == 0 && s.acked == 0 && len(data) != 1 {
		// "0-0" says 0 or 1 bytes. A chunk is 1 byte only if it is the
		// last one, so unless the blob is 1 byte long this means 0.
		off = 0
	}
	if off < s.acked || off > len(data) {
		return 0, fmt.Errorf("session %s: offset %d after restart, but %d bytes were acknowledged and %d sent at most",
			l.Path, off, s.acked, len(data))
	}
	if loc, err = location(base, res); err != nil {
		return 0, err
	}
	if err := finishUpload(c, loc, off, data[off:], d); err != nil {
		return 0, err
	}
	return resumedUpload, verifyBlob(c, base, repo, d, int64(len(data)))
}

// putManifest PUTs a manifest under ref (a tag or digest) with extra ?tag=s.
func putManifest(c *http.Client, base, repo, ref string, body []byte, d digest.Digest, tags ...string) error {
	u := base + "/v2/" + repo + "/manifests/" + ref
	if len(tags) > 0 {
		u += "?" + url.Values{"tag": tags}.Encode()
	}
	req, err := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mtManifest)
	res, err := do(c, req, http.StatusCreated)
	if err != nil {
		return err
	}
	return checkCreated(res, d)
}

// getManifest fetches repo:ref. found is false on a 404.
func getManifest(c *http.Client, base, repo, ref string) (body []byte, d digest.Digest, found bool, err error) {
	req, err := http.NewRequest(http.MethodGet, base+"/v2/"+repo+"/manifests/"+ref, nil)
	if err != nil {
		return nil, "", false, err
	}
	req.Header.Set("Accept", mtManifest)
	res, err := c.Do(req)
	if err != nil {
		return nil, "", false, err
	}
	defer res.Body.Close()
	body, err = io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return nil, "", false, fmt.Errorf("GET manifest %s:%s: %w", repo, ref, err)
	}
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, "", false, nil
	default:
		return nil, "", false, fmt.Errorf("GET manifest %s:%s: status %d: %s", repo, ref, res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != mtManifest {
		return nil, "", false, fmt.Errorf("GET manifest %s:%s: Content-Type %q", repo, ref, ct)
	}
	if cl := res.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		return nil, "", false, fmt.Errorf("GET manifest %s:%s: Content-Length %q for %d bytes", repo, ref, cl, len(body))
	}
	return body, digest.Digest(res.Header.Get("Docker-Content-Digest")), true, nil
}

// verifyBlob GETs repo's blob d and checks its bytes and Content-Length.
func verifyBlob(c *http.Client, base, repo string, d digest.Digest, size int64) error {
	res, err := c.Get(base + "/v2/" + repo + "/blobs/" + string(d))
	if err != nil {
		return fmt.Errorf("GET blob %s@%s: %w", repo, d, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("GET blob %s@%s: status %d: %s", repo, d, res.StatusCode, b)
	}
	if cl := res.Header.Get("Content-Length"); cl != strconv.FormatInt(size, 10) {
		return fmt.Errorf("GET blob %s@%s: Content-Length %q, want %d", repo, d, cl, size)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(res.Body, size+1))
	if err != nil {
		return fmt.Errorf("GET blob %s@%s: reading: %w", repo, d, err)
	}
	if n != size {
		return fmt.Errorf("GET blob %s@%s: %d bytes, want %d", repo, d, n, size)
	}
	if got := digest.NewDigest(digest.SHA256, h); got != d {
		return fmt.Errorf("GET blob %s@%s: content hashes to %s", repo, d, got)
	}
	return nil
}

// listTags returns every tag of repo (one page is enough at this scale).
func listTags(c *http.Client, base, repo string) (map[string]bool, error) {
	res, err := c.Get(base + "/v2/" + repo + "/tags/list")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return map[string]bool{}, nil
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET tags of %s: status %d", repo, res.StatusCode)
	}
	if res.Header.Get("Link") != "" {
		return nil, fmt.Errorf("GET tags of %s: unexpected second page", repo)
	}
	var out struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("GET tags of %s: %w", repo, err)
	}
	m := make(map[string]bool, len(out.Tags))
	for _, t := range out.Tags {
		m[t] = true
	}
	return m, nil
}
