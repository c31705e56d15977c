package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

func TestBlobHeadersAndRanges(t *testing.T) {
	e := newEnv(t, Options{})
	content := []byte(strings.Repeat("0123456789", 50))
	d := e.pushBlob("r", content)
	h := e.do("HEAD", "/v2/r/blobs/"+string(d), nil)
	if h.status != 200 || h.header.Get("Content-Length") != "500" || h.header.Get("Docker-Content-Digest") != string(d) ||
		h.header.Get("ETag") != `"`+string(d)+`"` || len(h.body) != 0 {
		t.Fatalf("HEAD: %d %v", h.status, h.header)
	}
	r := e.do("GET", "/v2/r/blobs/"+string(d), nil, "Range", "bytes=10-19")
	if r.status != 206 || string(r.body) != "0123456789" || r.header.Get("Content-Range") != "bytes 10-19/500" {
		t.Fatalf("range: %d %q %v", r.status, r.body, r.header)
	}
	if r := e.do("GET", "/v2/r/blobs/"+string(d), nil, "Range", "bytes=600-700"); r.status != 416 {
		t.Fatalf("unsatisfiable range: %d", r.status)
	}
	if r := e.do("GET", "/v2/r/blobs/"+string(d), nil, "If-None-Match", `"`+string(d)+`"`); r.status != 304 {
		t.Fatalf("If-None-Match: %d", r.status)
	}
}

func TestManifestRoundTrip(t *testing.T) {
	e := newEnv(t, Options{})
	md, man := e.pushImage("a/b/c", "v1", []byte("layer"))
	for _, ref := range []string{"v1", string(md)} {
		r := e.do("GET", "/v2/a/b/c/manifests/"+ref, nil)
		if r.status != 200 || !bytes.Equal(r.body, man) || r.header.Get("Docker-Content-Digest") != string(md) ||
			r.header.Get("Content-Length") != strconv.Itoa(len(man)) {
			t.Fatalf("GET %s: %d %v", ref, r.status, r.header)
		}
		h := e.do("HEAD", "/v2/a/b/c/manifests/"+ref, nil)
		if h.status != 200 || h.header.Get("Content-Length") != strconv.Itoa(len(man)) || len(h.body) != 0 {
			t.Fatalf("HEAD %s: %d %v", ref, h.status, h.header)
		}
	}
	if r := e.do("GET", "/v2/a/b/c/manifests/v1", nil, "If-None-Match", `"`+string(md)+`"`); r.status != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", r.status)
	}
	// Delete the tag, then the manifest.
	e.expect(e.do("DELETE", "/v2/a/b/c/manifests/v1", nil), 202, "")
	e.expect(e.do("GET", "/v2/a/b/c/manifests/v1", nil), 404, "MANIFEST_UNKNOWN")
	e.expect(e.do("GET", "/v2/a/b/c/manifests/"+string(md), nil), 200, "")
	e.expect(e.do("DELETE", "/v2/a/b/c/manifests/"+string(md), nil), 202, "")
	e.expect(e.do("GET", "/v2/a/b/c/manifests/"+string(md), nil), 404, "MANIFEST_UNKNOWN")
}

func TestReferrers(t *testing.T) {
	e := newEnv(t, Options{})
	subject := digest.FromString("a subject pushed later")
	empty := e.pushBlob("r", []byte("{}"))
	for i, at := range []string{"application/x.sig", "application/x.sbom"} {
		man := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":%q,`+
			`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":%q,"size":2},"layers":[],`+
			`"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":10},`+
			`"annotations":{"n":"%d"}}`, at, empty, subject, i)
		r := e.do("PUT", "/v2/r/manifests/"+string(digest.FromString(man)), strings.NewReader(man),
			"Content-Type", "application/vnd.oci.image.manifest.v1+json")
		e.expect(r, 201, "")
		if r.header.Get("OCI-Subject") != string(subject) {
			t.Fatalf("OCI-Subject = %q", r.header.Get("OCI-Subject"))
		}
	}
	var idx struct {
		MediaType string
		Manifests []struct {
			ArtifactType string
			Annotations  map[string]string
		}
	}
	r := e.do("GET", "/v2/r/referrers/"+string(subject), nil)
	mustUnmarshal(t, r.body, &idx)
	if len(idx.Manifests) != 2 || r.header.Get("Content-Type") != "application/vnd.oci.image.index.v1+json" {
		t.Fatalf("referrers: %s", r.body)
	}
	r = e.do("GET", "/v2/r/referrers/"+string(subject)+"?artifactType=application/x.sbom", nil)
	mustUnmarshal(t, r.body, &idx)
	if len(idx.Manifests) != 1 || idx.Manifests[0].ArtifactType != "application/x.sbom" || idx.Manifests[0].Annotations["n"] != "1" ||
		r.header.Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("filtered referrers: %s %v", r.body, r.header)
	}
	// Paged: n=1 gives one referrer and a Link to the other, which keeps
	// the artifactType filter when there is one.
	r = e.do("GET", "/v2/r/referrers/"+string(subject)+"?n=1", nil)
	mustUnmarshal(t, r.body, &idx)
	link := r.header.Get("Link")
	if len(idx.Manifests) != 1 || !strings.HasPrefix(link, "</v2/r/referrers/"+string(subject)+"?") || !strings.HasSuffix(link, `>; rel="next"`) {
		t.Fatalf("first page: %s Link %q", r.body, link)
	}
	first := idx.Manifests[0].Annotations["n"]
	r = e.do("GET", strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`), nil)
	mustUnmarshal(t, r.body, &idx)
	if len(idx.Manifests) != 1 || idx.Manifests[0].Annotations["n"] == first || r.header.Get("Link") != "" {
		t.Fatalf("second page: %s Link %q", r.body, r.header.Get("Link"))
	}
	r = e.do("GET", "/v2/unknown/referrers/"+string(subject), nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"manifests":[]`) {
		t.Fatalf("empty referrers: %d %s", r.status, r.body)
	}
}

func TestMount(t *testing.T) {
	e := newEnv(t, Options{})
	d := e.pushBlob("src", []byte("shared layer"))
	r := e.do("POST", "/v2/dst/blobs/uploads/?mount="+string(d)+"&from=src", nil)
	e.expect(r, 201, "")
	if r.header.Get("Location") != "/v2/dst/blobs/"+string(d) {
		t.Fatalf("Location = %q", r.header.Get("Location"))
	}
	e.expect(e.do("POST", "/v2/dst2/blobs/uploads/?mount="+string(d), nil), 201, "")
	// A mount from a repository that lacks the blob starts a session.
	r = e.do("POST", "/v2/dst3/blobs/uploads/?mount="+string(d)+"&from=empty", nil)
	e.expect(r, 202, "")
	if !strings.HasPrefix(r.header.Get("Location"), "/v2/dst3/blobs/uploads/") {
		t.Fatalf("Location = %q", r.header.Get("Location"))
	}
}

// FuzzBlobRange sends arbitrary Range headers at a stored blob: the answer is
// always 200, 206 or 416, and a 206 body is exactly the range it claims.
func FuzzBlobRange(f *testing.F) {
	e := newEnv(f, Options{})
	content := []byte(strings.Repeat("abcdefghij", 10))
	d := e.pushBlob("r", content)
	for _, s := range []string{"bytes=0-9", "bytes=-5", "bytes=90-", "bytes=5-1", "bytes=0-1,3-4", "bytes=999-", "garbage"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rng string) {
		req, err := http.NewRequest("GET", e.srv.URL+"/v2/r/blobs/"+string(d), nil)
		if err != nil {
			return
		}
		req.Header["Range"] = []string{rng}
		res, err := e.srv.Client().Do(req)
		if err != nil && strings.Contains(err.Error(), "invalid header field value") {
			return // the client refuses to send it; nothing reaches the server
		}
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body bytes.Buffer
		_, _ = body.ReadFrom(res.Body)
		switch res.StatusCode {
		case 200:
			if !bytes.Equal(body.Bytes(), content) {
				t.Fatal("200 with wrong body")
			}
		case 206:
			var start, end, total int
			if _, err := fmt.Sscanf(res.Header.Get("Content-Range"), "bytes %d-%d/%d", &start, &end, &total); err == nil {
				if !bytes.Equal(body.Bytes(), content[start:end+1]) {
					t.Fatalf("206 body does not match %s", res.Header.Get("Content-Range"))
				}
			}
		case 416:
		default:
			t.Fatalf("Range %q: status %d", rng, res.StatusCode)
		}
	})
}
